"""The alternating minimax update: k discriminator steps, then one generator step.

This is Algorithm 1 of Goodfellow et al. (2014), written as one pure function of
`(state, batch)` so that `jax.jit` compiles the whole alternating update into a single
program (`alternating` below):

    for i in 1..k:                                     # discriminator
      draw z_1..z_m and take the i-th real minibatch x_1..x_m
      descend D's cost on (x, G(z))
    draw fresh z_1..z_m (or reuse the last D step's G(z))
    descend G's cost against the updated D             # generator
    update the EMA of G's parameters

The costs come composed (`jaxgan.objective`: an adversarial loss of `jaxgan.losses`, D's
regularisers, D's view of its inputs); the players are flax.linen or flax.nnx modules
(`jaxgan.players`); each player has its own optax optimizer. Policies wrap the algorithm
rather than branch inside it: mixed precision wraps the players, the data-parallel axis the
costs, the unrolled generator (Metz et al. 2017) G's cost, and `skip_nonfinite` the step.
The game-aware joint rules (simultaneous, extragradient, consensus) are `jaxgan.games.joint`.

Conditional players (`num_classes > 0`) read the labels `batch["y"]`; the generated half of
each minibatch takes the labels of its real half, so fake classes follow the data's class
frequencies.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxgan import schedules, unrolled
from jaxgan.contract import checked
from jaxgan.costs import CostFunctions, Minibatch, check_batch, make_costs
from jaxgan.games import joint
from jaxgan.gradients import accumulated, d_part, g_part, g_regularised
from jaxgan.objective import Objective, as_objective
from jaxgan.players import COMPUTE_DTYPES, as_generator, as_player
from jaxgan.state import GANState
from jaxgan import update
from jaxgan.update import (NONFINITE_CHECKS, all_finite, d_metrics, descend, ema_update, finish,
                           g_metrics, nonfinite_names)

__all__ = ["make_train_step", "alternating", "NONFINITE_CHECKS", "COMPUTE_DTYPES",
           "UPDATE_RULES", "all_finite", "ema_update", "nonfinite_names"]

Metrics = dict[str, jax.Array]
TrainStep = Callable[[GANState, Any], tuple[GANState, Metrics]]
UPDATE_RULES = ("alternating", *joint.RULES)


def make_train_step(generator, discriminator, g_tx: optax.GradientTransformation,
                    d_tx: optax.GradientTransformation,
                    objective: Objective | str = "non_saturating", *,
                    d_steps: int = 1, reuse_fake: bool = False,
                    ema_decay: schedules.Hyper = 0.999, unroll_steps: int = 0,
                    update_rule: str = "alternating", consensus_weight: float = 1.0,
                    compute_dtype: str = "float32", axis_name: str | None = None,
                    skip_nonfinite: bool = False, unroll: bool = True,
                    micro_batch: int = 0, ema_debias: bool = True) -> TrainStep:
  """Returns `train_step(state, batch) -> (state, metrics)`, one full update of both players.

  Args:
    generator, discriminator: flax.linen or flax.nnx modules, or `jaxgan.players` players.
    g_tx, d_tx: each player's optax optimizer (schedules, optimistic steps and weight
      clipping are optimizers too: `jaxgan.optim`).
    objective: a `jaxgan.objective.Objective`, or a loss name (that loss alone).
    d_steps: k, D updates per G update; `batch["x"]` has shape `(k, B, ...)`, one real
      minibatch per D update.
    reuse_fake: the G update back-propagates through the last D update's generated batch
      (one G forward pass fewer, as in PyTorch's DCGAN example) instead of fresh z.
    ema_decay: decay of the EMA of G's parameters (0 copies them); a number or a schedule
      of the step (`jaxgan.schedules.ema_half_life` gives one from a half-life in images).
    ema_debias: a constant `ema_decay` is debiased (`jaxgan.schedules.debiased`): the EMA is
      the normalised average of the weights G has had since the first update, not a mix
      that keeps β^t of its initialisation. A schedule is taken as it is (StyleGAN's
      ramp-up and R3GAN's growth from 0 remove that bias themselves).
    unroll_steps: G's cost against D after this many further differentiated steps of D's
      adversarial cost with d_tx (`jaxgan.unrolled`); 0 is the ordinary step.
    update_rule: "alternating" (Algorithm 1) or a joint rule of `jaxgan.games.joint`
      (needs d_steps = 1, no unrolling, no reuse_fake); `consensus_weight` is consensus's γ.
    compute_dtype: "float32", or "bfloat16": both players compute on bfloat16 copies of
      their float32 parameters; losses, gradients, optimizer and model state stay float32.
    axis_name: a data-parallel axis (`jax.pmap` or `shard_map`): gradients, metrics and
      model state are averaged across it, and each device draws its own slice of the global
      batch's noise, so N devices compute the update one device computes on the whole batch.
    skip_nonfinite: drop an update in which a check of `NONFINITE_CHECKS` fails (see
      `jaxgan.update.skip_nonfinite`); either way the `nonfinite` metric says which failed.
    unroll: write the k D updates out in the program (True) or as a `lax.scan` (False).
    micro_batch: m > 0 accumulates each player's gradient over m-sample parts of each
      device's minibatch (StyleGAN3's `--batch-gpu`): the same update for players without
      batch statistics, with memory that follows m (`alternating`); 0 takes it whole.

  Randomness: `key, step_key = split(state.key)`; `keys = split(step_key, k + 1)`: D update
  i draws z from `keys[i]`, the G update from `keys[k]` (or reuses the z of `keys[k - 1]`).

  Metrics: `d/loss` (adversarial), `d/penalty` (weighted regularisers), `d/real_logit`,
  `d/fake_logit`, `d/grad_norm` (means over the k D updates), `d/penalty/<name>` (each of
  D's regularisers unweighted, 0 on an update a lazy one skips), `g/loss`, `g/fake_logit`,
  `g/grad_norm`, `g/penalty` (G's weighted regularisers, when it has any) and
  `g/penalty/<name>`; `nonfinite`, a
  bit mask over `NONFINITE_CHECKS` (0 for a clean step; `nonfinite_names` decodes it), and
  `skipped`, the running count of dropped updates.
  """
  if not isinstance(d_steps, int) or d_steps < 1:
    raise ValueError(f"d_steps must be a positive int, got {d_steps!r}")
  if not callable(ema_decay) and not 0.0 <= ema_decay <= 1.0:
    raise ValueError(f"ema_decay must be in [0, 1], got {ema_decay!r}")
  if ema_debias and not callable(ema_decay) and 0.0 < ema_decay < 1.0:
    ema_decay = schedules.debiased(ema_decay)
  if not isinstance(unroll_steps, int) or unroll_steps < 0:
    raise ValueError(f"unroll_steps must be an int >= 0, got {unroll_steps!r}")
  if update_rule not in UPDATE_RULES:
    raise ValueError(f"update_rule={update_rule!r} is not accepted; choose one of: "
                     f"{', '.join(UPDATE_RULES)}")
  if update_rule != "alternating" and (d_steps != 1 or unroll_steps or reuse_fake):
    raise ValueError(f"update_rule={update_rule!r} moves both players from the same point: it "
                     f"needs d_steps=1, unroll_steps=0 and reuse_fake=False; got d_steps="
                     f"{d_steps}, unroll_steps={unroll_steps}, reuse_fake={reuse_fake}")
  if not isinstance(micro_batch, int) or micro_batch < 0:
    raise ValueError(f"micro_batch must be an int >= 0, got {micro_batch!r}")
  if micro_batch and (update_rule != "alternating" or unroll_steps or reuse_fake):
    raise ValueError(f"micro_batch={micro_batch} accumulates the alternating update's "
                     f"gradients: it needs update_rule='alternating', unroll_steps=0 and "
                     f"reuse_fake=False")
  objective = as_objective(objective)
  if objective.g_regularisers and update_rule != "alternating":
    raise ValueError(f"update_rule={update_rule!r} has no place for G's regularisers "
                     f"({', '.join(r.name for r in objective.g_regularisers)}); use "
                     f"update_rule='alternating'")
  costs = make_costs(as_generator(generator, compute_dtype),
                     as_player(discriminator, compute_dtype), objective, axis_name)
  if unroll_steps:
    costs = unrolled.unrolled(costs, d_tx, unroll_steps)
  if update_rule == "alternating":
    step = alternating(costs, g_tx, d_tx, d_steps=d_steps, reuse_fake=reuse_fake,
                       ema_decay=ema_decay, scan=not unroll, micro_batch=micro_batch)
  else:
    step = joint.joint_step(costs, g_tx, d_tx, update_rule, ema_decay, consensus_weight)
  step = update.skip_nonfinite(step) if skip_nonfinite else step
  return checked(step, g_tx, d_tx)


def alternating(costs: CostFunctions, g_tx, d_tx, *, d_steps: int, reuse_fake: bool,
                ema_decay: schedules.Hyper, scan: bool = False,
                micro_batch: int = 0) -> TrainStep:
  """Returns Algorithm 1 over `costs`: k D updates, then one G update, then the EMA. With
  `micro_batch` each gradient is accumulated over parts (`jaxgan.gradients.accumulated`)."""

  def d_update(new: GANState, grads, aux):
    """One descent step of D on its gradient (this device's) and its cost's report."""
    grads = costs.devices.mean_grads(grads)
    d_params, d_opt_state = descend(d_tx, grads, new.d_opt_state, new.d_params)
    new = new.replace(d_params=d_params, d_state=aux.d_state, d_opt_state=d_opt_state,
                      objective=aux.objective)
    return new, d_metrics(aux, grads)

  def train_step(state: GANState, batch) -> tuple[GANState, Metrics]:
    x, y = check_batch(batch, d_steps, costs.conditional)
    key, step_key = jax.random.split(state.key)
    keys = jax.random.split(step_key, d_steps + 1)
    minibatch = lambda i: Minibatch(x[i], y[i], keys[i], state.step, state.step * d_steps + i)
    z_of = lambda key: costs.noise(key, x.shape[1], x.dtype)

    def d_update_fresh(new: GANState, i):
      """A D update on the i-th real minibatch and freshly drawn z."""
      mb = minibatch(i)
      grads, ((real_logits, fake_logits), (aux, g_state)) = accumulated(
          d_part(costs, state.g_params, new), mb, z_of(mb.key), micro_batch)
      aux = aux._replace(real_logits=real_logits, fake_logits=fake_logits)
      return d_update(new.replace(g_state=g_state), grads, aux)

    # --- k - 1 discriminator updates on fresh z ---------------------------------
    new, d_logs = state, []
    if scan and d_steps > 1:
      new, logs = jax.lax.scan(d_update_fresh, new, jnp.arange(d_steps - 1))
      d_logs = [{k: v[i] for k, v in logs.items()} for i in range(d_steps - 1)]
    else:
      for i in range(d_steps - 1):
        new, log = d_update_fresh(new, i)
        d_logs.append(log)

    # --- the k-th discriminator update; its G forward may serve the G update ----
    last = minibatch(d_steps - 1)
    if reuse_fake:
      generate = lambda g_params: costs.generate(g_params, new.g_state, z_of(last.key), last.y,
                                                 last.key)
      fake, g_pullback, g_state = jax.vjp(generate, state.g_params, has_aux=True)
      (_, aux), grads = jax.value_and_grad(costs.d, has_aux=True)(
          new.d_params, new.d_state, new.objective, fake, last)
      new, log = d_update(new.replace(g_state=g_state), grads, aux)
    else:
      new, log = d_update_fresh(new, d_steps - 1)
    d_logs.append(log)

    # --- one generator update against the updated discriminator -----------------
    g_mb = last._replace(key=keys[-1])
    if reuse_fake:
      g_cost_of = lambda fake: costs.g(new.d_params, new.d_state, new.objective, fake, g_mb,
                                       new.d_opt_state)
      (g_loss, fake_logits), d_fake = jax.value_and_grad(g_cost_of, has_aux=True)(fake)
      (g_grads,) = g_pullback(d_fake)
      new, g_grads, g_reg_logs = g_regularised(costs, state.g_params, new, g_mb, g_grads)
    else:
      g_grads, (fake_logits, (g_loss, g_state, parts, g_reg_logs)) = accumulated(
          g_part(costs, state.g_params, new), g_mb, z_of(g_mb.key), micro_batch)
      new = new.replace(g_state=g_state, objective=parts)
    g_grads = costs.devices.mean_grads(g_grads)
    g_params, g_opt_state = descend(g_tx, g_grads, state.g_opt_state, state.g_params)
    new = new.replace(g_params=g_params, g_opt_state=g_opt_state)

    metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *d_logs)
    metrics.update(g_metrics(g_loss, fake_logits, g_grads), **g_reg_logs)
    return finish(state, new, key, g_grads, metrics, costs.devices, ema_decay)

  return train_step
