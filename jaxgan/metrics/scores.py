"""Inception Score and improved precision/recall, on class probabilities and features.

- Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), p(y) the mean of the
  p(y|x) of a split; mean and standard deviation over `splits` equal splits. It is 1 when
  every sample gets the same prediction and K when K classes are each predicted with
  certainty equally often.
- Precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
  around its points with radius the distance to the k-th nearest neighbour within the set.
  Precision is the fraction of generated samples inside the real manifold; recall the
  fraction of real samples inside the generated one.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import losses


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
  """Returns (mean, std) of the Inception Score over `splits` splits of `probs` (n, K)."""
  p = np.asarray(probs, np.float64)
  if p.ndim != 2 or p.shape[0] < splits:
    raise ValueError(f"probs must be (n, K) with n >= splits={splits}; got {p.shape}")
  scores = []
  for part in np.array_split(p, splits):
    marginal = part.mean(axis=0, keepdims=True)
    # 0 · log 0 = 0: entries with p = 0 contribute nothing.
    kl = np.where(part > 0, part * (np.log(np.where(part > 0, part, 1.0)) - np.log(
        np.where(marginal > 0, marginal, 1.0))), 0.0).sum(axis=1)
    scores.append(np.exp(kl.mean()))
  return float(np.mean(scores)), float(np.std(scores))


_squared_distances = jax.jit(losses.squared_distances)


def _kth_radii(x: jax.Array, k: int, batch: int) -> jax.Array:
  """Returns each row's squared distance to its k-th nearest other row."""
  radii = []
  for start in range(0, x.shape[0], batch):
    d2 = _squared_distances(x[start:start + batch], x)
    radii.append(jnp.sort(d2, axis=1)[:, k])  # column 0 is the point itself
  return jnp.concatenate(radii)


def _inside(points: jax.Array, centres: jax.Array, radii: jax.Array, batch: int) -> jax.Array:
  """Returns whether each point lies in some ball (centre, radius²)."""
  hits = []
  for start in range(0, points.shape[0], batch):
    d2 = _squared_distances(points[start:start + batch], centres)
    hits.append(jnp.any(d2 <= radii[None, :], axis=1))
  return jnp.concatenate(hits)


def precision_recall(real_features, fake_features, k: int = 3,
                     batch: int = 1024) -> tuple[float, float]:
  """Returns (precision, recall) of generated against real features (both (n, d))."""
  real = jnp.asarray(real_features, jnp.float32)
  fake = jnp.asarray(fake_features, jnp.float32)
  if min(real.shape[0], fake.shape[0]) <= k:
    raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set; got "
                     f"{real.shape[0]} real and {fake.shape[0]} generated")
  precision = _inside(fake, real, _kth_radii(real, k, batch), batch)
  recall = _inside(real, fake, _kth_radii(fake, k, batch), batch)
  return float(jnp.mean(precision)), float(jnp.mean(recall))
