"""Views of an opened image set: a fixed subset (the limited-data setting), x-flips, padding.

- `subset(data, n)`: the first n examples of a permutation fixed by `seed` (0 unless asked),
  so every run and seed of an experiment trains on the same n images (Karras et al. 2020's
  limited-data experiments train on subsets of 1k–30k images).
- `held_out(data, n, m)`: m examples that `subset(data, n)` leaves out, the real images
  against which D's memorising its n is measured (`jaxgan.metrics.overfit`).
- `mirrored(data)`: the examples and then their left-right mirror images, twice as many
  (StyleGAN's `--mirror`: for sets without a meaningful left and right, such as faces).
- `padded(data, size)`: each image centred on a `size` × `size` canvas of zeros, the
  background of MNIST-like sets (−1 once scaled): Fashion-MNIST at 28 px becomes the 32 px
  that models built from powers of two take. The domain classifier's metrics crop the
  centre back (`jaxgan.runner.evaluation.DomainEvaluation`).

Both read from the set they wrap on demand; nothing is written.
"""

import dataclasses

import numpy as np

from jaxgan.data.image_data import ImageData, read_examples
from jaxgan.data.readers import DataError


class _Rows:
  """Examples `rows` of a source, as a source."""

  def __init__(self, source, rows: np.ndarray):
    self.source, self.rows = source, rows

  def __len__(self) -> int:
    return len(self.rows)

  def __getitems__(self, indices):
    return read_examples(self.source, [self.rows[int(i)] for i in indices])

  def __getitem__(self, index):
    return self.__getitems__([index])[0]


def subset(data: ImageData, n: int, seed: int = 0) -> ImageData:
  """Returns the first `n` examples of `data` in a permutation fixed by `seed`."""
  if not 0 < n <= data.num_examples:
    raise DataError(f"train_subset={n} is not accepted for {data.name}: it has "
                    f"{data.num_examples} examples; give 1 to {data.num_examples}, or 0 for all")
  rows = np.sort(np.random.default_rng(seed).permutation(data.num_examples)[:n])
  return dataclasses.replace(data, source=_Rows(data.source, rows), num_examples=n,
                             variant=_joined(data.variant, f"subset{n}s{seed}"))


def held_out(data: ImageData, n: int, m: int, seed: int = 0) -> ImageData:
  """Returns `m` examples of `data` that `subset(data, n, seed)` leaves out: the next `m` of
  its permutation, in that order (so the first k of them are `held_out(data, n, k)`), real
  images a limited-data run never trains on. `n` 0 draws from the whole set."""
  if not 0 <= n < data.num_examples or not 0 < m <= data.num_examples - n:
    raise DataError(f"{m} held-out examples are not available beside a subset of {n}: "
                    f"{data.name} has {data.num_examples} examples")
  rows = np.random.default_rng(seed).permutation(data.num_examples)[n:n + m]
  return dataclasses.replace(data, source=_Rows(data.source, rows), num_examples=m,
                             variant=_joined(data.variant, f"heldout{m}of{n}s{seed}"))


class _Mirrored:
  """Examples 0..N-1 of a set, then the same N flipped left to right."""

  def __init__(self, data: ImageData):
    self.data = data

  def __len__(self) -> int:
    return 2 * self.data.num_examples

  def __getitems__(self, indices):
    n = self.data.num_examples
    indices = [int(i) for i in indices]
    images, labels = self.data.read([i % n for i in indices])
    flip = np.asarray([i >= n for i in indices], bool)
    images[flip] = images[flip, :, ::-1]
    return _examples(images, labels)

  def __getitem__(self, index):
    return self.__getitems__([index])[0]


def mirrored(data: ImageData) -> ImageData:
  """Returns `data` followed by its examples flipped left to right (2N examples)."""
  if len(data.image_shape) != 3:
    raise DataError(f"mirror needs images (H, W, C); {data.name} holds samples of shape "
                    f"{data.image_shape}")
  return dataclasses.replace(data, source=_Mirrored(data), num_examples=2 * data.num_examples,
                             variant=_joined(data.variant, "mirror"))


def _examples(images: np.ndarray, labels: np.ndarray | None) -> list[dict]:
  """Returns `read`'s arrays as a source's examples: `{"image", "label"?}` each."""
  if labels is None:
    return [{"image": im} for im in images]
  return [{"image": im, "label": int(lab)} for im, lab in zip(images, labels)]


def _joined(variant: str, more: str) -> str:
  return f"{variant}-{more}" if variant else more


class _Padded:
  """A source whose images sit centred on a larger canvas of zeros."""

  def __init__(self, data: ImageData, size: int):
    self.data, self.size = data, size
    h, w = data.image_shape[:2]
    self.top, self.left = (size - h) // 2, (size - w) // 2

  def __len__(self) -> int:
    return self.data.num_examples

  def __getitems__(self, indices):
    images, labels = self.data.read(indices)
    h, w = images.shape[1:3]
    canvas = np.zeros((len(images), self.size, self.size, *images.shape[3:]), images.dtype)
    canvas[:, self.top:self.top + h, self.left:self.left + w] = images
    return _examples(canvas, labels)

  def __getitem__(self, index):
    return self.__getitems__([index])[0]


def padded(data: ImageData, size: int) -> ImageData:
  """Returns `data` with every image centred on a `size` × `size` canvas of zeros."""
  h, w = data.image_shape[:2]
  if size < max(h, w):
    raise DataError(f"pad_to={size} is smaller than {data.name}'s {h}×{w} images; give at "
                    f"least {max(h, w)}, or 0 to keep them as they are")
  if size == h == w:
    return data
  return dataclasses.replace(data, source=_Padded(data, size),
                             image_shape=(size, size, *data.image_shape[2:]),
                             variant=_joined(data.variant, f"pad{size}"))


def centre_crop(images: np.ndarray, size: int) -> np.ndarray:
  """Returns the central `size` × `size` of images (N, H, W, C) at least that large."""
  h, w = images.shape[1:3]
  top, left = (h - size) // 2, (w - size) // 2
  return images[:, top:top + size, left:left + size]
