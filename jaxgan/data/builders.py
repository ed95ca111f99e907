"""TFDS dataset builders that need no TensorFlow and no network: they read files on disk.

Each builder writes array_record shards that `tfds.data_source` (or `builder.as_data_source()`)
reads back with random access. Images are stored as raw uint8 tensors (zlib-compressed),
because TFDS's PNG `Image` feature needs TensorFlow to encode.

The builders are not registered in the TFDS catalog (their names would clash with the
catalog's own `mnist`, `fashion_mnist` and `cifar10`, which download from the internet);
they are stored under `jaxgan_<name>` in the data directory. `jaxgan.data.images.load`
chooses between them and the catalog.
"""

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from jaxgan.data import readers

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")


def _image_feature(shape, dtype=np.uint8):
  return tfds.features.Tensor(shape=tuple(shape), dtype=dtype,
                              encoding=tfds.features.Encoding.ZLIB)


def _examples(images, labels):
  for i, image in enumerate(images):
    example = {"image": image}
    if labels is not None:
      example["label"] = int(labels[i])
    yield i, example


class _ManualBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Labelled images of one fixed shape, read split by split from raw files in the manual
  directory by `read(directory, split) -> (images, labels)`."""
  VERSION = tfds.core.Version("1.0.0")
  IMAGE_SHAPE: tuple[int, ...]
  SPLITS: tuple[str, ...]
  CLASS_NAMES: tuple[str, ...]
  read = None  # set by each dataset: a function of (directory, split)

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict({
            "image": _image_feature(self.IMAGE_SHAPE),
            "label": tfds.features.ClassLabel(names=list(self.CLASS_NAMES))}),
        supervised_keys=("image", "label"))

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(str(dl_manager.manual_dir), split)
            for split in self.SPLITS}

  def _generate_examples(self, directory, split):
    return _examples(*type(self).read(directory, split))


class _IdxBuilder(_ManualBuilder, skip_registration=True):
  """MNIST-format data from the four IDX files (gzipped or not) in the manual directory."""
  IMAGE_SHAPE = (28, 28, 1)
  SPLITS = tuple(readers.IDX_SPLITS)
  CLASS_NAMES = tuple(str(i) for i in range(10))
  read = staticmethod(readers.read_idx_split)


class FashionMnist(_IdxBuilder, skip_registration=True):
  name = "jaxgan_fashion_mnist"
  CLASS_NAMES = FASHION_MNIST_CLASSES
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Place train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
      f"and t10k-labels-idx1-ubyte.gz in the manual directory, or run `apt-get install "
      f"dataset-fashion-mnist`, which puts them in {DEBIAN_FASHION_MNIST}.")


class Mnist(_IdxBuilder, skip_registration=True):
  name = "jaxgan_mnist"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Place train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
      "and t10k-labels-idx1-ubyte.gz (the MNIST IDX files) in the manual directory.")


class Cifar10(_ManualBuilder, skip_registration=True):
  """CIFAR-10 from the python batches (a folder or cifar-10-python.tar.gz)."""
  name = "jaxgan_cifar10"
  IMAGE_SHAPE = (32, 32, 3)
  SPLITS = tuple(readers.CIFAR10_SPLITS)
  CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck")
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Place cifar-10-python.tar.gz, or its extracted folder cifar-10-batches-py/ "
      "(data_batch_1..5, test_batch), in the manual directory.")
  read = staticmethod(readers.read_cifar10_split)


@dataclasses.dataclass(eq=False)
class ArrayConfig(tfds.core.BuilderConfig):
  """Which .npy/.npz file; `name` should identify its contents (see `array_file`)."""
  path: str = ""


class ArrayFile(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Samples (and labels) from a .npy or .npz file: any data a user has in memory."""
  name = "jaxgan_array"
  VERSION = tfds.core.Version("1.0.0")

  def _arrays(self):
    x, y = readers.read_array_file(self.builder_config.path)
    return (x if x.dtype == np.uint8 else x.astype(np.float32)), y

  def _info(self):
    x, y = self._arrays()
    features = {"image": _image_feature(x.shape[1:], x.dtype)}
    if y is not None:
      features["label"] = tfds.features.ClassLabel(num_classes=int(y.max()) + 1)
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    return _examples(*self._arrays())


def array_file(path: str, **kwargs) -> ArrayFile:
  """Returns the builder of the .npy/.npz file at `path`; its name changes with the file."""
  path = os.path.abspath(path)
  if not os.path.isfile(path):
    raise readers.DataError(f"array file {path} does not exist")
  tag = readers.folder_fingerprint([(path, 0)])
  name = f"{os.path.splitext(os.path.basename(path))[0]}_{tag}"
  return ArrayFile(config=ArrayConfig(name=readers.safe_name(name), path=path),
                   file_format="array_record",
                   **kwargs)
