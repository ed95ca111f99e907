"""Gradient penalties on the discriminator, each a function of D's gradients in its input.

`d_fn` maps a batch of inputs to one logit per sample. The penalties assume the logit of a
sample depends only on that sample, so that one backward pass of the summed logits gives
every sample's own gradient. That holds for D in inference form and for spectral norm; it
does not hold for batch norm in training mode. The weights are applied by the caller
(`jaxgan.regularisers.penalty(name, weight)`):

- `gp`: WGAN-GP (Gulrajani et al. 2017), E (‖∇D(x̂)‖ − 1)² on x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]
  per sample; `gp_one_sided` uses max(0, ‖∇D(x̂)‖ − 1)².
- `r1`, `r2` (Mescheder et al. 2018): ½ E‖∇D(x)‖² on real data, resp. on generated samples;
  weight γ gives the paper's (γ / 2) E‖∇D‖².
- `dragan` (Kodali et al. 2017): E (‖∇D(x̂)‖ − 1)² on x̂ = x + α δ, α ~ U[0, 1] per sample and
  δ = ½ std(x) u, u ~ U[0, 1] elementwise: points in a noisy neighbourhood of the data.
- `gp_zero` (0-GP, Thanh-Tung et al. 2019): E‖∇D(x̂)‖² on WGAN-GP's x̂, centred at 0 rather
  than 1, so that D's optimum stays flat between the data and the samples.

Each is a stateless regulariser of `jaxgan.regularisers` by name (`PENALTIES`); stateful ones
have a file of their own (LeCam: `jaxgan.regularisers.lecam`).
"""

from typing import Callable

import jax
import jax.numpy as jnp


def input_gradients(d_fn: Callable, x: jax.Array) -> jax.Array:
  """Returns ∇ₓ D(x) for each sample of `x` (same shape as x)."""
  return jax.grad(lambda v: jnp.sum(d_fn(v)))(x)


def _norms(grads: jax.Array) -> jax.Array:
  flat = grads.reshape(grads.shape[0], -1)
  # The epsilon keeps the gradient of the norm finite where the input gradient is zero.
  return jnp.sqrt(jnp.sum(flat ** 2, axis=1) + 1e-12)


def _per_sample(u: jax.Array, x: jax.Array) -> jax.Array:
  return u.reshape((x.shape[0],) + (1,) * (x.ndim - 1))


def gradient_penalty(d_fn, real, fake, eps, one_sided: bool = False) -> jax.Array:
  """Returns E (‖∇D(x̂)‖ − 1)² on x̂ = eps·real + (1 − eps)·fake (eps: one per sample)."""
  eps = _per_sample(eps, real)
  excess = _norms(input_gradients(d_fn, eps * real + (1.0 - eps) * fake)) - 1.0
  return jnp.mean(jnp.maximum(excess, 0.0) ** 2 if one_sided else excess ** 2)


def zero_centred(d_fn, x) -> jax.Array:
  """Returns ½ E‖∇D(x)‖² (R1 on real x, R2 on generated x)."""
  grads = input_gradients(d_fn, x).reshape(x.shape[0], -1)
  return 0.5 * jnp.mean(jnp.sum(grads ** 2, axis=1))


def dragan(d_fn, real, alpha, u) -> jax.Array:
  """Returns E (‖∇D(x̂)‖ − 1)² on x̂ = real + alpha·½·std(real)·u (alpha: one per sample)."""
  perturbed = real + _per_sample(alpha, real) * 0.5 * jnp.std(real) * u
  return jnp.mean((_norms(input_gradients(d_fn, perturbed)) - 1.0) ** 2)


def gp(d) -> jax.Array:
  eps = jax.random.uniform(jax.random.split(d.key)[0], (d.real.shape[0],), d.real.dtype)
  return gradient_penalty(d.d_fn, d.real, d.fake, eps)


def gp_one_sided(d) -> jax.Array:
  eps = jax.random.uniform(jax.random.split(d.key)[0], (d.real.shape[0],), d.real.dtype)
  return gradient_penalty(d.d_fn, d.real, d.fake, eps, one_sided=True)


def r1(d) -> jax.Array:
  return zero_centred(d.d_fn, d.real)


def r2(d) -> jax.Array:
  return zero_centred(d.d_fn, d.fake)


def dragan_penalty(d) -> jax.Array:
  alpha_key, u_key = jax.random.split(d.key)
  alpha = jax.random.uniform(alpha_key, (d.real.shape[0],), d.real.dtype)
  return dragan(d.d_fn, d.real, alpha, jax.random.uniform(u_key, d.real.shape, d.real.dtype))


def gp_zero(d) -> jax.Array:
  """0-GP (Thanh-Tung et al. 2019): E‖∇D(x̂)‖² on x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]."""
  eps = jax.random.uniform(jax.random.split(d.key)[0], (d.real.shape[0],), d.real.dtype)
  points = _per_sample(eps, d.real) * d.real + (1.0 - _per_sample(eps, d.real)) * d.fake
  return jnp.mean(jnp.sum(input_gradients(d.d_fn, points).reshape(d.real.shape[0], -1) ** 2, 1))


# The stateless regularisers of D by name: each maps `jaxgan.regularisers.DInputs` (d_fn,
# real, fake, ..., key) to its unweighted
# value. Adding one is a function above and a line here.
PENALTIES = {"gp": gp, "gp_one_sided": gp_one_sided, "r1": r1, "r2": r2,
             "dragan": dragan_penalty, "gp_zero": gp_zero}


def parse(spec: str) -> list[tuple[str, float | None]]:
  """Returns the penalties a spec names, in order, each with its own weight or None.

  A spec is "none", or comma-separated names of `PENALTIES`, each optionally with its weight:
  "r1,r2" (both at the run's weight), "r1:0.05,r2:0.01". Raises ValueError naming a bad
  entry and what is accepted.
  """
  entries = [] if spec.strip() == "none" else [e.strip() for e in spec.split(",")]
  found = []
  for entry in entries:
    name, _, weight = entry.partition(":")
    if name not in PENALTIES or (weight and not _is_weight(weight)):
      raise ValueError(f"penalty={spec!r}: {entry!r} is not accepted; give none, or "
                       f"comma-separated names of {', '.join(PENALTIES)}, each optionally "
                       f"with :weight (r1:0.05,r2:0.05)")
    if name in [n for n, _ in found]:
      raise ValueError(f"penalty={spec!r} names {name!r} twice")
    found.append((name, float(weight) if weight else None))
  return found


def _is_weight(text: str) -> bool:
  try:
    value = float(text)
  except ValueError:
    return False
  return value >= 0 and value == value and value != float("inf")
