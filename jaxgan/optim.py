"""Each player's optimizer by name, and WGAN weight clipping as an optax transformation.

- `adam`: Adam (Kingma & Ba 2015).
- `optimistic_adam`: Adam whose step adds the change of the last two Adam directions,
  u_t = −η (2 r_t − r_(t−1)) (Daskalakis et al. 2018; `optax.optimistic_adam_v2` with
  α = β = 1).
- `sgd`, `optimistic_sgd`: the same without moments: −η g_t and −η (2 g_t − g_(t−1)), the rules
  whose dynamics `jaxgan.games` derives in closed form.

`clip_weights(c)` (Arjovsky et al. 2017) goes last in D's chain: it turns the update into the
one that lands every parameter in [−c, c], which is how WGAN keeps its critic Lipschitz.
"""

import functools

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("adam", "optimistic_adam", "sgd", "optimistic_sgd")
# A learning rate over `total` updates: constant, or decayed to `end` × lr by then (R3GAN:
# cosine from 2e-4 to 5e-5, end = 0.25), and held there.
LR_SCHEDULES = {
    "constant": lambda lr, total, end=0.0: optax.constant_schedule(lr),
    "cosine": lambda lr, total, end=0.0: optax.cosine_decay_schedule(lr, total, alpha=end),
    "linear": lambda lr, total, end=0.0: optax.linear_schedule(lr, lr * end, total)}


def clip_weights(clip: float) -> optax.GradientTransformation:
  """Returns a transformation whose updates move each parameter p to clip(p + u, −c, c)."""
  if not clip > 0:
    raise ValueError(f"weight clipping needs a bound > 0; got {clip!r}")

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("clip_weights needs the parameters: call tx.update(grads, state, params)")
    updates = jax.tree.map(lambda u, p: jnp.clip(p + u, -clip, clip) - p, updates, params)
    return updates, state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def optimizer(name: str, learning_rate, b1: float = 0.5, b2: float | optax.Schedule = 0.999,
              eps_root: float = 0.0, clip: float = 0.0) -> optax.GradientTransformation:
  """Returns the optimizer `name` (a fixed rate or an optax schedule), then clipping if clip > 0.

  `b2` may be a schedule of the optimizer's count (R3GAN's cosine 0.9 → 0.99:
  `jaxgan.schedules.cosine(0.9, 0.99, total_updates)`). `eps_root` goes inside Adam's square
  root; give it > 0 when gradients flow through the update itself (the unrolled GAN), where
  √v has an infinite derivative at v = 0.
  """
  if callable(b2) and name not in ("adam", "optimistic_adam"):
    raise ValueError(f"a schedule of beta2 needs Adam; optimizer={name!r} has no beta2")
  if callable(b2):  # the schedule is evaluated on the optimizer's own count
    adam = optax.adam if name == "adam" else functools.partial(
        optax.optimistic_adam_v2, alpha=1.0, beta=1.0, nesterov=False)
    tx = optax.inject_hyperparams(adam, static_args=("eps_root",))(
        learning_rate=learning_rate, b1=b1, b2=b2, eps_root=eps_root)
  elif name == "adam":
    tx = optax.adam(learning_rate, b1=b1, b2=b2, eps_root=eps_root)
  elif name == "optimistic_adam":
    tx = optax.optimistic_adam_v2(learning_rate, alpha=1.0, beta=1.0, b1=b1, b2=b2,
                                  eps_root=eps_root, nesterov=False)
  elif name == "sgd":
    tx = optax.sgd(learning_rate)
  elif name == "optimistic_sgd":
    tx = optax.optimistic_gradient_descent(learning_rate, alpha=1.0, beta=1.0)
  else:
    raise ValueError(f"optimizer={name!r} is not accepted; choose one of: {', '.join(OPTIMIZERS)}")
  return optax.chain(tx, clip_weights(clip)) if clip else tx
