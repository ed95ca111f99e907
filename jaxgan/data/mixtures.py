"""2D Gaussian mixtures sampled on the device (the PacGAN ring and grid)."""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Mixture(NamedTuple):
  """An equal-weight mixture of isotropic Gaussians with one shared sigma."""
  means: np.ndarray  # (K, D)
  sigma: float

  @property
  def num_modes(self) -> int:
    return self.means.shape[0]

  def sample(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Returns samples of shape `shape + (D,)`, drawn on the device."""
    k_mode, k_noise = jax.random.split(key)
    modes = jax.random.randint(k_mode, shape, 0, self.num_modes)
    noise = jax.random.normal(k_noise, shape + (self.means.shape[1],))
    return jnp.asarray(self.means, jnp.float32)[modes] + self.sigma * noise


def ring(num_modes: int = 8, radius: float = 1.0, sigma: float = 0.01) -> Mixture:
  """Returns `num_modes` Gaussians evenly spaced on a circle (k = 0..K-1, all distinct)."""
  angles = 2.0 * math.pi * np.arange(num_modes) / num_modes
  means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  return Mixture(means.astype(np.float32), sigma)


def grid(side: int = 5, spacing: float = 2.0, sigma: float = 0.05) -> Mixture:
  """Returns side x side Gaussians on a grid centred at the origin."""
  coords = spacing * (np.arange(side) - (side - 1) / 2.0)
  xx, yy = np.meshgrid(coords, coords, indexing="ij")
  means = np.stack([xx.ravel(), yy.ravel()], axis=1)
  return Mixture(means.astype(np.float32), sigma)


MIXTURES = {
    "ring8": lambda: ring(8, 1.0, 0.01),
    "grid25": lambda: grid(5, 2.0, 0.05),
}


def get(name: str) -> Mixture:
  """Returns the mixture named `name` (PROTOCOLS.md section 1)."""
  if name not in MIXTURES:
    raise ValueError(f"unknown 2D dataset {name!r}; accepted: {', '.join(sorted(MIXTURES))}")
  return MIXTURES[name]()
