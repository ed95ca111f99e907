"""The alternating minimax update: k discriminator steps, then one generator step.

This is Algorithm 1 of Goodfellow et al. (2014), with any loss from `jaxgan.losses`
and any optax optimizer per player, written as one pure function of
`(state, batch)` so that `jax.jit` compiles the whole alternating update into a
single program:

    for i in 1..k:                                     # discriminator
      draw z_1..z_m and take the i-th real minibatch x_1..x_m
      ascend D's objective on (x, G(z))   == descend costs.d
    draw fresh z_1..z_m (or reuse the last D step's G(z))
    descend G's cost costs.g against the updated D     # generator
    update the EMA of G's parameters

Conditional players (`num_classes > 0`, see `jaxgan.models.layers`) read the labels
`batch["y"]`; the generated half of each minibatch takes the labels of its real half, so
fake classes follow the data's class frequencies. An AC-GAN discriminator returns
`(logits, class_logits)`, and both players add `ac_weight` times the class cross-entropy
(D on real and fake samples, G on fake ones).
"""

import functools
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import losses, penalties
from jaxgan.models.layers import is_conditional
from jaxgan.state import GANState, real_inputs

Metrics = dict[str, jax.Array]

# What the step checks for NaN/Inf, in the bit order of the `nonfinite` metric: the losses
# (averaged over devices), the gradients, and the players' new parameters and model state.
NONFINITE_CHECKS = ("d/loss", "d/grads", "d/params", "g/loss", "g/grads", "g/params")


def all_finite(tree) -> jax.Array:
  """Returns whether every floating-point value in `tree` is finite (a bool scalar)."""
  flags = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
           if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(flags)) if flags else jnp.array(True)


def nonfinite_names(code: int) -> list[str]:
  """Returns the names of the checks set in a `nonfinite` metric value."""
  return [name for i, name in enumerate(NONFINITE_CHECKS) if int(code) >> i & 1]


def ema_update(ema, params, decay: float):
  """Returns `decay * ema + (1 - decay) * params`, leaf by leaf."""
  return jax.tree.map(lambda e, p: e + (1.0 - decay) * (p - e), ema, params)


def _apply(module: nn.Module, params, model_state, inputs, labels, train: bool):
  """Returns `(outputs, new_model_state)`; model state changes only in training."""
  variables = {"params": params, **model_state}
  args = (inputs,) if labels is None or not is_conditional(module) else (inputs, labels)
  if train and model_state:
    out, updates = module.apply(variables, *args, train=True, mutable=list(model_state))
    return out, {**model_state, **updates}
  return module.apply(variables, *args, train=train), model_state


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


