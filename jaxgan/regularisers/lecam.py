"""LeCam regularisation (Tseng et al. 2021), a regulariser of D with state.

R = E (D(x) − α_F)² + E (D(G(z)) − α_R)², α_R and α_F being EMAs of D's mean output on real
and generated data. It pulls each output toward the other side's running mean, which bounds
how far D can separate the two when data are few. The EMAs are the regulariser's state
(`GANState.objective["lecam"]`); they move before the cost is taken, and no gradient flows
into them.
"""

import jax
import jax.numpy as jnp

from jaxgan import schedules
from jaxgan.regularisers import regulariser as regularisers

NAME = "lecam"


def init() -> dict:
  """Returns LeCam's EMAs, both starting at 0."""
  return {"real": jnp.zeros(()), "fake": jnp.zeros(())}


def update(ema: dict, real_logits, fake_logits, decay: float) -> dict:
  """Returns the EMAs moved toward this batch's mean outputs (no gradient flows into them)."""
  real, fake = (jax.lax.stop_gradient(jnp.mean(v)) for v in (real_logits, fake_logits))
  return {"real": decay * ema["real"] + (1.0 - decay) * real,
          "fake": decay * ema["fake"] + (1.0 - decay) * fake}


def value(real_logits, fake_logits, ema: dict) -> jax.Array:
  """Returns E (D(x) − α_F)² + E (D(G(z)) − α_R)² with α from `ema` ({"real", "fake"})."""
  return (jnp.mean((real_logits - ema["fake"]) ** 2)
          + jnp.mean((fake_logits - ema["real"]) ** 2))


def check_decay(decay: float) -> None:
  """Raises ValueError unless `decay` lies in [0, 1)."""
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"lecam_decay must be in [0, 1), got {decay!r}")


def lecam(weight: schedules.Hyper, decay: float = 0.99) -> regularisers.Regulariser:
  """Returns LeCam regularisation with this weight, its EMAs decaying at `decay`."""
  check_decay(decay)

  def cost(d: regularisers.DInputs, ema):
    ema = update(ema, d.real_logits, d.fake_logits, decay)
    return value(d.real_logits, d.fake_logits, ema), ema

  return regularisers.Regulariser(NAME, cost, weight, init)
