"""Mode coverage of samples from a Gaussian mixture (the PacGAN protocol)."""

import math

import jax
import jax.numpy as jnp

from jaxgan.data.mixtures import Mixture

HQ_SIGMAS = 3.0  # a sample is high-quality within this many sigmas of its nearest mean


@jax.jit
def _coverage(samples, means, sigma):
  d2 = jnp.sum(jnp.square(samples[:, None, :] - means[None, :, :]), axis=-1)
  nearest = jnp.argmin(d2, axis=1)
  dist = jnp.sqrt(jnp.min(d2, axis=1))
  hq = dist < HQ_SIGMAS * sigma
  counts = jnp.zeros(means.shape[0], jnp.int32).at[nearest].add(hq.astype(jnp.int32))
  return counts, jnp.mean(hq)


def mode_coverage(samples: jax.Array, mixture: Mixture) -> dict[str, float | list[int] | None]:
  """Returns modes captured, the HQ fraction and KL(q || uniform) of the HQ histogram q.

  Each sample is assigned to its nearest mean and is high-quality (HQ) when it lies
  within 3 sigma of it. `modes` counts components with at least one HQ sample;
  `hq_fraction` is HQ samples / all samples; `reverse_kl` is KL(q || uniform) of the
  components' HQ histogram, None when no sample is HQ (q is then undefined).
  `hq_counts` is that histogram.
  """
  counts, hq = _coverage(jnp.asarray(samples, jnp.float32),
                         jnp.asarray(mixture.means), mixture.sigma)
  counts = [int(c) for c in jax.device_get(counts)]
  total = sum(counts)
  if total == 0:
    reverse_kl = None
  else:
    k = len(counts)
    reverse_kl = sum((c / total) * math.log(c / total * k) for c in counts if c > 0)
  return {"modes": sum(c > 0 for c in counts), "hq_fraction": float(hq),
          "reverse_kl": reverse_kl, "hq_counts": counts}
