"""Both players' costs for one minibatch, as functions of arrays: what every update rule uses.

`make_costs` closes over the players, the objective and the data-parallel axis, and returns
`CostFunctions`: how G makes samples, D's cost (adversarial loss + regularisers, with the
objective's new state), D's adversarial loss alone, and G's cost against a given D. The alternating
step (`jaxgan.step`), the joint rules (`jaxgan.games.joint`) and the unrolled generator
(`jaxgan.unrolled`) are written against these.

Keys: a minibatch's key `k` gives D's view of the real batch `fold_in(k, 2)`, of the
generated batch `fold_in(k, 3)`, and the regularisers `fold_in(k, 1)`. G's own randomness
(StyleGAN2's noise inputs and style mixing) comes from `fold_in(k', 5)`, k' the key its z
was drawn from; G's regularisers draw from `fold_in(k, 6)` of the G update's key. Under an
axis every random draw is this device's own (`Devices.key`), and the noise z is this device's slice
of the global batch's draw, so N devices compute what one device computes on the whole batch.
"""

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgan import schedules
from jaxgan.regularisers import path_length
from jaxgan.regularisers import regulariser as regularisers
from jaxgan.objective import Objective
from jaxgan.parallel import Devices
from jaxgan.state import real_inputs

PyTree = Any


class Minibatch(NamedTuple):
  """One update's inputs."""
  x: jax.Array       # real samples
  y: jax.Array       # their labels (zeros for unconditional players)
  key: jax.Array     # the update's key
  step: jax.Array    # generator updates so far (schedules)
  update: jax.Array  # D updates so far (lazy regularisation)
  parts: int = 1     # the micro-batch parts the update is taken in (this is one of them)


class DAux(NamedTuple):
  """What D's cost reports besides its value."""
  d_state: PyTree        # D's new model state
  objective: dict        # the objective's new state
  real_logits: jax.Array
  fake_logits: jax.Array
  loss: jax.Array        # the adversarial part
  penalty: jax.Array     # the weighted regularisers
  logs: dict = {}        # what the objective's parts log of their state (ADA's p)
  terms: dict = {}       # each regulariser's unweighted cost, by name


class CostFunctions(NamedTuple):
  """The functions every update rule is written against (`make_costs`)."""
  noise: Callable      # (key, batch_size, dtype) -> this device's z
  generate: Callable   # (g_params, g_state, z, y, z_key) -> (fake, g_state)
  d: Callable          # (d_params, d_state, objective_state, fake, mb) -> (cost, DAux)
  d_loss: Callable     # (d_params, d_state, objective_state, fake, mb) -> adversarial cost
  # (d_params, d_state, objective_state, fake, mb, d_opt_state) -> (cost, logits)
  g: Callable
  devices: Devices
  conditional: bool
  # (g_params, g_state, objective_state, mb) -> (G's weighted regularisers, objective state);
  # None when the objective has none.
  g_regularisers: Callable | None = None


def split_logits(d_out):
  """Returns `(logits, class_logits or None)` of a discriminator's output."""
  if isinstance(d_out, (tuple, list)):
    return d_out[0], d_out[1]
  return d_out, None


def class_cross_entropy(class_logits, labels) -> jax.Array:
  """Returns the mean softmax cross-entropy of integer labels (0 without class logits)."""
  if class_logits is None:
    return jnp.zeros(())
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels))


