"""The unrolled GAN (Metz et al. 2017): G's cost against D looked ahead a few steps.

G descends its cost against D after `steps` further descent steps of D's adversarial cost
(with D's own optimizer, from D's optimizer state) on the last minibatch, differentiated
through: G then sees how D would respond. D's own update is unchanged.
"""

import jax
import optax

from jaxgan.costs import CostFunctions


def unrolled(costs: CostFunctions, d_tx: optax.GradientTransformation, steps: int) -> CostFunctions:
  """Returns `costs` whose G cost is taken against D unrolled `steps` steps ahead.

  Step i of the look-ahead draws D's views from `fold_in(key, 10 + i)` of G's minibatch.
  Adam's √v has an infinite derivative at v = 0: give d_tx an `eps_root` > 0.
  """
  if not isinstance(steps, int) or steps < 1:
    raise ValueError(f"unroll_steps must be an int >= 1 here, got {steps!r}")

  def g_cost(d_params, d_state, parts, fake, mb, d_opt_state=None):
    if d_opt_state is None:
      raise ValueError("the unrolled G cost needs D's optimizer state (d_opt_state)")
    for i in range(steps):
      ahead = mb._replace(key=jax.random.fold_in(mb.key, 10 + i))
      grads = costs.devices.mean_grads(jax.grad(costs.d_loss)(d_params, d_state, parts, fake, ahead))
      updates, d_opt_state = d_tx.update(grads, d_opt_state, d_params)
      d_params = optax.apply_updates(d_params, updates)
    return costs.g(d_params, d_state, parts, fake, mb)

  return costs._replace(g=g_cost)