def make_train_step(generator: nn.Module, discriminator: nn.Module,
                    g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation, *,
                    loss: str | losses.Loss = "non_saturating",
                    d_steps: int = 1,
                    reuse_fake: bool = False,
                    ema_decay: float = 0.999,
                    ac_weight: float = 1.0,
                    penalty: str = "none",
                    penalty_weight: float = 10.0,
                    penalty_every: int = 1,
                    axis_name: str | None = None,
                    skip_nonfinite: bool = False,
                    unroll: bool = True) -> Callable[[GANState, Any], tuple[GANState, Metrics]]:
  """Returns `train_step(state, batch) -> (state, metrics)`, one full alternating update.

  Args:
    generator, discriminator: the flax modules (see `jaxgan.create_state`).
    g_tx, d_tx: each player's optax optimizer (learning rates, betas, schedules).
    loss: a name from `jaxgan.losses.LOSSES` or a `jaxgan.losses.Loss`.
    d_steps: k, the discriminator updates per generator update. The batch carries
      one real minibatch per D update: `batch["x"]` has shape `(k, B, ...)`.
    reuse_fake: if True the G update back-propagates through the generated batch of
      the last D update (one generator forward pass fewer, as in the PyTorch DCGAN
      example); if False it draws fresh z, as in Algorithm 1.
    ema_decay: decay of the EMA of the generator's parameters (0 copies them).
    ac_weight: weight of the class cross-entropy of an AC-GAN discriminator.
    penalty: a gradient penalty of `jaxgan.penalties.PENALTIES` added to D's cost with
      `penalty_weight` (for `gp`, `gp_one_sided`, `dragan`: λ; for `r1`, `r2`: γ, the
      cost being (γ/2) E‖∇D‖²). The penalty's random points come from the D update's key.
    penalty_every: lazy regularisation: the penalty enters every this many D updates
      (counted over the whole run), with its weight multiplied by the same number.
    axis_name: a data-parallel axis (from `jax.pmap` or `shard_map`); gradients,
      metrics and model state (batch statistics) are averaged across it, and each device
      takes its own slice of the global batch's noise, so N devices holding slices of a
      global batch compute the update one device computes on the whole of it.
    skip_nonfinite: if True, a step in which any check of `NONFINITE_CHECKS` finds a NaN
      or Inf keeps the old parameters, model and optimizer states and EMA (the step
      counter and the key still advance, so the next step sees new data and noise) and
      adds one to `state.skipped`. If False the update is applied as computed; either
      way the `nonfinite` metric says which checks failed.
    unroll: write the k D updates out in the program (True) or as a `lax.scan`
      (False). BUILD_NOTES.md has the measurement behind the default.

  Randomness: `key, step_key = split(state.key)`; `key` becomes the new state key;
  `keys = split(step_key, k + 1)`: D update i draws z from `keys[i]`, and the G update
  from `keys[k]` (fresh z) or reuses the z of `keys[k - 1]` (`reuse_fake`). Under
  `axis_name` each draw is of the global batch's size and device i keeps rows
  `[i*B, (i+1)*B)`: noise differs per device and does not depend on the device count.

  Returns:
    A pure function; wrap it in `jax.jit` (or `jax.pmap` with `axis_name`).
    Metrics: `d/loss` (the adversarial cost, without the penalty), `d/penalty` (the
    weighted penalty), `d/real_logit`, `d/fake_logit`, `d/grad_norm` (means over the k D
    updates), `g/loss`, `g/fake_logit`, `g/grad_norm`; `nonfinite`, a bit mask
    over `NONFINITE_CHECKS` (0 for a clean step; decode with `nonfinite_names`), and
    `skipped`, the running count of dropped updates.
  """
  adv = losses.get(loss)
  if not isinstance(d_steps, int) or d_steps < 1:
    raise ValueError(f"d_steps must be a positive int, got {d_steps!r}")
  if penalty not in penalties.PENALTIES:
    raise ValueError(f"penalty={penalty!r} is not accepted; choose one of: "
                     f"{', '.join(penalties.PENALTIES)}")
  if not isinstance(penalty_every, int) or penalty_every < 1:
    raise ValueError(f"penalty_every must be a positive int, got {penalty_every!r}")
  if not 0.0 <= ema_decay <= 1.0:
    raise ValueError(f"ema_decay must be in [0, 1], got {ema_decay!r}")

  def cross_replica_mean(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  g_apply = functools.partial(_apply, generator)
  d_apply = functools.partial(_apply, discriminator)
  conditional = is_conditional(generator) or is_conditional(discriminator)

  def noise(key, batch_size, dtype):
    """Returns this device's z: its own slice of the global batch's draw."""
    if axis_name is None:
      return jax.random.normal(key, (batch_size, generator.latent_dim), dtype)
    devices = jax.lax.axis_size(axis_name)
    z = jax.random.normal(key, (devices * batch_size, generator.latent_dim), dtype)
    return jax.lax.dynamic_slice_in_dim(z, jax.lax.axis_index(axis_name) * batch_size,
                                        batch_size)

  def d_penalty(params, d_state, x_real, fake, y, key, update_index):
    """Returns the weighted gradient penalty of D (lazily: nonzero every penalty_every)."""
    if penalty == "none":
      return jnp.zeros((), x_real.dtype)
    if axis_name is not None:  # each device its own interpolation points
      key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
    # The penalty's own forward passes leave D's model state as the main pass left it.
    d_fn = lambda v: split_logits(d_apply(params, d_state, v, y, True)[0])[0]
    value = lambda: penalties.penalty(penalty, d_fn, x_real, fake, key).astype(x_real.dtype)
    if penalty_every == 1:
      return penalty_weight * value()
    due = update_index % penalty_every == 0
    return jax.lax.cond(due, lambda: penalty_every * penalty_weight * value(),
                        lambda: jnp.zeros((), x_real.dtype))

  def d_update(d_params, d_state, d_opt_state, x_real, fake, y, key, update_index):
    """One descent step on D's cost; `fake` is treated as data, labelled like `x_real`."""
    fake = jax.lax.stop_gradient(fake)

    def cost(params):
      real_out, new_state = d_apply(params, d_state, x_real, y, True)
      fake_out, new_state = d_apply(params, new_state, fake, y, True)
      (real_logits, real_classes), (fake_logits, fake_classes) = (
          split_logits(real_out), split_logits(fake_out))
      d_cost = adv(real_logits, fake_logits).d + ac_weight * (
          class_cross_entropy(real_classes, y) + class_cross_entropy(fake_classes, y))
      weighted_penalty = d_penalty(params, d_state, x_real, fake, y,
                                   jax.random.fold_in(key, 1), update_index)
      return d_cost + weighted_penalty, (new_state, real_logits, fake_logits, d_cost,
                                         weighted_penalty)

    (_, (new_state, real_logits, fake_logits, d_loss, weighted_penalty)), grads = (
        jax.value_and_grad(cost, has_aux=True)(d_params))
    grads = cross_replica_mean(grads)
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    metrics = {"d/loss": d_loss, "d/real_logit": jnp.mean(real_logits),
               "d/fake_logit": jnp.mean(fake_logits), "d/grad_norm": optax.tree.norm(grads),
               "d/penalty": weighted_penalty,
               "d/grads_finite": all_finite(grads).astype(jnp.float32)}
    return d_params, new_state, d_opt_state, metrics

  def g_cost_of_fake(d_params, d_state, x_real, fake, y):
    fake_logits, fake_classes = split_logits(d_apply(d_params, d_state, fake, y, True)[0])
    if adv.g_uses_real:
      real_logits, _ = split_logits(d_apply(d_params, d_state, x_real, y, True)[0])
    else:  # unused by the cost; XLA removes it
      real_logits = jnp.zeros_like(fake_logits)
    g_cost = adv(real_logits, fake_logits).g + ac_weight * class_cross_entropy(fake_classes, y)
    return g_cost, fake_logits

  def train_step(state: GANState, batch) -> tuple[GANState, Metrics]:
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
    key, step_key = jax.random.split(state.key)
    d_keys = jax.random.split(step_key, d_steps + 1)
    g_key = d_keys[-1]

    first_update = state.step * d_steps  # D updates before this step, for penalty_every

    def d_update_fresh(carry, x_y_key_i):
      """A D update on its own real minibatch and freshly drawn z."""
      g_state, d_params, d_state, d_opt_state = carry
      x_real, y, key, i = x_y_key_i
      z = noise(key, x_real.shape[0], x_real.dtype)
      fake, g_state = g_apply(state.g_params, g_state, z, y, True)
      d_params, d_state, d_opt_state, m = d_update(d_params, d_state, d_opt_state, x_real,
                                                   fake, y, key, first_update + i)
      return (g_state, d_params, d_state, d_opt_state), m

    # --- k - 1 discriminator updates on fresh z ---------------------------------
    carry = (state.g_state, state.d_params, state.d_state, state.d_opt_state)
    d_metrics = []
    if d_steps > 1:
      if unroll:
        for i in range(d_steps - 1):
          carry, m = d_update_fresh(carry, (x[i], labels[i], d_keys[i], i))
          d_metrics.append(m)
      else:
        carry, m = jax.lax.scan(d_update_fresh, carry, (x[:-1], labels[:-1], d_keys[:-2],
                                                        jnp.arange(d_steps - 1)))
        d_metrics.extend({k: v[i] for k, v in m.items()} for i in range(d_steps - 1))
    g_state, d_params, d_state, d_opt_state = carry

    # --- the k-th discriminator update; its G forward may serve the G update ----
    x_last, y_last = x[-1], labels[-1]
    z = noise(d_keys[-2], x_last.shape[0], x_last.dtype)
    if reuse_fake:
      fake, g_pullback, g_state = jax.vjp(
          lambda p: g_apply(p, g_state, z, y_last, True), state.g_params, has_aux=True)
    else:
      fake, g_state = g_apply(state.g_params, g_state, z, y_last, True)
    d_params, d_state, d_opt_state, m = d_update(d_params, d_state, d_opt_state, x_last, fake,
                                                 y_last, d_keys[-2],
                                                 first_update + d_steps - 1)
    d_metrics.append(m)

    # --- one generator update against the updated discriminator -----------------
    if reuse_fake:
      (g_loss, fake_logits), d_fake = jax.value_and_grad(
          lambda f: g_cost_of_fake(d_params, d_state, x_last, f, y_last), has_aux=True)(fake)
      (g_grads,) = g_pullback(d_fake)
    else:
      z = noise(g_key, x_last.shape[0], x_last.dtype)

      def g_cost(params):
        fake, new_g_state = g_apply(params, g_state, z, y_last, True)
        g_loss, fake_logits = g_cost_of_fake(d_params, d_state, x_last, fake, y_last)
        return g_loss, (new_g_state, fake_logits)

      (g_loss, (g_state, fake_logits)), g_grads = jax.value_and_grad(
          g_cost, has_aux=True)(state.g_params)
    g_grads = cross_replica_mean(g_grads)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    # Batch statistics seen by each device are averaged so that the state stays
    # replicated (with cross-replica batch norm they are already equal).
    g_state, d_state = cross_replica_mean(g_state), cross_replica_mean(d_state)
    metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_metrics)
    metrics.update({"g/loss": g_loss, "g/fake_logit": jnp.mean(fake_logits),
                    "g/grad_norm": optax.tree.norm(g_grads)})
    metrics = cross_replica_mean(metrics)

    # --- non-finite values: flag them, and drop the update if asked ---------------
    # Every input below is the same on all devices, so all devices decide alike.
    failed = [~jnp.isfinite(metrics["d/loss"]), metrics.pop("d/grads_finite") < 1,
              ~all_finite((d_params, d_state)), ~jnp.isfinite(metrics["g/loss"]),
              ~all_finite(g_grads), ~all_finite((g_params, g_state))]
    nonfinite = sum(f.astype(jnp.int32) << i for i, f in enumerate(failed))
    new_state = state.replace(
        step=state.step + 1,
        g_params=g_params, g_state=g_state, g_opt_state=g_opt_state,
        d_params=d_params, d_state=d_state, d_opt_state=d_opt_state,
        g_ema=ema_update(state.g_ema, g_params, ema_decay),
        rng=jax.random.key_data(key))
    if skip_nonfinite:
      keep_old = nonfinite != 0
      new_state = jax.tree.map(lambda old, new: jnp.where(keep_old, old, new), state, new_state)
      new_state = new_state.replace(step=state.step + 1, rng=jax.random.key_data(key),
                                    skipped=state.skipped + keep_old.astype(jnp.int32))
    metrics.update({"nonfinite": nonfinite, "skipped": new_state.skipped})
    return new_state, metrics

  return train_step
