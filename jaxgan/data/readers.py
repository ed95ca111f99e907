"""Readers of raw dataset files, checking every file so a bad one fails loudly.

Each reader returns whole arrays (uint8 images `(N, H, W, C)`, int64 labels `(N,)`) or
raises `DataError` naming the file and what is wrong with it: a missing, truncated or
corrupt file never yields a partial dataset.
"""

import gzip
import hashlib
import os
import pickle
import tarfile
import zlib

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# IDX magic numbers: two zero bytes, the type code (0x08 = unsigned byte), the rank.
_IDX_UBYTE = 0x08


class DataError(ValueError):
  """A dataset file is missing, truncated or corrupt; the message says which and how."""


def _read_maybe_gzip(path: str) -> bytes:
  try:
    with open(path, "rb") as f:
      raw = f.read()
  except OSError as e:
    raise DataError(f"cannot read {path}: {e.strerror or e}") from e
  if raw[:2] == b"\x1f\x8b":
    try:
      return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
      raise DataError(f"{path} is not a valid gzip file (truncated or corrupt: {e})") from e
  return raw


def read_idx(path: str, rank: int) -> np.ndarray:
  """Returns the uint8 array stored in an IDX file (gzipped or not) of the given rank."""
  data = _read_maybe_gzip(path)
  header = 4 + 4 * rank
  if len(data) < header:
    raise DataError(f"{path} is truncated: {len(data)} bytes, shorter than its IDX header")
  zero, dtype_code, file_rank = int.from_bytes(data[:2], "big"), data[2], data[3]
  if zero != 0 or dtype_code != _IDX_UBYTE or file_rank != rank:
    raise DataError(f"{path} is not an IDX file of rank {rank} with unsigned bytes "
                    f"(magic number {data[:4].hex()}, expected 0000080{rank})")
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank))
  expected = header + int(np.prod(shape))
  if len(data) != expected:
    raise DataError(f"{path} holds {len(data)} bytes but its header {shape} needs {expected}: "
                    f"the file is {'truncated' if len(data) < expected else 'too long'}")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _find(directory: str, stem: str) -> str | None:
  for name in (stem, stem + ".gz"):
    if os.path.isfile(os.path.join(directory, name)):
      return os.path.join(directory, name)
  return None


IDX_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_files_missing(directory: str) -> list[str]:
  """Returns the IDX file names (without .gz) that `directory` lacks."""
  return [stem for pair in IDX_SPLITS.values() for stem in pair
          if _find(directory, stem) is None]


def read_idx_split(directory: str, split: str, num_classes: int = 10):
  """Returns `(images (N, 28, 28, 1) uint8, labels (N,) int64)` of an MNIST-format split."""
  image_stem, label_stem = IDX_SPLITS[split]
  image_path, label_path = _find(directory, image_stem), _find(directory, label_stem)
  if image_path is None or label_path is None:
    raise DataError(f"{directory} lacks {image_stem}[.gz] or {label_stem}[.gz]")
  images, labels = read_idx(image_path, 3), read_idx(label_path, 1)
  if images.shape[0] != labels.shape[0]:
    raise DataError(f"{image_path} holds {images.shape[0]} images but {label_path} holds "
                    f"{labels.shape[0]} labels")
  if labels.size and labels.max() >= num_classes:
    raise DataError(f"{label_path} has label {labels.max()}, outside 0..{num_classes - 1}")
  return images[..., None], labels.astype(np.int64)


CIFAR10_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


