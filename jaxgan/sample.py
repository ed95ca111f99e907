"""Drawing samples from the generator."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxgan.players import as_player
from jaxgan.state import GANState, as_key


def check_truncation(truncation: float | None) -> None:
  """Raises ValueError unless `truncation` is None (no truncation) or a threshold > 0."""
  if truncation is not None and not (isinstance(truncation, (int, float))
                                     and 0 < truncation < float("inf")):
    raise ValueError(f"--truncation={truncation}: the truncation trick's threshold on |z| must "
                     f"be a number > 0")


def make_sample_fn(generator, truncation: float | None = None):
  """Returns `sample(state, rng, n, labels=None, use_ema=True, z=None)` giving n samples.

  `truncation` t draws each element of z from the normal truncated to [−t, t] (a value beyond
  t redrawn until it falls inside: BigGAN's truncation trick, Brock et al. 2019 §3.1);
  None draws the plain normal.

  Samples come from the EMA of the generator's parameters unless `use_ema` is False,
  with the generator in inference mode (running statistics, no mutation). `rng` is a
  PRNG key or an int seed; the generation itself is one compiled program per (n, use_ema).
  `generator` is a flax.linen or flax.nnx module (or a `jaxgan.players` player).
  A conditional generator needs `labels`: n class indices (or one int for all n samples).
  `z` (n, latent_dim), when given, is the latents to draw from instead of drawing them.
  """
  check_truncation(truncation)
  player = as_player(generator)
  num_classes = player.num_classes

  @functools.partial(jax.jit, static_argnames=("n", "use_ema"))
  def generate(state: GANState, key, labels, z, n: int, use_ema: bool) -> jax.Array:
    params = state.g_ema if use_ema else state.g_params
    if z is None and truncation is None:
      z = jax.random.normal(key, (n, player.latent_dim))
    elif z is None:
      z = jax.random.truncated_normal(key, -truncation, truncation, (n, player.latent_dim))
    return player.apply(params, state.g_state, z, labels, False,
                        rng=jax.random.fold_in(key, 5))[0]

  def sample(state: GANState, rng, n: int, labels=None, use_ema: bool = True,
             z=None) -> jax.Array:
    if z is not None and tuple(np.shape(z)) != (n, player.latent_dim):
      raise ValueError(f"latents of shape {tuple(np.shape(z))}; this generator draws from "
                       f"({n}, {player.latent_dim})")
    if num_classes:
      if labels is None:
        raise ValueError(f"the generator is conditional ({num_classes} classes): "
                         f"pass labels=, n class indices in 0..{num_classes - 1}")
      if not isinstance(labels, jax.core.Tracer):
        bad = np.asarray(labels)
        bad = bad[(bad < 0) | (bad >= num_classes)]
        if bad.size:
          raise ValueError(f"label {bad.flat[0]} is outside 0..{num_classes - 1}")
      labels = jnp.broadcast_to(jnp.asarray(labels, jnp.int32), (n,))
    elif labels is not None:
      raise ValueError("labels= given, but the generator is not conditional")
    z = None if z is None else jnp.asarray(z, jnp.float32)
    return generate(state, as_key(rng), labels, z, n, use_ema)

  return sample


def sample_batches(sample, state: GANState, key: jax.Array, num: int, batch_size: int,
                   num_classes: int = 0, use_ema: bool = True):
  """Yields `(samples, labels or None)` in batches until `num` EMA samples (raw G's with
  `use_ema=False`) are drawn.

  Batch i draws from `fold_in(key, start)`, so the samples do not depend on what else is
  evaluated; a conditional generator gets labels uniform over its classes.
  """
  for start in range(0, num, batch_size):
    n = min(batch_size, num - start)
    batch_key = jax.random.fold_in(key, start)
    labels = (np.asarray(jax.random.randint(jax.random.fold_in(batch_key, 1), (n,), 0,
                                            num_classes)) if num_classes else None)
    yield sample(state, batch_key, n, labels=labels, use_ema=use_ema), labels


STANDING_STREAM = 0x5741  # folded into a sampler's key for the standing statistics' draws
STANDING_BATCH = 256  # BigGAN-PyTorch's scripts' G_batch_size: images per standing pass


def standing_stats(generator, state: GANState, key, num_batches: int, batch_size: int,
                   use_ema: bool = True) -> GANState:
  """Returns `state` with G's batch-norm statistics replaced by standing statistics: the mean,
  over `num_batches` batches of `batch_size` z ~ N(0, I) (and uniform classes), of each
  batch's mean and (biased) variance, G run in training mode with the parameters sampled from
  (the EMA unless `use_ema` is False); `accumulate_standing` does the passes.

  BigGAN-PyTorch's sampler does this with `--mybn --accumulate_stats`
  (`--num_standing_accumulations`, 16 by default) so that an EMA generator is sampled with
  statistics of its own activations rather than the raw G's running averages; like it, z is
  drawn from the plain normal whatever truncation the samples then use.
  """
  if not isinstance(num_batches, int) or num_batches < 1:
    raise ValueError(f"--standing_stats={num_batches}: the batches to accumulate standing "
                     f"statistics over must be an integer >= 1")
  if not isinstance(batch_size, int) or batch_size < 1:
    raise ValueError(f"--standing_batch={batch_size}: the images of each standing pass must be "
                     f"an integer >= 1")
  player = as_player(generator)
  batches = []
  for i in range(num_batches):
    k = jax.random.fold_in(as_key(key), i)
    z = jax.random.normal(k, (batch_size, player.latent_dim))
    y = (jax.random.randint(jax.random.fold_in(k, 1), (batch_size,), 0, player.num_classes)
         if player.num_classes else None)
    batches.append((z, y))
  params = state.g_ema if use_ema else state.g_params
  return state.replace(g_state=accumulate_standing(generator, params, state.g_state, batches))


def accumulate_standing(generator, params, model_state, batches):
  """Returns G's model state after training-mode passes over `batches` ((z, labels or None)
  pairs) with each batch norm's stored mean and variance set to the average over the batches
  of that batch's mean and biased variance (BigGAN's `myBN` with `accumulate_standing`).

  As in the official code the passes also advance spectral norm's power iteration by one step
  a batch. The generator's batch norms must report their batch moments in a "moments"
  collection (`flax.linen.Module.sow`, next to their `stored_mean` and `stored_var`; BigGAN's
  do); ValueError otherwise, before any pass runs.
  """
  player = as_player(generator)
  module = getattr(player, "module", None)
  name = type(module).__name__
  if not isinstance(module, nn.Module):
    raise ValueError(f"--standing_stats: {name} is not a flax.linen module; standing "
                     f"statistics are computed for linen generators whose batch norms report "
                     f"their moments (BigGAN's)")
  if getattr(module, "axis_name", None) is not None:  # sampling runs on one device
    module = module.clone(axis_name=None)

  def one_pass(params, model_state, z, labels):
    args = (z,) if labels is None else (z, labels)
    key = jax.random.key(0)  # for generators that draw noise; the check below refuses them
    _, updates = module.apply({"params": params, **model_state}, *args, train=True,
                              mutable=[*model_state, "moments"],
                              rngs={"noise": key, "dropout": key})
    updates = dict(updates)
    moments = updates.pop("moments", {})
    return {**model_state, **updates}, moments

  model_state = dict(model_state)
  if not batches or not traverse_util.flatten_dict(
      jax.eval_shape(one_pass, params, model_state, *batches[0])[1]):
    raise ValueError(f"--standing_stats: {name} has no batch norm that reports its batch "
                     f"moments; standing statistics are for BigGAN's generators")
  accumulate, sums = jax.jit(one_pass), None  # params an argument, not baked-in constants
  for z, labels in batches:
    model_state, moments = accumulate(params, model_state, z, labels)
    sums = moments if sums is None else jax.tree.map(jnp.add, sums, moments)
  stats = traverse_util.flatten_dict(model_state["batch_stats"])
  for path, ((mean, var),) in traverse_util.flatten_dict(sums).items():
    stats[(*path[:-1], "stored_mean")] = mean / len(batches)
    stats[(*path[:-1], "stored_var")] = var / len(batches)
  model_state["batch_stats"] = traverse_util.unflatten_dict(stats)
  return model_state