def make_costs(generator, discriminator, objective: Objective,
               axis_name: str | None = None) -> CostFunctions:
  """Returns the players' `CostFunctions` under `objective` (players: `jaxgan.players`)."""
  adv, devices, view = objective.loss, Devices(axis_name), objective.view

  def generate(g_params, g_state, z, y, z_key):
    rng = devices.key(jax.random.fold_in(z_key, 5))
    return generator.apply(g_params, g_state, z, y, True, rng=rng)

  def seen(x, key, step, parts):
    return view.apply(x, devices.key(key), step, parts.get(view.name))

  def d_rng(key, i):
    """D's own randomness (dropout) in its i-th pass of an update: this device's."""
    return devices.key(jax.random.fold_in(jax.random.fold_in(key, 7), i))

  def d_outputs(d_params, d_state, parts, fake, mb):
    real_out, d_state = discriminator.apply(
        d_params, d_state, seen(mb.x, jax.random.fold_in(mb.key, 2), mb.step, parts), mb.y, True,
        rng=d_rng(mb.key, 0))
    fake_out, d_state = discriminator.apply(
        d_params, d_state, seen(fake, jax.random.fold_in(mb.key, 3), mb.step, parts), mb.y, True,
        rng=d_rng(mb.key, 1))
    return real_out, fake_out, d_state

  def adversarial(real_out, fake_out, mb):
    (real_logits, real_classes), (fake_logits, fake_classes) = (
        split_logits(real_out), split_logits(fake_out))
    return adv(real_logits, fake_logits).d + schedules.at(objective.ac_weight, mb.step) * (
        class_cross_entropy(real_classes, mb.y) + class_cross_entropy(fake_classes, mb.y))

  def d_loss(d_params, d_state, parts, fake, mb):
    real_out, fake_out, _ = d_outputs(d_params, d_state, parts, fake, mb)
    return adversarial(real_out, fake_out, mb)

  def d_cost(d_params, d_state, parts, fake, mb):
    real_out, fake_out, new_d_state = d_outputs(d_params, d_state, parts, fake, mb)
    real_logits, fake_logits = split_logits(real_out)[0], split_logits(fake_out)[0]
    loss = adversarial(real_out, fake_out, mb)
    # The regularisers' own forward passes leave D's model state as the main pass left it;
    # their points go through D's view with one fixed draw, so ∇ is taken in the raw inputs.
    reg_key = devices.key(jax.random.fold_in(mb.key, 1))
    view_key = jax.random.fold_in(reg_key, 2)
    d_fn = lambda v: split_logits(discriminator.apply(
        d_params, d_state, seen(v, view_key, mb.step, parts), mb.y, True,
        rng=d_rng(reg_key, 2))[0])[0]
    penalty, parts, terms = regularisers.total(
        objective.d_regularisers,
        regularisers.DInputs(d_fn, mb.x, fake, real_logits, fake_logits, reg_key, mb.update),
        parts, mb.step, mb.x.dtype)
    logs = {}
    if view.name in parts:
      parts = {**parts, view.name: view.update(parts[view.name], real_logits, mb.update,
                                               devices._replace(parts=mb.parts), step=mb.step)}
      logs = view.logs(parts[view.name])
    return loss + penalty, DAux(new_d_state, parts, real_logits, fake_logits, loss, penalty,
                                logs, terms)

  def g_cost(d_params, d_state, parts, fake, mb, d_opt_state=None):
    del d_opt_state  # for `jaxgan.unrolled`, which looks ahead with D's optimizer
    fake_view = seen(fake, jax.random.fold_in(mb.key, 3), mb.step, parts)
    fake_logits, fake_classes = split_logits(
        discriminator.apply(d_params, d_state, fake_view, mb.y, True, rng=d_rng(mb.key, 1))[0])
    if adv.g_uses_real:
      real_view = seen(mb.x, jax.random.fold_in(mb.key, 2), mb.step, parts)
      real_logits, _ = split_logits(discriminator.apply(d_params, d_state, real_view, mb.y,
                                                        True, rng=d_rng(mb.key, 0))[0])
    else:  # unused by the cost; XLA removes it
      real_logits = jnp.zeros_like(fake_logits)
    cost = adv(real_logits, fake_logits).g + schedules.at(objective.ac_weight, mb.step) * (
        class_cross_entropy(fake_classes, mb.y))
    return cost, fake_logits

  conditional = bool(generator.num_classes or discriminator.num_classes)
  noise = lambda key, batch_size, dtype: devices.noise(key, batch_size, generator.latent_dim,
                                                      dtype)
  g_regs = (_g_regularisers(generator, objective, devices, noise)
            if objective.g_regularisers else None)
  return CostFunctions(noise, generate, d_cost, d_loss, g_cost, devices, conditional, g_regs)


def _g_regularisers(generator, objective: Objective, devices: Devices, noise) -> Callable:
  """Returns G's regularisers' cost: their weighted sum, the objective's new state and each
  one's unweighted cost by name.

  They see G through `path_length.GInputs`: its parameters, and its images as a function of
  a perturbation of its per-layer latents, which a generator must take (`ws_delta`, `num_ws`,
  `w_dim`) for the regularisers that need them (`Regulariser.needs`: path length).
  """
  module = getattr(generator, "module", None)
  has_ws = all(hasattr(module, a) for a in ("num_ws", "w_dim"))
  if not has_ws and (names := [r.name for r in objective.g_regularisers if "ws" in r.needs]):
    raise ValueError(f"{', '.join(names)} regularises G in its per-layer latents w, which "
                     f"{type(module).__name__} does not have; use model=stylegan2")
  ws_shape = (module.num_ws, module.w_dim) if has_ws else None

  def cost(g_params, g_state, parts, mb):
    def synthesise(params, z, y, ws_delta, key):
      return generator.apply(params, g_state, z, y, True, rng=key, ws_delta=ws_delta)[0]
    inputs = path_length.GInputs(
        synthesise, lambda key, n: noise(key, n, mb.x.dtype), g_params, mb.y, ws_shape,
        devices.key(jax.random.fold_in(mb.key, 6)), mb.step)
    return regularisers.total(objective.g_regularisers, inputs, parts, mb.step, mb.x.dtype)

  return cost


def check_batch(batch, d_steps: int, conditional: bool) -> tuple[jax.Array, jax.Array]:
  """Returns `(x, labels)` of a batch, checked against d_steps and the conditioning."""
  x = real_inputs(batch)
  if x.ndim < 2 or x.shape[0] != d_steps:
    raise ValueError(
        f"batch['x'] must have shape (d_steps={d_steps}, batch, ...): one real "
        f"minibatch per discriminator update; got shape {tuple(x.shape)}")
  labels = batch.get("y") if isinstance(batch, Mapping) else None
  if conditional and (labels is None or labels.shape != x.shape[:2]):
    raise ValueError(
        f"conditional players need batch['y'] of shape {tuple(x.shape[:2])} (one label "
        f"per real sample); got {None if labels is None else tuple(labels.shape)}")
  if not conditional:  # a placeholder the scan can carry; no module reads it
    labels = jnp.zeros(x.shape[:2], jnp.int32)
  return x, labels
