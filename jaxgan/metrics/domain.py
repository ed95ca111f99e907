"""Offline domain metrics from a classifier of the data's own domain (`metrics.classifier`).

Named after the classifier so that they are never mistaken for FID or IS:

- `fd_<name>`: the Fréchet distance between Gaussians fitted to the classifier's penultimate
  features of real and generated samples (FID's formula, another feature space);
- `kid_<name>`: the unbiased cubic-kernel MMD² in that space (KID's formula);
- `class_kl`: KL(q ‖ p) of the generated samples' predicted-class histogram q against the
  data's class frequencies p (0 when the generator makes every class as often as the data);
- `classes_covered`: classes whose share of generated samples is at least half their share
  of the data; `class_shares` lists q;
- `conditional_accuracy`: for a conditional generator, the fraction of samples classified as
  the class they were asked for;
- `fd_<name>_per_class`: for a conditional generator, the FD of each class c between the
  samples asked for c and the real images labelled c, and `intra_fd_<name>` their mean (the
  intra-class FID of Miyato & Koyama 2018, in this feature space). Each class has about 1/K of
  the samples, so these carry more of FD's small-sample bias than `fd_<name>`: compare them
  only at equal sample counts.
"""

import jax
import numpy as np

from jaxgan.metrics import fid, kid


def class_histogram(probs: np.ndarray) -> np.ndarray:
  """Returns the share of samples predicted as each class (argmax of `probs` (N, K))."""
  k = probs.shape[1]
  return np.bincount(np.argmax(probs, axis=1), minlength=k) / probs.shape[0]


def kl(q: np.ndarray, p: np.ndarray) -> float:
  """Returns KL(q ‖ p) = Σ q log(q / p), with 0 log 0 = 0 (p > 0 wherever q > 0)."""
  q, p = np.asarray(q, np.float64), np.asarray(p, np.float64)
  if np.any((q > 0) & (p <= 0)):
    raise ValueError("KL(q || p) is infinite: q has mass where p has none")
  mask = q > 0
  return float(np.sum(q[mask] * np.log(q[mask] / p[mask])))


def fd_of(real_features: np.ndarray, fake_features: np.ndarray) -> float:
  """Returns the Fréchet distance between Gaussians fitted to two sets of features."""
  real = fid.FeatureStats(real_features.shape[1]).update(real_features)
  fake = fid.FeatureStats(fake_features.shape[1]).update(fake_features)
  return fid.frechet_distance(real.mean, real.cov, fake.mean, fake.cov)


def per_class_fd(real_features: np.ndarray, real_labels: np.ndarray, fake_features: np.ndarray,
                 requested: np.ndarray, num_classes: int) -> list[float]:
  """Returns, for each class c, the FD between the real features labelled c and the fake
  features asked for c; ValueError where a class has fewer than 2 of either."""
  result = []
  for c in range(num_classes):
    real, fake = real_features[real_labels == c], fake_features[requested == c]
    if min(len(real), len(fake)) < 2:
      raise ValueError(f"class {c} has {len(real)} real and {len(fake)} generated samples: "
                       f"its FD needs at least 2 of each")
    result.append(fd_of(real, fake))
  return result


def domain_metrics(name: str, real_features: np.ndarray, fake_features: np.ndarray,
                   fake_probs: np.ndarray, data_shares: np.ndarray, key: jax.Array,
                   requested: np.ndarray | None = None,
                   real_labels: np.ndarray | None = None) -> dict:
  """Returns the metrics above for generated samples against real ones; the per-class FDs
  where both the samples' `requested` classes and the real images' `real_labels` are given."""
  size = min(1000, len(real_features), len(fake_features))
  kid_mean, kid_std = kid.kid(real_features, fake_features, key, num_subsets=50,
                              subset_size=size)
  shares = class_histogram(fake_probs)
  result = {f"fd_{name}": fd_of(real_features, fake_features),
            f"kid_{name}": kid_mean, f"kid_{name}_std": kid_std,
            "class_kl": kl(shares, data_shares),
            "classes_covered": int(np.sum(shares >= 0.5 * np.asarray(data_shares))),
            "class_shares": [round(float(s), 4) for s in shares]}
  if requested is not None:
    result["conditional_accuracy"] = float(np.mean(np.argmax(fake_probs, axis=1)
                                                   == np.asarray(requested)))
  if requested is not None and real_labels is not None:
    try:
      per_class = per_class_fd(real_features, np.asarray(real_labels), fake_features,
                               np.asarray(requested), len(data_shares))
    except ValueError as e:
      result[f"fd_{name}_per_class"] = f"unavailable: {e}"
    else:
      result[f"fd_{name}_per_class"] = [round(v, 4) for v in per_class]
      result[f"intra_fd_{name}"] = float(np.mean(per_class))
  return result
