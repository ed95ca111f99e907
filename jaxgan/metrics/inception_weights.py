"""FID Inception weights from a local file, without PyTorch: `load_variables(path)`.

The published file is pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, the TensorFlow
FID graph's weights in PyTorch's naming; its SHA-256 begins with `6726825d` (the suffix of
its name, by torch.hub's convention), which is checked when the name carries it. Accepted:

- `.pth` in either of PyTorch's formats: the zip archive (PyTorch ≥ 1.6) or the legacy
  stream of pickles. Both are read here with a restricted unpickler that builds numpy arrays
  and admits no other classes, so no PyTorch is needed and no code in the file runs.
- `.npz` with the same names (`Conv2d_1a_3x3.conv.weight`, ...), for weights converted by
  other means.

`to_variables` maps the state dict onto `jaxgan.models.inception.InceptionV3`'s variables:
conv kernels (O, I, kh, kw) → (kh, kw, I, O), the dense layer transposed, batch norm weight /
bias / running mean / running variance → scale / bias / mean / var. A missing, extra or
misshapen entry stops with its name.
"""

import hashlib
import io
import os
import pickle
import re
import struct
import zipfile

import jax
import numpy as np

from jaxgan.convert.network_pickle import rebuild_tensor as _rebuild_tensor
from jaxgan.models import inception

PUBLISHED_NAME = "pt_inception-2015-12-05-6726825d.pth"
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth$")

_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64,
                   "HalfStorage": np.float16, "LongStorage": np.int64, "IntStorage": np.int32,
                   "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
                   "BoolStorage": np.bool_, "BFloat16Storage": None}


class WeightsError(ValueError):
  """The weights file is missing, unreadable, or not the FID Inception's."""


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


class _StorageType:
  def __init__(self, name):
    if name not in _STORAGE_DTYPES or _STORAGE_DTYPES[name] is None:
      raise WeightsError(f"tensor storage {name} is not supported")
    self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Unpickler(pickle.Unpickler):
  """Admits only what a state dict of tensors needs; storages come from `load_storage`."""

  def __init__(self, file, load_storage):
    super().__init__(file)
    self.load_storage = load_storage

  def find_class(self, module, name):
    if module == "collections" and name == "OrderedDict":
      import collections
      return collections.OrderedDict
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
      return _rebuild_tensor
    if module == "torch" and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise WeightsError(f"the weights file asks for {module}.{name}, which a state dict of "
                       f"tensors does not contain; refusing to load it")

  def persistent_load(self, pid):
    # ('storage', storage_type, key, location, numel[, view_metadata])
    if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
      raise WeightsError(f"unexpected persistent id {pid!r} in the weights file")
    return self.load_storage(pid[1], str(pid[2]), int(pid[4]))


def _read_zip(path: str) -> dict:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
    if pkl is None:
      raise WeightsError(f"{path} is a zip file without data.pkl: not a PyTorch file")
    prefix = pkl[:-len("data.pkl")]

    def load_storage(storage_type, key, numel):
      raw = archive.read(f"{prefix}data/{key}")
      return np.frombuffer(raw, storage_type.dtype, count=numel)

    return _Unpickler(io.BytesIO(archive.read(pkl)), load_storage).load()


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """Returns the arrays of a .pth (either format) or .npz state dict, by name."""
  if not os.path.isfile(path):
    raise WeightsError(f"Inception weights not found at {path!r}; download {PUBLISHED_NAME} "
                       f"(pytorch-fid's FID weights) and give its path")
  match = _HASH_IN_NAME.search(os.path.basename(path))
  if match and not sha256(path).startswith(match.group(1)):
    raise WeightsError(f"{path}: its SHA-256 does not begin with {match.group(1)}, as its name "
                       f"says it should; the file is damaged or not the published one")
  try:
    if path.endswith(".npz"):
      with np.load(path) as f:
        return {k: f[k] for k in f.files}
    if zipfile.is_zipfile(path):
      return dict(_read_zip(path))
    return _read_legacy(path)
  except (pickle.UnpicklingError, EOFError, KeyError, struct.error, zipfile.BadZipFile) as e:
    raise WeightsError(f"{path} could not be read as a PyTorch state dict: {e}") from e


def _read_legacy(path: str) -> dict[str, np.ndarray]:
  """Legacy format: tensors are rebuilt once the storages' bytes, stored last, are read."""
  storages = {}

  class Legacy(_Unpickler):
    def find_class(self, module, name):
      if module == "torch._utils" and name == "_rebuild_tensor_v2":
        return lambda storage, offset, size, stride, *rest: (storage, offset, size, stride)
      return super().find_class(module, name)

  with open(path, "rb") as f:
    def no_storage(*_):
      raise WeightsError(f"{path}: a storage where the file's header belongs")

    header = lambda: _Unpickler(f, no_storage).load()  # data only: the same restrictions
    magic = header()
    if not isinstance(magic, int):
      raise WeightsError(f"{path} is not a PyTorch file (no magic number)")
    header(), header()  # protocol version, system info

    def load_storage(storage_type, key, numel):
      storages[key] = storage_type
      return key

    tensors = Legacy(f, load_storage).load()
    keys = header()
    data = {}
    for key in keys:
      (numel,) = struct.unpack("<q", f.read(8))
      dtype = storages[key].dtype
      data[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype, count=numel)
  out = {}
  for name, (key, offset, size, stride) in tensors.items():
    out[name] = _rebuild_tensor(data[key], offset, size, stride)
  return out


def to_variables(state_dict: dict[str, np.ndarray]) -> dict:
  """Returns InceptionV3's `{"params", "batch_stats"}` from a PyTorch-named state dict."""
  shapes = inception.variable_shapes()
  wanted = {}
  for collection in ("params", "batch_stats"):
    for path, leaf in jax.tree_util.tree_flatten_with_path(shapes[collection])[0]:
      keys = [p.key for p in path]
      wanted[(collection, *keys)] = (_torch_name(collection, keys), leaf.shape)
  given = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
  missing = sorted(n for n, _ in wanted.values() if n not in given)
  extra = sorted(set(given) - {n for n, _ in wanted.values()})
  if missing or extra:
    raise WeightsError(f"not the FID Inception's state dict: missing {missing[:5]}"
                       f"{' …' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
                       f"{' …' if len(extra) > 5 else ''}")
  variables = {"params": {}, "batch_stats": {}}
  for (collection, *keys), (name, shape) in wanted.items():
    value = np.asarray(given[name], np.float32)
    if keys[-1] == "kernel":
      value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
    if value.shape != tuple(shape):
      raise WeightsError(f"{name}: shape {value.shape} where the FID Inception has "
                         f"{tuple(shape)}")
    node = variables[collection]
    for k in keys[:-1]:
      node = node.setdefault(k, {})
    node[keys[-1]] = value
  return variables


_LEAF_NAMES = {("params", "kernel"): "weight", ("params", "scale"): "weight",
               ("params", "bias"): "bias", ("batch_stats", "mean"): "running_mean",
               ("batch_stats", "var"): "running_var"}


def _torch_name(collection: str, keys: list[str]) -> str:
  return ".".join(keys[:-1] + [_LEAF_NAMES[(collection, keys[-1])]])


def load_variables(path: str) -> dict:
  """Returns InceptionV3's variables read from the weights file at `path`."""
  return to_variables(read_state_dict(path))
