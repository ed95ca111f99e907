"""The dataset names a run accepts: the 2D mixtures, our image builders, and TFDS's catalog."""

from jaxgan.data import mixtures

# Image datasets with a builder of ours (jaxgan.data.images.load).
OURS = ("fashion_mnist", "mnist", "cifar10", "image_folder", "array", "stacked_fashion_mnist",
        "stacked_mnist")
CATALOG_PREFIX = "tfds:"  # tfds:NAME is a TFDS catalog dataset prepared in data_dir
PLACEMENTS = ("device", "host")  # the whole set on the device, or streamed from the host


def names() -> tuple[str, ...]:
  return (*sorted(mixtures.MIXTURES), *OURS)


def check(dataset: str) -> None:
  """Raises ValueError unless `dataset` is one of `names()` or tfds:NAME."""
  if dataset in names() or (dataset.startswith(CATALOG_PREFIX)
                            and len(dataset) > len(CATALOG_PREFIX)):
    return
  raise ValueError(f"dataset={dataset!r} is not accepted; choose one of: {', '.join(names())}, "
                   f"or {CATALOG_PREFIX}NAME for a TFDS catalog dataset prepared in --data_dir")
