"""Stacked MNIST and Stacked Fashion-MNIST (PROTOCOLS.md §2): 1000 modes from 10 classes.

Example i stacks three images of the base training split, drawn independently and uniformly
with a fixed seed, as the R, G and B channels of one 28×28×3 image; its label is the mode
100·c_R + 10·c_G + c_B. The set has as many examples as the base split, computed on demand
from the base data (nothing is written to disk). `mode_counts` classifies each channel of
generated samples with the domain classifier and returns the number of modes hit,
KL(mode histogram ‖ uniform over 1000) and the part of it due to each channel's marginal.
"""

import numpy as np

from jaxgan.data.image_data import ImageData
from jaxgan.metrics.domain import kl

NAMES = {"stacked_fashion_mnist": "fashion_mnist", "stacked_mnist": "mnist"}
MODES = 1000
SEED = 2018  # the triples are part of the dataset's definition


class StackedSource:
  """Random-access examples of the stacked set over a base `ImageData`."""

  def __init__(self, base: ImageData, seed: int = SEED):
    if base.image_shape[-1] != 1 or base.num_classes != 10:
      raise ValueError(f"stacking needs grey 10-class images; {base.name} has shape "
                       f"{base.image_shape} and {base.num_classes} classes")
    self.base = base
    self.triples = np.random.default_rng(seed).integers(0, base.num_examples,
                                                        (base.num_examples, 3))

  def __len__(self) -> int:
    return len(self.triples)

  def __getitems__(self, indices):
    rows = self.triples[np.asarray(indices)]
    images, labels = self.base.read(rows.reshape(-1))
    images = images.reshape(len(rows), 3, *images.shape[1:3]).transpose(0, 2, 3, 1)
    codes = labels.reshape(len(rows), 3) @ np.array([100, 10, 1])
    return [{"image": im, "label": int(c)} for im, c in zip(images, codes)]

  def __getitem__(self, index):
    return self.__getitems__([index])[0]


def stacked(name: str, base: ImageData) -> ImageData:
  """Returns the stacked set `name` built on the base training split."""
  source = StackedSource(base)
  return ImageData(name=name, source=source, num_examples=len(source),
                   image_shape=(*base.image_shape[:2], 3), dtype=base.dtype,
                   class_names=tuple(f"{m:03d}" for m in range(MODES)))


def channels_of(codes) -> np.ndarray:
  """Returns the (N, 3) channel classes of modes 100·c_R + 10·c_G + c_B."""
  codes = np.asarray(codes)
  return np.stack([codes // 100, codes // 10 % 10, codes % 10], axis=1)


def _kl_to_uniform(q: np.ndarray) -> float:
  return kl(q, np.full(len(q), 1 / len(q)))


def mode_counts(channel_classes: np.ndarray) -> dict:
  """Returns modes hit and KL(q ‖ uniform) of samples' per-channel classes (N, 3).

  The KL splits exactly in two, because the uniform over 1000 modes is the product of three
  uniforms over 10 classes: `stacked_kl_channels` = Σ_c KL(q_c ‖ uniform over 10), the part
  due to each channel's class frequencies (G drawing some garments more often), and the
  rest, `stacked_kl` − `stacked_kl_channels` = Σ_c H(q_c) − H(q) ≥ 0, the channels'
  dependence on each other (G tying one channel's class to another's).
  """
  classes = np.asarray(channel_classes)
  codes = classes @ np.array([100, 10, 1])
  q = np.bincount(codes, minlength=MODES) / len(codes)
  channels = sum(_kl_to_uniform(np.bincount(classes[:, c], minlength=10) / len(classes))
                 for c in range(3))
  return {"stacked_modes": int((q > 0).sum()), "stacked_kl": _kl_to_uniform(q),
          "stacked_kl_channels": channels, "stacked_samples": int(len(codes))}


def uniform_kl_floor(num_samples: int) -> float:
  """Returns ≈ E KL(q ‖ uniform) of a perfect generator's histogram: (M − 1) / (2N)."""
  return (MODES - 1) / (2 * num_samples)

