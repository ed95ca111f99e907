"""Joint update rules for full networks: both players move from the same point.

The rules of `jaxgan.games.rules`, on the costs of `jaxgan.costs` (k = 1: one real minibatch):

- `simultaneous`: each player takes its optimizer step from the gradients at (θ, φ).
- `extragradient` (Korpelevich 1976): each player's step uses the gradients at the
  look-ahead point that both players' steps from (θ, φ) reach.
- `consensus` (Mescheder et al. 2017): both gradients plus γ ∇½‖v‖², v = the players' joint
  gradient, one vector-Jacobian product of the gradient map.

Optimistic steps are optimizers (`jaxgan.optim`), usable with any rule.
"""

import jax

from jaxgan import schedules
from jaxgan.costs import CostFunctions, Minibatch, check_batch
from jaxgan.state import GANState
from jaxgan.update import d_metrics, descend, finish, g_metrics

RULES = ("simultaneous", "extragradient", "consensus")


def joint_gradients(costs: CostFunctions, state: GANState, mb: Minibatch, z_key):
  """Returns `grads(θ, φ) -> (v, aux)`: both players' gradients at the same point.

  D descends its cost on (x, G_θ(z)); G descends its cost against D_φ on the same G_θ(z).
  v = (∇_θ G's cost, ∇_φ D's cost) is a differentiable function of (θ, φ), D's gradient
  through G_θ(z) included, so that consensus can differentiate ½‖v‖². z (and G's own
  noise) is drawn from `z_key`.
  """
  z = costs.noise(z_key, mb.x.shape[0], mb.x.dtype)
  g_mb = mb._replace(key=jax.random.fold_in(mb.key, 4))

  def g_cost(g_params, d_params):
    fake, new_g_state = costs.generate(g_params, state.g_state, z, mb.y, z_key)
    g_loss, fake_logits = costs.g(d_params, state.d_state, state.objective, fake, g_mb)
    return g_loss, (new_g_state, fake_logits)

  def grads(g_params, d_params):
    fake, _ = costs.generate(g_params, state.g_state, z, mb.y, z_key)
    (_, d_aux), d_grads = jax.value_and_grad(costs.d, has_aux=True)(
        d_params, state.d_state, state.objective, fake, mb)
    (g_loss, (new_g_state, fake_logits)), g_grads = jax.value_and_grad(
        g_cost, has_aux=True)(g_params, d_params)
    v = costs.devices.mean_grads((g_grads, d_grads))
    return v, (g_loss, d_aux, new_g_state, fake_logits)

  return grads


def joint_step(costs: CostFunctions, g_tx, d_tx, rule: str, ema_decay: schedules.Hyper,
               consensus_weight: float = 1.0):
  """Returns `train_step(state, batch)` moving both players by `rule` from the same point."""
  if rule not in RULES:
    raise ValueError(f"update_rule={rule!r} is not a joint rule; choose one of: "
                     f"{', '.join(RULES)}")

  def train_step(state: GANState, batch):
    x, y = check_batch(batch, 1, costs.conditional)
    key, step_key = jax.random.split(state.key)
    d_key, g_key = jax.random.split(step_key)
    mb = Minibatch(x[0], y[0], d_key, state.step, state.step)
    grads = joint_gradients(costs, state, mb, g_key)
    (g_grads, d_grads), aux = grads(state.g_params, state.d_params)

    if rule == "extragradient":
      g_ahead = descend(g_tx, g_grads, state.g_opt_state, state.g_params)[0]
      d_ahead = descend(d_tx, d_grads, state.d_opt_state, state.d_params)[0]
      (g_grads, d_grads), aux = grads(g_ahead, d_ahead)
    elif rule == "consensus":
      # ∇(½‖v‖²) = Jᵀv, one vector-Jacobian product of the gradient map.
      _, pullback, _ = jax.vjp(grads, state.g_params, state.d_params, has_aux=True)
      g_extra, d_extra = pullback((g_grads, d_grads))
      g_grads = jax.tree.map(lambda g, e: g + consensus_weight * e, g_grads, g_extra)
      d_grads = jax.tree.map(lambda g, e: g + consensus_weight * e, d_grads, d_extra)

    g_loss, d_aux, g_state, fake_logits = aux
    g_params, g_opt_state = descend(g_tx, g_grads, state.g_opt_state, state.g_params)
    d_params, d_opt_state = descend(d_tx, d_grads, state.d_opt_state, state.d_params)
    metrics = {**d_metrics(d_aux, d_grads), **g_metrics(g_loss, fake_logits, g_grads)}
    new = state.replace(g_params=g_params, g_state=g_state, g_opt_state=g_opt_state,
                        d_params=d_params, d_state=d_aux.d_state, d_opt_state=d_opt_state,
                        objective=d_aux.objective)
    return finish(state, new, key, g_grads, metrics, costs.devices, ema_decay)

  return train_step
