"""What every update rule does around its costs: descend, average, check, finish, skip.

These are the policies wrapped around the step's algorithm: cross-device averaging (`Devices`
in `jaxgan.costs`), the non-finite checks and `skip_nonfinite`, and the EMA of G.
"""

import jax
import jax.numpy as jnp
import optax

from jaxgan import schedules
from jaxgan.costs import DAux
from jaxgan.state import GANState

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


def ema_update(ema, params, decay):
  """Returns `decay * ema + (1 - decay) * params`, leaf by leaf."""
  return jax.tree.map(lambda e, p: e + (1.0 - decay) * (p - e), ema, params)


def descend(tx: optax.GradientTransformation, grads, opt_state, params):
  """Returns `(params, opt_state)` after one optimizer step on `grads`."""
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def d_metrics(aux: DAux, grads) -> Metrics:
  return {"d/loss": aux.loss, "d/real_logit": jnp.mean(aux.real_logits),
          "d/fake_logit": jnp.mean(aux.fake_logits), "d/grad_norm": optax.tree.norm(grads),
          "d/penalty": aux.penalty, "d/grads_finite": all_finite(grads).astype(jnp.float32),
          # r_t of Karras et al. (2020): D's overfitting heuristic, 1 when all reals score > 0
          "d/real_sign": jnp.mean(jnp.sign(aux.real_logits)), **aux.logs,
          **{f"d/penalty/{name}": value for name, value in aux.terms.items()}}


def g_metrics(g_loss, fake_logits, grads) -> Metrics:
  return {"g/loss": g_loss, "g/fake_logit": jnp.mean(fake_logits),
          "g/grad_norm": optax.tree.norm(grads)}


def finish(state: GANState, new: GANState, key, g_grads, metrics: Metrics, devices,
           ema_decay: schedules.Hyper) -> tuple[GANState, Metrics]:
  """Returns the step's new state and metrics: replicas agreed, EMA moved, checks made.

  `new` holds the players after the update; model and objective state seen by each device
  are averaged so that the state stays replicated (with cross-replica batch norm they are
  already equal).
  """
  new = new.replace(g_state=devices.mean(new.g_state), d_state=devices.mean(new.d_state),
                    objective=devices.mean(new.objective))
  metrics = devices.mean(metrics)
  # Every input below is the same on all devices, so all devices decide alike.
  failed = [~jnp.isfinite(metrics["d/loss"]), metrics.pop("d/grads_finite") < 1,
            ~all_finite((new.d_params, new.d_state, new.objective)),
            ~jnp.isfinite(metrics["g/loss"]), ~all_finite(g_grads),
            ~all_finite((new.g_params, new.g_state))]
  nonfinite = sum(f.astype(jnp.int32) << i for i, f in enumerate(failed))
  new = new.replace(step=state.step + 1, rng=jax.random.key_data(key),
                    g_ema=ema_update(state.g_ema, new.g_params,
                                     schedules.at(ema_decay, state.step)))
  metrics.update({"nonfinite": nonfinite, "skipped": new.skipped})
  return new, metrics


def skip_nonfinite(train_step):
  """Returns the step that keeps the old players, optimizers, EMA and objective state when
  any check of `NONFINITE_CHECKS` fails, and counts it in `state.skipped`; the step counter
  and the key still advance, so the next step sees new data and noise."""

  def step(state: GANState, batch):
    new, metrics = train_step(state, batch)
    keep_old = metrics["nonfinite"] != 0
    kept = jax.tree.map(lambda old, value: jnp.where(keep_old, old, value), state, new)
    new = kept.replace(step=new.step, rng=new.rng,
                       skipped=state.skipped + keep_old.astype(jnp.int32))
    return new, {**metrics, "skipped": new.skipped}

  return step
