"""Gradient penalties on the discriminator, each a function of D's gradients in its input.

`d_fn` maps a batch of inputs to one logit per sample. The penalties assume the logit of a
sample depends only on that sample, so that one backward pass of the summed logits gives
every sample's own gradient. That holds for D in inference form and for spectral norm; it
does not hold for batch norm in training mode. The weights are applied by the caller
(`make_train_step(..., penalty=..., penalty_weight=...)`):

- `gp`: WGAN-GP (Gulrajani et al. 2017), E (‖∇D(x̂)‖ − 1)² on x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]
  per sample; `gp_one_sided` uses max(0, ‖∇D(x̂)‖ − 1)².
- `r1`, `r2` (Mescheder et al. 2018): ½ E‖∇D(x)‖² on real data, resp. on generated samples;
  weight γ gives the paper's (γ / 2) E‖∇D‖².
- `dragan` (Kodali et al. 2017): E (‖∇D(x̂)‖ − 1)² on x̂ = x + α δ, α ~ U[0, 1] per sample and
  δ = ½ std(x) u, u ~ U[0, 1] elementwise: points in a noisy neighbourhood of the data.

LeCam regularisation (Tseng et al. 2021) is not a gradient penalty but sits here beside them:
R = E (D(x) − α_F)² + E (D(G(z)) − α_R)², α_R and α_F being EMAs of D's mean output on real
and generated data. It pulls each output toward the other side's running mean, which bounds
how far D can separate the two when data are few. The EMAs live in `d_state["lecam"]`.
"""

from typing import Callable

import jax
import jax.numpy as jnp

PENALTIES = ("none", "gp", "gp_one_sided", "r1", "r2", "dragan")
LECAM = "lecam"  # the d_state entry holding LeCam's EMAs


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


def penalty(name: str, d_fn, real, fake, key) -> jax.Array:
  """Returns the named penalty (0 for "none"), drawing its random points from `key`."""
  if name == "none":
    return jnp.zeros(())
  eps_key, u_key = jax.random.split(key)
  if name in ("gp", "gp_one_sided"):
    eps = jax.random.uniform(eps_key, (real.shape[0],), real.dtype)
    return gradient_penalty(d_fn, real, fake, eps, one_sided=name == "gp_one_sided")
  if name == "r1":
    return zero_centred(d_fn, real)
  if name == "r2":
    return zero_centred(d_fn, fake)
  if name == "dragan":
    alpha = jax.random.uniform(eps_key, (real.shape[0],), real.dtype)
    return dragan(d_fn, real, alpha, jax.random.uniform(u_key, real.shape, real.dtype))
  raise ValueError(f"penalty={name!r} is not accepted; choose one of: {', '.join(PENALTIES)}")


def lecam_init() -> dict:
  """Returns the `d_extra` of `create_state` that holds LeCam's EMAs (both start at 0)."""
  return {LECAM: {"real": jnp.zeros(()), "fake": jnp.zeros(())}}


def lecam_update(ema: dict, real_logits, fake_logits, decay: float) -> dict:
  """Returns the EMAs moved toward this batch's mean outputs (no gradient flows into them)."""
  real, fake = (jax.lax.stop_gradient(jnp.mean(v)) for v in (real_logits, fake_logits))
  return {"real": decay * ema["real"] + (1.0 - decay) * real,
          "fake": decay * ema["fake"] + (1.0 - decay) * fake}


def lecam(real_logits, fake_logits, ema: dict) -> jax.Array:
  """Returns E (D(x) − α_F)² + E (D(G(z)) − α_R)² with α from `ema` ({"real", "fake"})."""
  return (jnp.mean((real_logits - ema["fake"]) ** 2)
          + jnp.mean((fake_logits - ema["real"]) ** 2))
