"""The training state of both players: one pytree of arrays."""

import dataclasses
import functools
from typing import Any, Mapping

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import players
from jaxgan.objective import as_objective

PyTree = Any


@flax.struct.dataclass
class GANState:
  """Everything that changes during training, and nothing else.

  Model definitions and optimizers are not here: the step factory closes over them,
  so the state is a single pytree of arrays (one checkpoint item, one sharding tree).

  Attributes:
    step: number of full alternating updates done (int32 scalar).
    g_params, d_params: the players' trainable parameters.
    g_state, d_state: the players' other variable collections (for example
      `{"batch_stats": ...}`); empty dicts for models without any.
    g_opt_state, d_opt_state: the players' optax states.
    g_ema: exponential moving average of `g_params`.
    rng: raw key data (uint32) of the state's PRNG key; see `GANState.key`.
    skipped: number of steps whose update was dropped for a non-finite value
      (`make_train_step(..., skip_nonfinite=True)`; int32 scalar).
    objective: the state of the objective's parts by name (`jaxgan.objective`: LeCam's EMAs
      under "lecam", ...); empty when no part keeps state.
  """
  step: jax.Array
  g_params: PyTree
  g_state: PyTree
  d_params: PyTree
  d_state: PyTree
  g_opt_state: PyTree
  d_opt_state: PyTree
  g_ema: PyTree
  rng: jax.Array
  skipped: jax.Array
  objective: PyTree = dataclasses.field(default_factory=dict)

  @property
  def key(self) -> jax.Array:
    """Returns the state's PRNG key as a typed key array."""
    return jax.random.wrap_key_data(self.rng)


def as_key(rng) -> jax.Array:
  """Returns a typed PRNG key from an int seed, a raw uint32 key or a typed key."""
  if isinstance(rng, int):
    return jax.random.key(rng)
  rng = jnp.asarray(rng) if not isinstance(rng, jax.Array) else rng
  if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
    return rng
  return jax.random.wrap_key_data(rng)


def real_inputs(batch) -> jax.Array:
  """Returns the real samples of a batch given as an array or a mapping with 'x'."""
  if isinstance(batch, Mapping):
    if "x" not in batch:
      raise ValueError(f"a batch mapping needs the key 'x'; got keys {sorted(batch)}")
    return batch["x"]
  return batch


def init_variables(module: nn.Module, rng, x) -> tuple[PyTree, PyTree]:
  """Returns `(params, other_collections)` of a linen `module` initialised on input `x`.

  A conditional module (`num_classes > 0`) is initialised with labels of zeros.
  """
  return players.LinenPlayer(module).init(rng, x)


def create_state(rng, generator, discriminator, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, sample_batch,
                 objective=None) -> GANState:
  """Returns a fresh `GANState` for the two players.

  Args:
    rng: PRNG key (typed or raw) or int seed; it initialises linen players (an NNX player
      brings the arrays it was constructed with).
    generator: a flax.linen or flax.nnx module with a `latent_dim` attribute, called as
      `generator(z_BZ[, y_B])` (linen: with `train=`); `y_B` when it has `num_classes > 0`.
    discriminator: a module called as `discriminator(x[, y_B])` (linen: with `train=`),
      returning one logit per sample (AC-GAN: a tuple of the logits and the class logits).
    g_tx, d_tx: the players' optimizers.
    sample_batch: the batch the step takes, `{"x": (k, B, ...)[, "y": (k, B)]}`, or one
      real minibatch as an array (B, ...); used only for its shape and dtype.
    objective: the objective the step will use (an `Objective`, a `Loss` or a loss's
      name), whose stateful parts (LeCam's EMAs, ...) start here; or the dict of that
      state itself. None: no state.
  """
  generator, discriminator = players.as_generator(generator), players.as_player(discriminator)
  x = one_minibatch(generator, real_inputs(sample_batch))
  if objective is None or isinstance(objective, dict):
    parts = dict(objective or {})
  else:
    parts = as_objective(objective).init()
  return _init_state(generator, discriminator, g_tx, d_tx, tuple(x.shape),
                     jnp.dtype(x.dtype), as_key(rng), parts)


def one_minibatch(generator, x):
  """Returns one real minibatch (B, ...) of `x`, given as the step takes it (k, B, ...) or as
  one minibatch; which it is, the generator's samples say (their rank plus the batch's)."""
  def sample():
    z = jnp.zeros((2, generator.latent_dim), jnp.float32)
    params, model_state = generator.init(jax.random.key(0), z)
    labels = jnp.zeros((2,), jnp.int32) if generator.num_classes else None
    return generator.apply(params, model_state, z, labels, False, rng=jax.random.key(1))[0]
  rank = jax.eval_shape(sample).ndim  # (B, ...) of one sample's rank + 1
  if x.ndim == rank + 1:
    return x[0]
  if x.ndim == rank:
    return x
  raise ValueError(f"a batch of shape {tuple(x.shape)} for a generator of samples of rank "
                   f"{rank - 1}: give the step's batch (k, B, ...) or one minibatch (B, ...)")


# One compiled program rather than op-by-op: XLA:CPU compiles each random draw of an eager
# init as its own program, so DCGAN-28's init is about twice as fast compiled (BUILD_NOTES.md);
# the values are the same bit for bit. The players, optimizers and input shape are static, so
# seeds share one compiled program.
@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _init_state(generator, discriminator, g_tx, d_tx, shape, dtype, key, parts) -> GANState:
  g_key, d_key, state_key = jax.random.split(key, 3)
  g_params, g_state = generator.init(g_key, jnp.zeros((shape[0], generator.latent_dim), dtype))
  d_params, d_state = discriminator.init(d_key, jnp.zeros(shape, dtype))
  return GANState(
      step=jnp.zeros((), jnp.int32),
      g_params=g_params,
      g_state=g_state,
      d_params=d_params,
      d_state=d_state,
      g_opt_state=g_tx.init(g_params),
      d_opt_state=d_tx.init(d_params),
      g_ema=jax.tree.map(jnp.copy, g_params),
      rng=jax.random.key_data(state_key),
      skipped=jnp.zeros((), jnp.int32),
      objective=parts,
  )
