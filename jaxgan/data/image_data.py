"""An opened image dataset split: random-access examples and what they look like."""

import dataclasses
from typing import Any, Sequence

import numpy as np


def read_examples(source, indices) -> list[dict[str, Any]]:
  """Returns the examples of `source` at `indices`: one batched read where it has one."""
  indices = [int(i) for i in indices]
  try:
    return source.__getitems__(indices)
  except (AttributeError, TypeError):  # no batched read (tfds's mock source has another one)
    return [source[i] for i in indices]


@dataclasses.dataclass(frozen=True)
class ImageData:
  """An opened dataset split: random-access examples and what they look like."""
  name: str
  source: Sequence[dict[str, Any]]  # example i -> {"image": array, "label": int}
  num_examples: int
  image_shape: tuple[int, ...]
  dtype: np.dtype
  class_names: tuple[str, ...]  # empty when the data carry no labels
  variant: str = ""  # what sets these examples apart from `name`'s (a folder, a subset, ...)
  decodes: bool = False  # reading decodes image files: worth worker processes

  @property
  def key(self) -> str:
    """Names exactly these examples (cached reference statistics are keyed by it)."""
    return f"{self.name}-{self.variant}" if self.variant else self.name

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def read(self, indices) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns `(images, labels or None)` of the examples at `indices`."""
    examples = read_examples(self.source, indices)
    images = np.stack([np.asarray(e["image"]) for e in examples])
    if images.ndim == 3 and len(self.image_shape) == 3:
      images = images[..., None]
    labels = (np.asarray([e["label"] for e in examples], np.int32)
              if self.class_names else None)
    return images, labels

  def read_all(self, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns every example as `(images (N, ...), labels (N,) or None)`."""
    return self.joined(self.read(range(i, min(i + chunk, self.num_examples)))
                       for i in range(0, self.num_examples, chunk))

  def joined(self, parts) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns the `(images, labels or None)` parts (of `read`) as one pair, in order."""
    parts = list(parts)
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]) if self.class_names else None
    return images, labels
