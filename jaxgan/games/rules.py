"""Update rules for a two-player game min_x max_y f(x, y), each one step of a `lax.scan`.

The rules move z = (x, y) along the game's vector field v(z) = (∂f/∂x, −∂f/∂y) (both players
descend their own cost) with step size η:

- `simultaneous`: z ← z − η v(z).
- `alternating`: x ← x − η vₓ(x, y), then y ← y − η v_y(x_new, y).
- `extragradient`: look ahead z̃ = z − η v(z), then step with the field there: z ← z − η v(z̃).
- `optimistic`: z ← z − 2η v(z_t) + η v(z_(t−1)) (the first step is a plain one).
- `consensus`: z ← z − η (v(z) + γ ∇ ½‖v(z)‖²).

BUILD_NOTES.md ("Game dynamics") derives what each does on the bilinear game and near the
Dirac-GAN equilibrium; tests/test_games.py checks the trajectories against that.
"""

from typing import Callable

import jax
import jax.numpy as jnp


def vector_field(f: Callable) -> Callable:
  """Returns v(x, y) = (∂f/∂x, −∂f/∂y)."""
  grad_x, grad_y = jax.grad(f, 0), jax.grad(f, 1)
  return lambda x, y: (grad_x(x, y), -grad_y(x, y))


def _simultaneous(v, lr, z, carry):
  vx, vy = v(*z)
  return (z[0] - lr * vx, z[1] - lr * vy), carry


def _alternating(v, lr, z, carry):
  x = z[0] - lr * v(*z)[0]
  return (x, z[1] - lr * v(x, z[1])[1]), carry


def _extragradient(v, lr, z, carry):
  vx, vy = v(*z)
  vx, vy = v(z[0] - lr * vx, z[1] - lr * vy)
  return (z[0] - lr * vx, z[1] - lr * vy), carry


def _optimistic(v, lr, z, previous):
  vx, vy = v(*z)
  px, py = previous
  return (z[0] - 2 * lr * vx + lr * px, z[1] - 2 * lr * vy + lr * py), (vx, vy)


def make_consensus(gamma: float):
  def _consensus(v, lr, z, carry):
    half_norm = lambda x, y: 0.5 * sum(jnp.sum(g ** 2) for g in v(x, y))
    (vx, vy), (cx, cy) = v(*z), jax.grad(half_norm, (0, 1))(*z)
    return (z[0] - lr * (vx + gamma * cx), z[1] - lr * (vy + gamma * cy)), carry
  return _consensus


RULES = {"simultaneous": _simultaneous, "alternating": _alternating,
         "extragradient": _extragradient, "optimistic": _optimistic,
         "consensus": make_consensus(1.0)}


def trajectory(f: Callable, rule: str | Callable, z0, lr: float, steps: int) -> jax.Array:
  """Returns the (steps + 1, 2) points (x, y) that `rule` visits from z0 = (x0, y0)."""
  step = RULES[rule] if isinstance(rule, str) else rule
  v = vector_field(f)
  z0 = tuple(jnp.asarray(c, jnp.float32) for c in z0)

  def body(state, _):
    z, carry = state
    z, carry = step(v, lr, z, carry)
    return (z, carry), jnp.stack(z)

  (_, _), points = jax.lax.scan(body, (z0, v(*z0)), None, length=steps)
  return jnp.concatenate([jnp.stack(z0)[None], points])