def _cifar_members(directory: str) -> dict[str, bytes] | None:
  """Returns {batch name: pickled bytes} from a folder of batches or the official archive."""
  for folder in (directory, os.path.join(directory, "cifar-10-batches-py")):
    names = [n for split in CIFAR10_SPLITS.values() for n in split]
    if all(os.path.isfile(os.path.join(folder, n)) for n in names):
      out = {}
      for n in names:
        with open(os.path.join(folder, n), "rb") as f:
          out[n] = f.read()
      return out
  archive = os.path.join(directory, CIFAR10_ARCHIVE)
  if os.path.isfile(archive):
    try:
      with tarfile.open(archive, "r:gz") as tar:
        return {os.path.basename(m.name): tar.extractfile(m).read()
                for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
      raise DataError(f"{archive} is truncated or corrupt: {e}") from e
  return None


def cifar10_available(directory: str) -> bool:
  return _cifar_members(directory) is not None


def read_cifar10_split(directory: str, split: str):
  """Returns `(images (N, 32, 32, 3) uint8, labels (N,) int64)` from the python batches."""
  members = _cifar_members(directory)
  if members is None:
    raise DataError(f"{directory} holds neither cifar-10-batches-py/ nor {CIFAR10_ARCHIVE}")
  images, labels = [], []
  for name in CIFAR10_SPLITS[split]:
    if name not in members:
      raise DataError(f"CIFAR-10 batch {name} is missing from {directory}")
    try:
      batch = pickle.loads(members[name], encoding="bytes")
      data = np.asarray(batch[b"data"], np.uint8)
      batch_labels = np.asarray(batch[b"labels"], np.int64)
    except Exception as e:  # pickle raises many types on bad bytes
      raise DataError(f"CIFAR-10 batch {name} in {directory} is corrupt: {e!r}") from e
    if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != batch_labels.shape[0]:
      raise DataError(f"CIFAR-10 batch {name} in {directory} has data of shape {data.shape} "
                      f"and {batch_labels.shape[0]} labels; expected (N, 3072) and N labels")
    if batch_labels.size and (batch_labels.min() < 0 or batch_labels.max() > 9):
      raise DataError(f"CIFAR-10 batch {name} has labels outside 0..9")
    images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    labels.append(batch_labels)
  return np.concatenate(images), np.concatenate(labels)


def list_image_folder(root: str) -> tuple[list[tuple[str, int]], list[str]]:
  """Returns `([(path, label)], class_names)`: one class per subfolder, or one unnamed class.

  Images directly in `root` with no class subfolders form an unlabelled set (label 0 and
  class_names == []). Mixing images in `root` with class subfolders is an error.
  """
  if not os.path.isdir(root):
    raise DataError(f"image folder {root} does not exist")

  def images_in(folder):
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(IMAGE_EXTENSIONS)
                  and os.path.isfile(os.path.join(folder, n)))

  top = images_in(root)
  classes = sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))
                   and images_in(os.path.join(root, n)))
  if top and classes:
    raise DataError(f"{root} holds both images ({os.path.basename(top[0])}, ...) and class "
                    f"subfolders ({', '.join(classes[:3])}, ...): use one layout")
  if classes:
    files = [(p, i) for i, c in enumerate(classes) for p in images_in(os.path.join(root, c))]
  else:
    files = [(p, 0) for p in top]
  if not files:
    raise DataError(f"{root} holds no images (extensions {', '.join(IMAGE_EXTENSIONS)})")
  return files, classes


def safe_name(name: str) -> str:
  """Returns `name` lower-cased with every character but letters, digits and _ as _."""
  return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name).lower()


def folder_fingerprint(files: list[tuple[str, int]], *extra) -> str:
  """Returns a short hash of file names, sizes and times (and `extra`): it changes with the data."""
  digest = hashlib.sha256(repr(extra).encode())
  for path, label in files:
    st = os.stat(path)
    digest.update(f"{path}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
  return digest.hexdigest()[:10]


def read_array_file(path: str):
  """Returns `(samples, labels or None)` from a .npy file or a .npz with x/y arrays.

  An .npz must hold `x` (or `images`) and may hold `y` (or `labels`), integers 0..C-1.
  """
  if not os.path.isfile(path):
    raise DataError(f"array file {path} does not exist")
  try:
    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
      x, y = loaded, None
    else:
      with loaded:
        keys = set(loaded.files)
        x_key = next((k for k in ("x", "images") if k in keys), None)
        if x_key is None:
          raise DataError(f"{path} holds arrays {sorted(keys)}; it needs 'x' (or 'images') "
                          f"and optionally 'y' (or 'labels')")
        y_key = next((k for k in ("y", "labels") if k in keys), None)
        x = loaded[x_key]
        y = loaded[y_key] if y_key else None
  except DataError:
    raise
  except (OSError, ValueError, EOFError, zlib.error, KeyError) as e:
    raise DataError(f"{path} is not a readable .npy/.npz file (truncated or corrupt: {e})") from e
  if x.ndim < 2 or x.shape[0] == 0:
    raise DataError(f"{path}: samples must have shape (N, ...) with N >= 1, got {x.shape}")
  if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
    raise DataError(f"{path}: samples must be uint8 pixels or floats, got dtype {x.dtype}")
  if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
    raise DataError(f"{path}: samples contain NaN or infinite values")
  if y is not None:
    y = np.asarray(y)
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
      raise DataError(f"{path}: labels must be {x.shape[0]} integers >= 0, got shape {y.shape} "
                      f"dtype {y.dtype}")
    y = y.astype(np.int64)
  if x.ndim == 3:  # (N, H, W) greyscale images get their channel axis
    x = x[..., None]
  return x, y
