"""FID, KID, Inception Score and precision/recall of generated images, on the device.

`InceptionMetrics.from_path(path)` loads FID's Inception (`jaxgan.models.inception`) from the
weights file the user gives (`--inception_weights`, or the environment variable
`JAXGAN_INCEPTION_WEIGHTS`). Without a usable file there are no Inception metrics: the
evaluation reports them as unavailable with the reason, and nothing else is substituted.

Images pass through the network in batches inside one compiled program; only the 2048 pool
features and the 1008 class probabilities come back to the host. A dataset's reference
statistics are cached as .npz under `cache_dir`, keyed by dataset, split, sample count and the
weights' SHA-256, so they are computed once per dataset and weights.
"""

import dataclasses
import os
from typing import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.metrics import fid, kid, scores
from jaxgan.metrics.inception_weights import WeightsError, load_variables, sha256
from jaxgan.models.inception import InceptionV3

WEIGHTS_ENV = "JAXGAN_INCEPTION_WEIGHTS"
FEATURES_KEPT = 5000  # features kept for KID and precision/recall (FID uses all, as moments)


def weights_path(given: str | None) -> str | None:
  """Returns the weights path from the flag, else from $JAXGAN_INCEPTION_WEIGHTS, else None."""
  return given or os.environ.get(WEIGHTS_ENV) or None


@dataclasses.dataclass
class Reference:
  """A dataset's Inception statistics: moments of every sample, features of some."""
  stats: fid.FeatureStats
  features: np.ndarray  # (min(count, FEATURES_KEPT), 2048)


class InceptionMetrics:
  """Computes the Inception metrics of image batches (values in [−1, 1], NHWC)."""

  def __init__(self, variables, weights_sha256: str, batch_size: int = 100,
               weights_file: str = ""):
    self.weights_sha256, self.batch_size = weights_sha256, batch_size
    self.weights_file = weights_file
    network = InceptionV3()
    # The weights are an argument, not a closure constant: 95 MB of constants in the program
    # made compiling it take ~40 s instead of ~3.
    self.variables = jax.device_put(variables)

    @jax.jit
    def features(variables, images):
      out = network.apply(variables, images)
      return out["pool"], jax.nn.softmax(out["logits"])

    self._features = features

  @classmethod
  def from_path(cls, path: str | None, batch_size: int = 100
                ) -> tuple["InceptionMetrics | None", str]:
    """Returns (metrics, "") or (None, why the Inception metrics are unavailable)."""
    path = weights_path(path)
    if path is None:
      return None, (f"no Inception weights given (--inception_weights or ${WEIGHTS_ENV}; "
                    f"README, 'Evaluation')")
    try:
      return cls(load_variables(path), sha256(path), batch_size, os.path.abspath(path)), ""
    except WeightsError as e:
      return None, str(e)

  def features(self, batches: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Returns (pool features (N, 2048), class probabilities (N, 1008)) of image batches."""
    pools, probs = [], []
    for images in batches:
      pool, prob = self._features(self.variables, jnp.asarray(images, jnp.float32))
      pools.append(np.asarray(pool))
      probs.append(np.asarray(prob))
    return np.concatenate(pools), np.concatenate(probs)

  def reference(self, key: str, count: int, read: Callable[[int, int], np.ndarray],
                cache_dir: str | None = None) -> Reference:
    """Returns the reference statistics of `count` dataset images, cached by `key`.

    `read(start, stop)` returns images start..stop-1 in [−1, 1]; `key` names the dataset and
    split (for example "fashion_mnist-train").
    """
    path = None
    if cache_dir:
      path = os.path.join(cache_dir, f"inception-{key}-{count}-{self.weights_sha256[:12]}.npz")
      if os.path.exists(path):
        with np.load(path) as f:
          stats = fid.FeatureStats(int(f["dim"]), int(f["count"]), f["total"], f["outer"])
          return Reference(stats, f["features"])
    stats, kept = fid.FeatureStats(2048), []
    for start in range(0, count, self.batch_size):
      pool, _ = self.features([read(start, min(start + self.batch_size, count))])
      stats.update(pool)
      if sum(len(k) for k in kept) < FEATURES_KEPT:
        kept.append(pool)
    reference = Reference(stats, np.concatenate(kept)[:FEATURES_KEPT])
    if path:
      os.makedirs(cache_dir, exist_ok=True)
      tmp = f"{path}.tmp-{os.getpid()}.npz"
      np.savez(tmp, dim=2048, count=stats.count, total=stats.total, outer=stats.outer,
               features=reference.features)
      os.replace(tmp, path)
    return reference

  def evaluate(self, batches: Iterable, reference: Reference, key: jax.Array) -> dict:
    """Returns FID, KID (mean, std), IS (mean, std), precision and recall of the batches."""
    pool, probs = self.features(batches)
    stats = fid.FeatureStats(pool.shape[1]).update(pool)
    fake = pool[:FEATURES_KEPT]
    size = min(len(fake), len(reference.features), 1000)
    kid_mean, kid_std = kid.kid(reference.features, fake, key, num_subsets=100,
                                subset_size=size)
    is_mean, is_std = scores.inception_score(probs, splits=min(10, len(probs)))
    precision, recall = scores.precision_recall(reference.features, fake)
    return {"fid": fid.frechet_distance(stats.mean, stats.cov, reference.stats.mean,
                                        reference.stats.cov),
            "kid": kid_mean, "kid_std": kid_std, "inception_score": is_mean,
            "inception_score_std": is_std, "precision": precision, "recall": recall,
            "inception_samples": int(stats.count), "reference_samples": reference.stats.count,
            "inception_weights_sha256": self.weights_sha256}
