"""Image datasets by name, and the input pipeline that feeds them to the compiled step.

`load` prepares (once) and opens a dataset: one of ours (`fashion_mnist`, `mnist`,
`cifar10`, `array`, built from files on disk by `jaxgan.data.builders`; `image_folder`, read
as it is by `jaxgan.data.folder`) or any dataset of the TFDS catalog already prepared in the
data directory.

Batch order: step s of a run (s = `state.step`, counted from 0) takes samples
`perm_e[o : o + k*B]` where `e = s // S` is the epoch, `S = N // (k*B)` the steps per
epoch (the last partial batch of each epoch is dropped), `o = (s % S) * k*B` and
`perm_e = pipeline.epoch_order(words of data_key, e, N)` (NumPy, so that the host feed's
worker processes compute it without JAX). Both placements follow it, so a run gives the same
batches whether the data lives on the device or is streamed from the host
(`jaxgan.data.pipeline`, grain), and a resumed run continues the same sequence.
"""

import contextlib
import dataclasses
import fcntl
import os

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from jaxgan.data import builders, folder, pipeline, readers, stacked
from jaxgan.data.pipeline import steps_per_epoch
from jaxgan.data.catalog import CATALOG_PREFIX, OURS
from jaxgan.data.image_data import ImageData
from jaxgan.data.readers import DataError

# Our builders of labelled images of one fixed shape (`IMAGE_SHAPE`, `CLASS_NAMES`).
BUILDERS = {"fashion_mnist": builders.FashionMnist, "mnist": builders.Mnist,
            "cifar10": builders.Cifar10}


def _missing_message(dataset: str, manual_dir: str, builder) -> str:
  return (f"dataset {dataset!r} is not prepared and its files are not in {manual_dir}. "
          f"{builder.MANUAL_DOWNLOAD_INSTRUCTIONS} Give another folder with --manual_dir.")


def _prepare(builder, manual_dir: str | None) -> None:
  config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
  builder.download_and_prepare(download_config=config)


