"""Hyperparameters that may change over training: a number, or a function of a count.

Every scalar of the objective (regulariser weights, the class term's weight, augmentation
strength) and the EMA take a `Hyper`: a Python number, used as it is, or an optax-style
schedule `count -> value`, called inside the compiled step with the number of generator
updates so far. Learning rates and Adam's β2 are schedules of each optimizer's own count
(`jaxgan.optim`). Constants stay Python numbers, so a run without schedules compiles the
same program as before schedules existed.
"""

from typing import Callable, Union

import jax
import jax.numpy as jnp
import optax

Hyper = Union[float, Callable[[jax.Array], jax.Array]]


def at(value: Hyper, count):
  """Returns the hyperparameter's value at `count` (a constant as it is)."""
  return value(count) if callable(value) else value


def cosine(start: float, end: float, steps: int) -> optax.Schedule:
  """Returns a schedule from `start` at count 0 to `end` at `steps` along half a cosine."""
  if not isinstance(steps, int) or steps < 1:
    raise ValueError(f"a cosine schedule needs steps >= 1; got {steps!r}")

  def value(count):
    t = jnp.clip(count / steps, 0.0, 1.0)
    return end + (start - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * t))

  return value


def pegged_until(start: int, decay: Hyper) -> optax.Schedule:
  """Returns an EMA decay of 0 for the updates before the `start`-th (counted from 1), then
  `decay`: the EMA equals the weights it averages until then, as BigGAN's `ema_start` has it
  (its `ema.update(itr)` takes decay 0 while itr < start)."""
  return lambda step: jnp.where(jnp.asarray(step) + 1 < start, 0.0, at(decay, step))


GROWTHS = ("none", "cosine")  # how a value reaches its end: at once, or from 0 on a cosine


def grow(value: float, growth: str, steps: int) -> Hyper:
  """Returns `value`, or with growth "cosine" a schedule from 0 to it over `steps`."""
  if growth not in GROWTHS:
    raise ValueError(f"growth={growth!r} is not accepted; choose one of: {', '.join(GROWTHS)}")
  return cosine(0.0, float(value), steps) if growth == "cosine" else value


def debiased(decay: float) -> optax.Schedule:
  """Returns the per-step decay that makes an EMA started at the initial weights the
  normalised average of the weights after each update, as Adam debiases its moments.

  An EMA e ← β e + (1 − β) θ started at e = θ₀ keeps weight β^t on θ₀ after t updates (at
  β = 0.999 and step 800, 45 %: a run's samples then show mostly its initialisation). With
  β_t = β (1 − β^t) / (1 − β^(t+1)) at the t-th update (t from 0) it instead holds
  Σ_i β^(t−i) θ_i / Σ_i β^(t−i) over the updates so far: θ₁ after the first, and the plain
  EMA's weights once β^t is negligible."""
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"a debiased EMA needs a decay in [0, 1), got {decay!r}")

  def schedule(step):
    t = jnp.asarray(step, jnp.float32)
    return decay * (1.0 - decay ** t) / (1.0 - decay ** (t + 1.0))

  return schedule


def ema_half_life(images: float, batch_size: int, rampup: float = 0.0,
                  grow_over: int = 0) -> optax.Schedule:
  """Returns the EMA decay per step whose half-life is `images` samples seen.

  decay = 0.5 ** (batch_size / half_life), as Karras et al. (2020) set it. With `rampup`
  r > 0 the half-life is min(images, r · images seen so far) (their ramp-up, so an early EMA
  does not remember the random initialisation). With `grow_over` n > 0 the half-life grows
  from 0 to `images` over the first n steps along half a cosine (R3GAN's schedule).
  """
  if not images > 0:
    raise ValueError(f"an EMA half-life must be > 0 images; got {images!r}")
  growth = grow(images, "cosine" if grow_over else "none", grow_over)

  def decay(step):
    half_life = jnp.asarray(at(growth, step), jnp.float32)
    if rampup:
      half_life = jnp.minimum(half_life, rampup * step * batch_size)
    return 0.5 ** (batch_size / jnp.maximum(half_life, 1e-8))

  return decay
