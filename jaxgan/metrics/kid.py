"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² under a cubic kernel.

k(x, y) = (x·y / d + 1)³ on d-dimensional features. The unbiased estimate is computed on
`num_subsets` random subsets of `subset_size` samples from each set; KID is their mean and
its spread their standard deviation. Unlike FID, the estimate has no bias at small sample
sizes, so KID of two sets from one distribution averages 0.
"""

import jax
import jax.numpy as jnp
import numpy as np


def polynomial_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
  """Returns the matrix (xᵢ·yⱼ / d + 1)³."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


@jax.jit
def mmd2_unbiased(x: jax.Array, y: jax.Array) -> jax.Array:
  """Returns the unbiased MMD² of samples x (m, d) and y (n, d) under the cubic kernel."""
  m, n = x.shape[0], y.shape[0]
  k_xx, k_yy, k_xy = (polynomial_kernel(a, b) for a, b in ((x, x), (y, y), (x, y)))
  return ((jnp.sum(k_xx) - jnp.trace(k_xx)) / (m * (m - 1))
          + (jnp.sum(k_yy) - jnp.trace(k_yy)) / (n * (n - 1)) - 2.0 * jnp.mean(k_xy))


def kid(real_features, fake_features, key: jax.Array, num_subsets: int = 100,
        subset_size: int = 1000) -> tuple[float, float]:
  """Returns (mean, standard deviation) of the unbiased MMD² over random subsets.

  Each subset draws `subset_size` rows of each set without replacement (all rows when a set
  is smaller), from `key`.
  """
  real = jnp.asarray(real_features, jnp.float32)
  fake = jnp.asarray(fake_features, jnp.float32)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"features must be (n, d) with equal d; got {real.shape} and {fake.shape}")
  size = min(subset_size, real.shape[0], fake.shape[0])
  if size < 2:
    raise ValueError(f"KID needs at least 2 samples per set; got {real.shape[0]} real and "
                     f"{fake.shape[0]} generated")

  def one(k):
    k_real, k_fake = jax.random.split(k)
    pick = lambda key, a: a[jax.random.choice(key, a.shape[0], (size,), replace=False)]
    return mmd2_unbiased(pick(k_real, real), pick(k_fake, fake))

  values = np.asarray(jax.lax.map(one, jax.random.split(key, num_subsets)), np.float64)
  return float(values.mean()), float(values.std())
