"""Fréchet distance between Gaussians fitted to features, from streamed statistics.

FID (Heusel et al. 2017) fits a Gaussian to the Inception pool features of each set and
reports ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½). The same distance in another network's
feature space is a different number and is named after that network (see
`jaxgan.metrics.domain`), never "FID".

Features arrive batch by batch from the device; `FeatureStats` keeps their count, sum and
sum of outer products in float64 on the host, so the statistics of any number of samples
take O(d²) memory and no precision is lost to float32 accumulation.
"""

import dataclasses
import os

import numpy as np


@dataclasses.dataclass
class FeatureStats:
  """Running count, sum and sum of outer products of d-dimensional features."""
  dim: int
  count: int = 0
  total: np.ndarray | None = None
  outer: np.ndarray | None = None

  def __post_init__(self):
    if self.total is None:
      self.total = np.zeros(self.dim, np.float64)
      self.outer = np.zeros((self.dim, self.dim), np.float64)

  def update(self, features) -> "FeatureStats":
    """Adds a batch of features of shape (B, dim); returns self."""
    f = np.asarray(features, np.float64).reshape(-1, self.dim)
    self.count += f.shape[0]
    self.total += f.sum(axis=0)
    self.outer += f.T @ f
    return self

  @property
  def mean(self) -> np.ndarray:
    return self.total / self.count

  @property
  def cov(self) -> np.ndarray:
    """Returns the unbiased sample covariance (as numpy.cov)."""
    if self.count < 2:
      raise ValueError(f"a covariance needs at least 2 samples; have {self.count}")
    mean = self.mean
    return (self.outer - self.count * np.outer(mean, mean)) / (self.count - 1)

  def save(self, path: str) -> None:
    """Writes mean, covariance and count to an .npz file (atomically)."""
    tmp = f"{path}.tmp-{os.getpid()}.npz"
    np.savez(tmp, mu=self.mean, sigma=self.cov, count=self.count)
    os.replace(tmp, path)


def load_stats(path: str) -> tuple[np.ndarray, np.ndarray, int]:
  """Returns `(mu, sigma, count)` saved by `FeatureStats.save`."""
  with np.load(path) as f:
    return f["mu"], f["sigma"], int(f["count"])


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Returns ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) in float64.

  Tr((Σ₁Σ₂)^½) is taken as Σᵢ √λᵢ of the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½, which has the
  eigenvalues of Σ₁Σ₂; both square roots come from symmetric eigendecompositions, so no
  complex parts or ill-conditioned matrix square root arise.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
    raise ValueError(f"statistics of different dimensions: {mu1.shape} and {mu2.shape}")
  w, v = np.linalg.eigh(sigma1)
  root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
  middle = root1 @ sigma2 @ root1
  eig = np.linalg.eigvalsh((middle + middle.T) / 2)
  trace_sqrt = float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