@contextlib.contextmanager
def _held(builder):
  """Holds an exclusive lock on preparing the builder's dataset, across processes (and hosts,
  where the file system honours `flock`): two runs started together on a fresh machine would
  otherwise both prepare it, and the second one's rename onto the first's result fails.

  The lock file is removed on the way out, so nothing is left beside the data (and a failed
  preparation leaves the data directory as it was); a run that was waiting on the removed
  file finds the dataset prepared, or prepares it itself.
  """
  root = str(builder.data_dir_root)
  os.makedirs(root, exist_ok=True)
  path = os.path.join(root, f".{builder.name}.prepare.lock")
  with open(path, "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:  # removed while still held; closing the file releases the lock
      with contextlib.suppress(OSError):
        os.remove(path)


def _prepared(make, raw_files=None):
  """Returns `make()` prepared, preparing it at most once at a time (`_held`).

  `raw_files(builder)`, run before any lock or file is made, returns the folder of the raw
  files or raises (None: the builder needs none). A builder made before another process
  finished preparing does not see the result (its info is read at construction), so it is
  made again once the lock is held.
  """
  builder = make()
  if builder.is_prepared():
    return builder
  manual_dir = raw_files(builder) if raw_files else None
  with _held(builder):
    builder = make()
    if not builder.is_prepared():
      _prepare(builder, manual_dir)
  return builder


def load(dataset: str, *, split: str = "train", data_dir: str | None = None,
         manual_dir: str | None = None, path: str | None = None, image_size: int = 64,
         channels: int = 3, fit: str = "crop", bad_images: str = "error",
         workers: int = 1) -> ImageData:
  """Returns the opened split, preparing our builders' array_record files on first use.

  Args:
    dataset: one of `OURS`, or the name of a TFDS catalog dataset already prepared (in
      array_record format) in `data_dir`; `tfds:NAME` always means the catalog.
    split: the split to read.
    data_dir: where prepared datasets live (TFDS's default when None).
    manual_dir: where the raw files of `fashion_mnist`, `mnist` and `cifar10` are. Default:
      Debian's folder for Fashion-MNIST, `<data_dir>/downloads/manual` for the others.
    path: the folder of `image_folder` or the file of `array`.
    image_size, channels, fit, bad_images: resolution, channels (1 or 3), how non-square
      images become square ("crop" or "pad") and what an undecodable file does ("error" or
      "skip") for `image_folder` (`jaxgan.data.folder`), whose files are checked once by
      `workers` processes.

  Raises:
    DataError: the files are missing (the message says which and where to put them),
      truncated or corrupt.
  """
  if dataset in stacked.NAMES:
    base = load(stacked.NAMES[dataset], split=split, data_dir=data_dir, manual_dir=manual_dir)
    return stacked.stacked(dataset, base)
  kwargs = {"data_dir": data_dir} if data_dir else {}
  if dataset in BUILDERS:
    def raw_files(builder) -> str:
      default = (builders.DEBIAN_FASHION_MNIST if dataset == "fashion_mnist"
                 else os.path.join(str(builder.data_dir_root), "downloads", "manual"))
      where = manual_dir or default
      present = (readers.cifar10_available(where) if dataset == "cifar10"
                 else not readers.idx_files_missing(where))
      if not os.path.isdir(where) or not present:
        raise DataError(_missing_message(dataset, where, builder))
      return where

    builder = _prepared(lambda: BUILDERS[dataset](file_format="array_record", **kwargs),
                        raw_files)
  elif dataset in ("image_folder", "array"):
    if not path:
      raise DataError(f"dataset {dataset!r} needs --data_path: the "
                      f"{'folder of images' if dataset == 'image_folder' else '.npy/.npz file'}")
    if dataset == "image_folder":
      return _image_folder(path, split, data_dir, image_size, channels, fit, bad_images,
                           workers)
    builder = _prepared(lambda: builders.array_file(path, **kwargs))
  else:
    return _load_catalog(dataset.removeprefix(CATALOG_PREFIX), split, data_dir)

  if split not in builder.info.splits:
    raise DataError(f"dataset {dataset!r} has no split {split!r}; it has "
                    f"{', '.join(sorted(builder.info.splits))}")
  data = _image_data(dataset, builder.as_data_source(split=split), builder.info.features)
  if dataset == "array":  # one name for every file: the builder's names this one
    data = dataclasses.replace(data, variant=builder.builder_config.name)
  return data


def _image_folder(path: str, split: str, data_dir: str | None, size: int, channels: int,
                  fit: str, bad_images: str, workers: int) -> ImageData:
  if channels not in (1, 3):
    raise DataError(f"image_folder channels={channels} is not accepted; choose 1 or 3")
  if fit not in folder.FITS:
    raise DataError(f"image_fit={fit!r} is not accepted; choose one of {', '.join(folder.FITS)}")
  if split != "train":
    raise DataError(f"an image folder has one split, train; {split!r} was asked for")
  index = folder.open_folder(path, channels, bad_images, workers, os.path.join(
      data_dir or str(tfds.core.constants.DATA_DIR), "jaxgan_image_folder"))
  if index.skipped:
    logging.warning("image_folder %s: %d undecodable file(s) skipped (--bad_images=skip): %s",
                    index.root, len(index.skipped),
                    "; ".join(f"{f} ({why})" for f, why in index.skipped[:10]))
  if index.converted:
    logging.warning("image_folder %s: %d image(s) converted to %s from another mode: %s",
                    index.root, len(index.converted), "grey" if channels == 1 else "RGB",
                    ", ".join(f"{f} ({mode})" for f, mode in index.converted[:10]))
  return ImageData(
      name="image_folder", source=folder.FolderSource(index, size, channels, fit),
      num_examples=len(index.files), image_shape=(size, size, channels), dtype=np.dtype(np.uint8),
      class_names=index.class_names, decodes=True,
      variant=f"{os.path.basename(index.root)}_{size}px_{fit}_{index.fingerprint}")


def _image_data(name: str, source, features) -> ImageData:
  """Returns the ImageData of a source whose features hold `image` (and maybe `label`)."""
  label = features["label"] if "label" in features else None
  return ImageData(
      name=name, source=source, num_examples=len(source),
      image_shape=tuple(features["image"].shape), dtype=np.dtype(features["image"].np_dtype),
      class_names=tuple(label.names) if isinstance(label, tfds.features.ClassLabel) else ())


def _load_catalog(name: str, split: str, data_dir: str | None) -> ImageData:
  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    features = tfds.builder(name, data_dir=data_dir).info.features
  except Exception as e:  # tfds raises many kinds: unknown name, not prepared, bad split
    raise DataError(f"dataset {name!r} is neither one of {', '.join(OURS)} nor a TFDS dataset "
                    f"prepared (array_record format) in the data directory "
                    f"{data_dir or '(TFDS default)'}: {e}") from e
  if "image" not in features:
    raise DataError(f"TFDS dataset {name!r} has no 'image' feature (it has "
                    f"{', '.join(features)})")
  shape = tuple(features["image"].shape)
  if any(d is None for d in shape):
    raise DataError(f"TFDS dataset {name!r} has images of varying size {shape}; export them "
                    f"to a folder and use image_folder, which resizes")
  return _image_data(name, source, features)


# --- Batch order and pixel scaling ----------------------------------------------------


def scale_pixels(x: jax.Array) -> jax.Array:
  """Returns float32 samples: uint8 pixels mapped to [-1, 1]; floats unchanged."""
  if x.dtype == jnp.uint8:
    return x.astype(jnp.float32) / 127.5 - 1.0
  return x.astype(jnp.float32)


def key_seed(data_key: jax.Array) -> tuple[int, ...]:
  """Returns the words of a JAX key as ints: the seed of `pipeline.epoch_order`."""
  return tuple(int(w) for w in np.asarray(jax.random.key_data(data_key)).ravel())


def epoch_permutation(data_key: jax.Array, epoch: int, num_examples: int) -> np.ndarray:
  """Returns the order of the examples in `epoch` (see the module doc)."""
  return pipeline.epoch_order(key_seed(data_key), epoch, num_examples)


class DeviceData:
  """The whole dataset on the device; batches are gathered inside the compiled step.

  The epoch's permutation is computed once per epoch (`permutation(step)`, on the host
  side of the loop) and passed to the compiled step, which slices its batch from it.
  """

  def __init__(self, data: ImageData, data_key: jax.Array, d_steps: int, batch_size: int,
               sharding=None, workers: int = 0):
    images, labels = pipeline.read_all(data, workers)  # decoded by `workers` processes
    self.images = jax.device_put(images, sharding)
    self.labels = None if labels is None else jax.device_put(labels.astype(np.int32), sharding)
    self.num_examples, self.data_key = data.num_examples, data_key
    self.shape = (d_steps, batch_size)
    self.per_epoch = steps_per_epoch(self.num_examples, d_steps * batch_size)
    self._epoch, self._perm = -1, None
    self._pair = None

  def permutations(self, step: int, steps: int) -> jax.Array:
    """Returns the permutations of the epochs of `step` and of `step + steps - 1`, stacked
    (2, N): what a call of `steps` steps starting at `step` gathers from."""
    epochs = (step // self.per_epoch, (step + steps - 1) // self.per_epoch)
    if self._pair is None or self._pair[0] != epochs:
      first = self.permutation(step)
      self._pair = (epochs, jnp.stack([first, self.permutation(step + steps - 1)]))
    return self._pair[1]

  def permutation(self, step: int) -> jax.Array:
    """Returns the permutation of the epoch that `step` (a Python int) falls in."""
    epoch = step // self.per_epoch
    if epoch != self._epoch:
      self._epoch = epoch
      self._perm = jnp.asarray(epoch_permutation(self.data_key, epoch, self.num_examples))
    return self._perm

  def batch(self, step, perm: jax.Array) -> dict[str, jax.Array]:
    """Returns the batch of `step` (traceable): `x` (k, B, ...) raw pixels, `y` (k, B)."""
    per_step = self.shape[0] * self.shape[1]
    idx = jax.lax.dynamic_slice(perm, ((step % self.per_epoch) * per_step,), (per_step,))
    out = {"x": self.images[idx].reshape(*self.shape, *self.images.shape[1:])}
    if self.labels is not None:
      out["y"] = self.labels[idx].reshape(self.shape)
    return out
