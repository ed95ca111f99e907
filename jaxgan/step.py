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

Everything else the literature adds to stabilise the game is a setting of the same step:
D's view of its inputs (instance noise, DiffAugment; `jaxgan.augment`), gradient penalties and
LeCam regularisation (`jaxgan.penalties`), the unrolled generator (Metz et al. 2017), and the
game-aware update rules of `jaxgan.games` for full networks: `simultaneous`, `extragradient`
and `consensus` (`update_rule`; optimistic steps are an optimizer, `jaxgan.optim`).
"""

import functools
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxgan import augment, losses, penalties
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


# Mixed precision: the players compute in this dtype; parameters, optimizer states, model
# state (batch statistics, spectral norm's vectors), losses and gradients stay float32.
COMPUTE_DTYPES = ("float32", "bfloat16")


def _cast_floats(tree, dtype):
  return jax.tree.map(
      lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def _apply(module: nn.Module, params, model_state, inputs, labels, train: bool,
           compute_dtype: str = "float32"):
  """Returns `(outputs, new_model_state)`; model state changes only in training.

  With `compute_dtype` "bfloat16" the module runs on bfloat16 copies of the parameters and
  inputs (gradients flow back through the casts to the float32 parameters), its outputs come
  back as float32, and its model state is read and kept in its own dtype (float32): flax's
  batch norm reduces in float32 and adds to float32 running averages.
  """
  if compute_dtype != "float32":
    params, inputs = _cast_floats((params, inputs), jnp.dtype(compute_dtype))
  variables = {"params": params, **model_state}
  args = (inputs,) if labels is None or not is_conditional(module) else (inputs, labels)
  if train and model_state:
    out, updates = module.apply(variables, *args, train=True, mutable=list(model_state))
    new_state = {**model_state, **updates}
    if compute_dtype != "float32":
      new_state = jax.tree.map(lambda new, old: new.astype(old.dtype), new_state, model_state)
  else:
    out, new_state = module.apply(variables, *args, train=train), model_state
  return (out if compute_dtype == "float32" else _cast_floats(out, jnp.float32)), new_state


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


UPDATE_RULES = ("alternating", "simultaneous", "extragradient", "consensus")


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
                    lecam_weight: float = 0.0,
                    lecam_decay: float = 0.99,
                    instance_noise: float = 0.0,
                    instance_noise_steps: int = 0,
                    augment_policy: str = "",
                    unroll_steps: int = 0,
                    update_rule: str = "alternating",
                    consensus_weight: float = 1.0,
                    compute_dtype: str = "float32",
                    axis_name: str | None = None,
                    skip_nonfinite: bool = False,
                    unroll: bool = True) -> Callable[[GANState, Any], tuple[GANState, Metrics]]:
  """Returns `train_step(state, batch) -> (state, metrics)`, one full alternating update.

  Args:
    generator, discriminator: the flax modules (see `jaxgan.create_state`).
    g_tx, d_tx: each player's optax optimizer (learning rates, betas, schedules; optimistic
      steps and weight clipping are optimizers too: `jaxgan.optim`).
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
    lecam_weight, lecam_decay: LeCam regularisation (`jaxgan.penalties.lecam`) of D with
      this weight, its EMAs of D's outputs decaying at `lecam_decay`; the state must hold
      the EMAs (`create_state(..., d_extra=penalties.lecam_init())`).
    instance_noise, instance_noise_steps: σ₀ of Gaussian noise added to every input of D
      (real and generated, in D's and G's updates), annealed linearly to 0 over this many
      steps (0: constant); see `jaxgan.augment`.
    augment_policy: DiffAugment policy for image inputs of D, a comma-separated subset of
      `jaxgan.augment.POLICIES`, applied to real and generated inputs alike.
    unroll_steps: the unrolled GAN: G's cost is taken against D after this many further
      (differentiated) descent steps of D's adversarial cost on the last minibatch, with
      d_tx; D's own update is unchanged. 0 is the ordinary step.
    update_rule: "alternating" (Algorithm 1), or a joint rule on both players' gradients
      at the same point (needs d_steps = 1 and no unrolling): "simultaneous";
      "extragradient" (Korpelevich: each player's optimizer step from the gradients at the
      look-ahead point that its own step reaches); "consensus" (Mescheder et al. 2017:
      both gradients plus `consensus_weight` × ∇½‖v‖², v the players' joint gradient).
    compute_dtype: "float32", or "bfloat16" for mixed precision: both players' forward and
      backward passes compute in bfloat16 from bfloat16 copies of their float32 parameters;
      outputs, losses, penalties, gradients, optimizer states, model state and the EMA stay
      float32. Samples drawn outside the step (evaluation) compute in float32.
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
  Penalties, instance noise and augmentations fold fixed constants into these keys.

  Returns:
    A pure function; wrap it in `jax.jit` (or `jax.pmap` with `axis_name`).
    Metrics: `d/loss` (the adversarial cost, without the penalty), `d/penalty` (the
    weighted penalties, LeCam included), `d/real_logit`, `d/fake_logit`, `d/grad_norm`
    (means over the k D updates), `g/loss`, `g/fake_logit`, `g/grad_norm`; `nonfinite`, a
    bit mask over `NONFINITE_CHECKS` (0 for a clean step; decode with `nonfinite_names`),
    and `skipped`, the running count of dropped updates.
  """
  adv = losses.get(loss)
  policy = augment.parse_policy(augment_policy)
  if not isinstance(d_steps, int) or d_steps < 1:
    raise ValueError(f"d_steps must be a positive int, got {d_steps!r}")
  if penalty not in penalties.PENALTIES:
    raise ValueError(f"penalty={penalty!r} is not accepted; choose one of: "
                     f"{', '.join(penalties.PENALTIES)}")
  if not isinstance(penalty_every, int) or penalty_every < 1:
    raise ValueError(f"penalty_every must be a positive int, got {penalty_every!r}")
  if not 0.0 <= ema_decay <= 1.0:
    raise ValueError(f"ema_decay must be in [0, 1], got {ema_decay!r}")
  if not 0.0 <= lecam_decay < 1.0:
    raise ValueError(f"lecam_decay must be in [0, 1), got {lecam_decay!r}")
  if not isinstance(unroll_steps, int) or unroll_steps < 0:
    raise ValueError(f"unroll_steps must be an int >= 0, got {unroll_steps!r}")
  if update_rule not in UPDATE_RULES:
    raise ValueError(f"update_rule={update_rule!r} is not accepted; choose one of: "
                     f"{', '.join(UPDATE_RULES)}")
  if update_rule != "alternating" and (d_steps != 1 or unroll_steps or reuse_fake):
    raise ValueError(f"update_rule={update_rule!r} moves both players from the same point: it "
                     f"needs d_steps=1, unroll_steps=0 and reuse_fake=False; got d_steps="
                     f"{d_steps}, unroll_steps={unroll_steps}, reuse_fake={reuse_fake}")

  if compute_dtype not in COMPUTE_DTYPES:
    raise ValueError(f"compute_dtype={compute_dtype!r} is not accepted; choose one of: "
                     f"{', '.join(COMPUTE_DTYPES)}")

  def cross_replica_mean(tree):
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)

  g_apply = functools.partial(_apply, generator, compute_dtype=compute_dtype)

  def d_apply(params, d_state, inputs, labels, train):
    """D's `(outputs, new_d_state)`; LeCam's EMAs ride in d_state beside the model's own."""
    lecam_ema = d_state.get(penalties.LECAM)
    model_state = {k: v for k, v in d_state.items() if k != penalties.LECAM}
    out, model_state = _apply(discriminator, params, model_state, inputs, labels, train,
                              compute_dtype)
    return out, (model_state if lecam_ema is None
                 else {**model_state, penalties.LECAM: lecam_ema})

  conditional = is_conditional(generator) or is_conditional(discriminator)

  def device_key(key):
    return key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))

  def noise(key, batch_size, dtype):
    """Returns this device's z: its own slice of the global batch's draw."""
    if axis_name is None:
      return jax.random.normal(key, (batch_size, generator.latent_dim), dtype)
    devices = jax.lax.axis_size(axis_name)
    z = jax.random.normal(key, (devices * batch_size, generator.latent_dim), dtype)
    return jax.lax.dynamic_slice_in_dim(z, jax.lax.axis_index(axis_name) * batch_size,
                                        batch_size)

  def view(x, key, step):
    """What D sees of samples x: x itself, or x with instance noise and augmentations."""
    if not instance_noise and not policy:
      return x
    noise_key, augment_key = jax.random.split(device_key(key))
    if instance_noise:
      x = augment.instance_noise(
          x, noise_key, augment.noise_scale(instance_noise, instance_noise_steps, step))
    return augment.diff_augment(x, augment_key, policy)

  def d_outputs(params, d_state, x_real, fake, y, key, step):
    """D's `(real_out, fake_out, new_d_state)` on its views of a real and a generated batch."""
    real_out, d_state = d_apply(params, d_state, view(x_real, jax.random.fold_in(key, 2), step),
                                y, True)
    fake_out, d_state = d_apply(params, d_state, view(fake, jax.random.fold_in(key, 3), step),
                                y, True)
    return real_out, fake_out, d_state

  def adversarial_d_cost(real_out, fake_out, y):
    (real_logits, real_classes), (fake_logits, fake_classes) = (
        split_logits(real_out), split_logits(fake_out))
    return adv(real_logits, fake_logits).d + ac_weight * (
        class_cross_entropy(real_classes, y) + class_cross_entropy(fake_classes, y))

  def d_penalty(params, d_state, x_real, fake, y, key, update_index, step):
    """Returns the weighted gradient penalty of D (lazily: nonzero every penalty_every)."""
    if penalty == "none":
      return jnp.zeros((), x_real.dtype)
    key = device_key(key)  # each device its own interpolation points
    # The penalty's own forward passes leave D's model state as the main pass left it; its
    # points go through D's view with one fixed draw, so ∇ is taken in the raw inputs.
    view_key = jax.random.fold_in(key, 2)
    d_fn = lambda v: split_logits(d_apply(params, d_state, view(v, view_key, step), y,
                                          True)[0])[0]
    value = lambda: penalties.penalty(penalty, d_fn, x_real, fake, key).astype(x_real.dtype)
    if penalty_every == 1:
      return penalty_weight * value()
    due = update_index % penalty_every == 0
    return jax.lax.cond(due, lambda: penalty_every * penalty_weight * value(),
                        lambda: jnp.zeros((), x_real.dtype))

  def d_cost(params, d_state, x_real, fake, y, key, update_index, step):
    """D's full cost and `(new_d_state, real_logits, fake_logits, adversarial cost, penalties)`.

    `fake` is labelled like `x_real`; callers differentiate in `params` only, except
    consensus, which needs D's gradient as a function of G's parameters too."""
    real_out, fake_out, new_state = d_outputs(params, d_state, x_real, fake, y, key, step)
    real_logits, fake_logits = split_logits(real_out)[0], split_logits(fake_out)[0]
    adv_cost = adversarial_d_cost(real_out, fake_out, y)
    weighted_penalty = d_penalty(params, d_state, x_real, fake, y, jax.random.fold_in(key, 1),
                                 update_index, step)
    if lecam_weight:
      if penalties.LECAM not in d_state:
        raise ValueError("lecam_weight > 0 needs LeCam's EMAs in the state: create it with "
                         "create_state(..., d_extra=jaxgan.penalties.lecam_init())")
      ema = penalties.lecam_update(d_state[penalties.LECAM], real_logits, fake_logits,
                                   lecam_decay)
      weighted_penalty += lecam_weight * penalties.lecam(real_logits, fake_logits, ema)
      new_state = {**new_state, penalties.LECAM: ema}
    return adv_cost + weighted_penalty, (new_state, real_logits, fake_logits, adv_cost,
                                         weighted_penalty)

  def d_metrics_of(aux, grads):
    _, real_logits, fake_logits, d_loss, weighted_penalty = aux
    return {"d/loss": d_loss, "d/real_logit": jnp.mean(real_logits),
            "d/fake_logit": jnp.mean(fake_logits), "d/grad_norm": optax.tree.norm(grads),
            "d/penalty": weighted_penalty,
            "d/grads_finite": all_finite(grads).astype(jnp.float32)}

  def d_update(d_params, d_state, d_opt_state, x_real, fake, y, key, update_index, step):
    """One descent step on D's cost."""
    (_, aux), grads = jax.value_and_grad(d_cost, has_aux=True)(
        d_params, d_state, x_real, fake, y, key, update_index, step)
    grads = cross_replica_mean(grads)
    updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    return d_params, aux[0], d_opt_state, d_metrics_of(aux, grads)

  def unrolled(d_params, d_state, d_opt_state, x_real, fake, y, key, step):
    """D's parameters after `unroll_steps` descent steps of its adversarial cost, as a
    differentiable function of `fake` (Metz et al. 2017's surrogate for G)."""
    for i in range(unroll_steps):
      def cost(params):
        real_out, fake_out, _ = d_outputs(params, d_state, x_real, fake, y,
                                          jax.random.fold_in(key, 10 + i), step)
        return adversarial_d_cost(real_out, fake_out, y)
      grads = cross_replica_mean(jax.grad(cost)(d_params))
      updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
    return d_params

  def g_cost_of_fake(d_params, d_state, d_opt_state, x_real, fake, y, key, step):
    if unroll_steps:
      d_params = unrolled(d_params, d_state, d_opt_state, x_real, fake, y, key, step)
    fake_view = view(fake, jax.random.fold_in(key, 3), step)
    fake_logits, fake_classes = split_logits(d_apply(d_params, d_state, fake_view, y, True)[0])
    if adv.g_uses_real:
      real_view = view(x_real, jax.random.fold_in(key, 2), step)
      real_logits, _ = split_logits(d_apply(d_params, d_state, real_view, y, True)[0])
    else:  # unused by the cost; XLA removes it
      real_logits = jnp.zeros_like(fake_logits)
    g_cost = adv(real_logits, fake_logits).g + ac_weight * class_cross_entropy(fake_classes, y)
    return g_cost, fake_logits

  def check_batch(batch):
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

  def finish(state, key, players, g_grads, metrics):
    """Returns the new state and metrics: EMA, the non-finite checks, and skipping."""
    g_params, g_state, g_opt_state, d_params, d_state, d_opt_state = players
    # Batch statistics seen by each device are averaged so that the state stays
    # replicated (with cross-replica batch norm they are already equal).
    g_state, d_state = cross_replica_mean(g_state), cross_replica_mean(d_state)
    metrics = cross_replica_mean(metrics)
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

  def train_step(state: GANState, batch) -> tuple[GANState, Metrics]:
    x, labels = check_batch(batch)
    key, step_key = jax.random.split(state.key)
    d_keys = jax.random.split(step_key, d_steps + 1)
    g_key = d_keys[-1]
    step = state.step

    first_update = state.step * d_steps  # D updates before this step, for penalty_every

    def d_update_fresh(carry, x_y_key_i):
      """A D update on its own real minibatch and freshly drawn z."""
      g_state, d_params, d_state, d_opt_state = carry
      x_real, y, key, i = x_y_key_i
      z = noise(key, x_real.shape[0], x_real.dtype)
      fake, g_state = g_apply(state.g_params, g_state, z, y, True)
      d_params, d_state, d_opt_state, m = d_update(d_params, d_state, d_opt_state, x_real,
                                                   fake, y, key, first_update + i, step)
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
                                                 first_update + d_steps - 1, step)
    d_metrics.append(m)

    # --- one generator update against the updated discriminator -----------------
    g_cost_fn = lambda f: g_cost_of_fake(d_params, d_state, d_opt_state, x_last, f, y_last,
                                         g_key, step)
    if reuse_fake:
      (g_loss, fake_logits), d_fake = jax.value_and_grad(g_cost_fn, has_aux=True)(fake)
      (g_grads,) = g_pullback(d_fake)
    else:
      z = noise(g_key, x_last.shape[0], x_last.dtype)

      def g_cost(params):
        fake, new_g_state = g_apply(params, g_state, z, y_last, True)
        g_loss, fake_logits = g_cost_fn(fake)
        return g_loss, (new_g_state, fake_logits)

      (g_loss, (g_state, fake_logits)), g_grads = jax.value_and_grad(
          g_cost, has_aux=True)(state.g_params)
    g_grads = cross_replica_mean(g_grads)
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    g_params = optax.apply_updates(state.g_params, g_updates)

    metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_metrics)
    metrics.update({"g/loss": g_loss, "g/fake_logit": jnp.mean(fake_logits),
                    "g/grad_norm": optax.tree.norm(g_grads)})
    return finish(state, key, (g_params, g_state, g_opt_state, d_params, d_state, d_opt_state),
                  g_grads, metrics)

  def joint_gradients(g_state, d_state, x_real, y, z, key, step):
    """Returns `grads(θ, φ) -> (v, aux)`: both players' gradients at the same point.

    D descends its cost on (x, G_θ(z)); G descends its cost against D_φ on the same G_θ(z).
    v = (∇_θ G's cost, ∇_φ D's cost) is a differentiable function of (θ, φ), D's gradient
    through G_θ(z) included, so that consensus can differentiate ½‖v‖².
    """
    def g_cost(g_params, d_params):
      fake, new_g_state = g_apply(g_params, g_state, z, y, True)
      g_loss, fake_logits = g_cost_of_fake(d_params, d_state, None, x_real, fake, y,
                                           jax.random.fold_in(key, 4), step)
      return g_loss, (new_g_state, fake_logits)

    def grads(g_params, d_params):
      fake, _ = g_apply(g_params, g_state, z, y, True)
      (_, d_aux), d_grads = jax.value_and_grad(d_cost, has_aux=True)(
          d_params, d_state, x_real, fake, y, key, step, step)
      (g_loss, (new_g_state, fake_logits)), g_grads = jax.value_and_grad(
          g_cost, has_aux=True)(g_params, d_params)
      v = cross_replica_mean((g_grads, d_grads))
      return v, (g_loss, d_aux, new_g_state, fake_logits)

    return grads

  def joint_step(state: GANState, batch) -> tuple[GANState, Metrics]:
    x, labels = check_batch(batch)
    key, step_key = jax.random.split(state.key)
    d_key, g_key = jax.random.split(step_key)
    step = state.step
    x_real, y = x[0], labels[0]
    z = noise(g_key, x_real.shape[0], x_real.dtype)
    grads = joint_gradients(state.g_state, state.d_state, x_real, y, z, d_key, step)
    (g_grads, d_grads), aux = grads(state.g_params, state.d_params)

    if update_rule == "extragradient":
      g_ahead = optax.apply_updates(
          state.g_params, g_tx.update(g_grads, state.g_opt_state, state.g_params)[0])
      d_ahead = optax.apply_updates(
          state.d_params, d_tx.update(d_grads, state.d_opt_state, state.d_params)[0])
      (g_grads, d_grads), aux = grads(g_ahead, d_ahead)
    elif update_rule == "consensus":
      # ∇(½‖v‖²) = Jᵀv, one vector-Jacobian product of the gradient map.
      _, pullback, _ = jax.vjp(grads, state.g_params, state.d_params, has_aux=True)
      g_extra, d_extra = pullback((g_grads, d_grads))
      g_grads = jax.tree.map(lambda g, e: g + consensus_weight * e, g_grads, g_extra)
      d_grads = jax.tree.map(lambda g, e: g + consensus_weight * e, d_grads, d_extra)

    g_loss, d_aux, g_state, fake_logits = aux
    g_updates, g_opt_state = g_tx.update(g_grads, state.g_opt_state, state.g_params)
    d_updates, d_opt_state = d_tx.update(d_grads, state.d_opt_state, state.d_params)
    metrics = d_metrics_of(d_aux, d_grads)
    metrics.update({"g/loss": g_loss, "g/fake_logit": jnp.mean(fake_logits),
                    "g/grad_norm": optax.tree.norm(g_grads)})
    players = (optax.apply_updates(state.g_params, g_updates), g_state, g_opt_state,
               optax.apply_updates(state.d_params, d_updates), d_aux[0], d_opt_state)
    return finish(state, key, players, g_grads, metrics)

  return train_step if update_rule == "alternating" else joint_step
