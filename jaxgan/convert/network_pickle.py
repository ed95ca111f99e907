"""Reads a network pickle of NVIDIA's StyleGAN2-ADA code (or R3GAN's, which keeps its format)
as data, without running any of its code and without PyTorch.

Such a file is `pickle.dump` of a dict: `G`, `D`, `G_ema`, `augment_pipe` (ADA's, or None)
and `training_set_kwargs`. Each network is a "persistent class" instance, pickled as
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta` carries the Python
source of the module that defined the class (which the official loader executes), the class
name, and the instance's state: its `_init_kwargs` (the constructor's arguments),
`_parameters`, `_buffers` and `_modules`. Tensors are `torch._utils._rebuild_tensor_v2` of a
storage pickled as `torch.storage._load_from_bytes(bytes)`, the bytes a `torch.save` of the
storage alone.

`read(path)` uses an unpickler that admits only the globals those need. The persistence hook
is read as a `Persistent` record (class name, state); the source it carries is kept as a
string and never executed. R3GAN's training code pickles its networks by reference instead
(`training.networks.Generator`, `R3GAN.Networks.*`, torch's `ModuleList`, `Conv2d`, …): those
classes, and only those modules', are read as records the same way, never imported. Tensors become numpy arrays, parsed from the bytes here. Any other
global stops the read with its name. `state_dict(obj)` flattens a record's parameters and
buffers to the names `torch.nn.Module.state_dict()` gives.
"""

import collections
import dataclasses
import io
import pickle
import struct
import zipfile
from typing import Any

import numpy as np

from jaxgan.convert.state_dict import ConvertError

_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
             "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


@dataclasses.dataclass
class Persistent:
  """A persistent-class object read as data: its class and its pickled state."""
  class_name: str
  module_src: str
  state: dict

  @property
  def init_kwargs(self) -> dict:
    return dict(self.state.get("_init_kwargs") or {})

  def child(self, name: str) -> "Persistent":
    return self.state["_modules"][name]


# Modules whose classes a network pickle may name by reference (R3GAN's training code pickles
# its networks so, and torch's containers and layers everywhere): each is read as a record of
# its pickled state; the module is never imported.
_RECORD_MODULES = ("training.networks", "R3GAN.", "torch.nn.modules.")
_TORCH_DTYPES = ("float32", "float16", "bfloat16", "float64")
_record_types: dict[tuple[str, str], type] = {}


class _Sealed(type):
  """The stand-in classes' type: a pickle may make instances, never change the class (BUILD
  on a class sets its attributes)."""

  def __setattr__(cls, name, value):
    raise ConvertError(f"the file tries to change {cls.__name__}.{name}; refusing to load it")


class _Call:
  """An allowed function as the unpickler hands it out: callable, and not changeable by a
  BUILD (which would otherwise set attributes of the function itself)."""

  def __init__(self, fn):
    object.__setattr__(self, "fn", fn)

  def __call__(self, *args):
    return self.fn(*args)

  def __setstate__(self, state):
    raise ConvertError("the file tries to change an allowed function; refusing to load it")

  def __setattr__(self, name, value):
    raise ConvertError("the file tries to change an allowed function; refusing to load it")


def _record_type(module: str, name: str) -> type:
  """A stand-in class for `module.name`: NEWOBJ makes it, BUILD hands it the state."""
  if (module, name) not in _record_types:
    def setstate(self, state):
      Persistent.__init__(self, name, "", dict(state) if isinstance(state, dict) else {})
    _record_types[module, name] = _Sealed(name, (Persistent,), {
        "__setstate__": setstate, "__module__": __name__, "named": f"{module}.{name}"})
  return _record_types[module, name]


class _Storage:
  def __init__(self, name: str):
    if name not in _STORAGES:
      raise ConvertError(f"tensor storage {name} is not supported")
    self.dtype = np.dtype(_STORAGES[name])


def rebuild_tensor(storage, offset, size, stride, *unused):
  """The numpy array a torch tensor (storage, offset, size, stride) describes; every element
  it names must lie inside the storage (a file may say anything)."""
  del unused  # requires_grad, backward hooks, metadata
  size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
  offset, length = int(offset), len(storage)
  last = offset + sum((n - 1) * s for n, s in zip(size, stride))
  if (len(size) != len(stride) or offset < 0 or any(n < 0 for n in size)
      or any(s < 0 for s in stride) or (all(size) and not offset <= last < length)
      or (not size and not offset < length)):
    raise ConvertError(f"a tensor of size {size}, stride {stride} at offset {offset} reaches "
                       f"outside its storage of {length} elements")
  if not size:
    return np.array(storage[offset], storage.dtype)
  strides = tuple(s * storage.dtype.itemsize for s in stride)
  return np.lib.stride_tricks.as_strided(storage[offset:], size, strides).copy()


def _parameter(data, *unused):
  del unused  # requires_grad, backward hooks[, state]
  return data


def _numpy_scalar(dtype, raw=None):
  return np.frombuffer(raw, dtype)[0] if raw is not None else np.zeros((), dtype)[()]


class _EasyDict(dict, metaclass=_Sealed):
  """dnnlib's EasyDict, read as the plain dict it is."""


def _reconstruct(meta: dict) -> Persistent:
  if meta.get("type") != "class":
    raise ConvertError(f"a persistent object of type {meta.get('type')!r}; only classes are "
                       f"read")
  return Persistent(str(meta["class_name"]), str(meta.get("module_src", "")),
                    dict(meta.get("state") or {}))


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,  # a C type: not changeable
    ("torch._utils", "_rebuild_tensor_v2"): _Call(rebuild_tensor),
    ("torch._utils", "_rebuild_parameter"): _Call(_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _Call(_parameter),
    ("torch.storage", "_load_from_bytes"): _Call(lambda raw: _storage_from_bytes(raw)),
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _Call(_reconstruct),
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): np.dtype,  # a C type: not changeable
    ("numpy.core.multiarray", "scalar"): _Call(_numpy_scalar),
    ("numpy._core.multiarray", "scalar"): _Call(_numpy_scalar),
}


class _Unpickler(pickle.Unpickler):
  """Admits only `_ALLOWED`'s globals (and storages, through `load_storage`)."""

  def __init__(self, file, load_storage=None):
    super().__init__(file)
    self.load_storage = load_storage

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    if module == "torch" and name in _STORAGES:
      return _Storage(name)
    if module == "torch" and name in _TORCH_DTYPES:
      return name
    if module.startswith(_RECORD_MODULES):
      return _record_type(module, name)
    raise ConvertError(f"the file asks for {module}.{name}, which a network pickle of "
                       f"tensors and settings does not need; refusing to load it (nothing "
                       f"in it was run)")

  def persistent_load(self, pid):
    # ('storage', storage type, key, location, numel[, view metadata])
    if self.load_storage is None or not (isinstance(pid, tuple) and pid[0] == "storage"):
      raise ConvertError(f"unexpected persistent id {pid!r}")
    return self.load_storage(pid[1], str(pid[2]), int(pid[4]))


def _storage_from_bytes(raw: bytes) -> np.ndarray:
  """A storage that torch.save wrote alone (legacy stream or zip archive), as a flat array."""
  if raw[:4] == b"PK\x03\x04":
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
      pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
      prefix = pkl[:-len("data.pkl")]
      load = lambda kind, key, numel: np.frombuffer(
          archive.read(f"{prefix}data/{key}"), kind.dtype, count=numel)
      return _Unpickler(io.BytesIO(archive.read(pkl)), load).load()
  if not isinstance(raw, bytes):
    raise ConvertError(f"a stored tensor's bytes are a {type(raw).__name__}")
  f = io.BytesIO(raw)
  for _ in range(3):  # magic number, protocol version, system info: data, no globals
    _Unpickler(f).load()
  kinds = {}

  def load(kind, key, numel):
    kinds[key] = kind
    return key

  key = _Unpickler(f, load).load()
  keys = _Unpickler(f).load()
  if keys != [key]:
    raise ConvertError(f"a stored tensor's bytes hold storages {keys}, not one")
  (numel,) = struct.unpack("<q", f.read(8))
  dtype = kinds[key].dtype
  return np.frombuffer(f.read(numel * dtype.itemsize), dtype, count=numel)


# What a damaged or foreign file raises while read (a ConvertError passes through as it is).
_READ_ERRORS = (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile,
                StopIteration, ValueError, TypeError, KeyError, IndexError, AttributeError)


def read(path: str) -> dict[str, Any]:
  """Returns the pickle's top-level dict, networks as `Persistent` records."""
  try:
    with open(path, "rb") as f:
      data = _Unpickler(f).load()
  except ConvertError:
    raise
  except _READ_ERRORS as e:
    raise ConvertError(f"{path} could not be read as a network pickle: "
                       f"{type(e).__name__}: {e}") from e
  if not isinstance(data, dict) or not all(
      isinstance(data.get(name), Persistent) for name in ("G", "D")) or not isinstance(
          data.get("G_ema", data.get("G")), Persistent):
    kind = type(data).__name__ if not isinstance(data, dict) else f"dict of {sorted(data)}"
    raise ConvertError(f"{path} is a pickle of a {kind}, not a network pickle with G, D and "
                       f"G_ema")
  return data


def state_dict(obj: Persistent, prefix: str = "") -> dict[str, np.ndarray]:
  """Returns the record's parameters and buffers, and its children's, by their dotted names
  (as `torch.nn.Module.state_dict()` names them; None entries left out)."""
  out = {}
  for group in ("_parameters", "_buffers"):
    for name, value in (obj.state.get(group) or {}).items():
      if value is not None:
        out[prefix + name] = np.asarray(value)
  for name, child in (obj.state.get("_modules") or {}).items():
    if isinstance(child, Persistent):
      out.update(state_dict(child, f"{prefix}{name}."))
    elif child is not None:
      raise ConvertError(f"{prefix}{name} is a {type(child).__name__}, not a network module")
  return out


class _Deferred:
  """A tensor of a legacy torch.save file, whose storages follow the pickle that names them."""

  def __init__(self, storage, args):
    self.storage, self.args = storage, args


class _LegacyUnpickler(_Unpickler):
  """Reads a legacy file's object: tensors as `_Deferred` records of their storage keys."""

  def find_class(self, module, name):
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
      return _Call(lambda storage, *args: _Deferred(storage, args))
    return super().find_class(module, name)


def _legacy_file(f) -> Any:
  """The object of a legacy (non-zip) torch.save stream, its tensors as arrays."""
  for _ in range(3):  # magic number, protocol version, system info: data, no globals
    _Unpickler(f).load()
  kinds = {}

  def load(kind, key, numel):
    kinds[key] = (kind, numel)
    return key

  obj = _LegacyUnpickler(f, load).load()
  keys = _Unpickler(f).load()
  if not isinstance(keys, list) or set(keys) != set(kinds):
    raise ConvertError(f"the file's storages {keys!r} are not those its tensors name")
  storages = {}
  for key in keys:
    (numel,) = struct.unpack("<q", f.read(8))
    kind, expected = kinds[key]
    if numel != expected:
      raise ConvertError(f"storage {key} holds {numel} elements where its tensors say "
                         f"{expected}")
    raw = f.read(numel * kind.dtype.itemsize)
    storages[key] = np.frombuffer(raw, kind.dtype, count=numel)

  def resolve(value):
    if isinstance(value, _Deferred):
      return rebuild_tensor(storages[value.storage], *value.args)
    if isinstance(value, dict):
      return type(value)((k, resolve(v)) for k, v in value.items())
    return value

  return resolve(obj)


def read_plain(path: str) -> Any:
  """Returns the object a `torch.save` file holds (the zip format of PyTorch >= 1.6 or the
  legacy stream before it), read as data: only tensors, their storages, dicts and plain
  values are admitted."""
  try:
    with open(path, "rb") as f:
      if f.read(4) == b"PK\x03\x04":
        with zipfile.ZipFile(path) as archive:
          pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
          prefix = pkl[:-len("data.pkl")]
          load = lambda kind, key, numel: np.frombuffer(
              archive.read(f"{prefix}data/{key}"), kind.dtype, count=numel)
          data = _Unpickler(io.BytesIO(archive.read(pkl)), load).load()
      else:
        f.seek(0)
        data = _legacy_file(f)
  except ConvertError:
    raise
  except _READ_ERRORS as e:
    raise ConvertError(f"{path} could not be read as a PyTorch file: "
                       f"{type(e).__name__}: {e}") from e
  return data


def read_tensors(path: str) -> dict[str, np.ndarray]:
  """Returns the state dict a `torch.save(module.state_dict(), path)` file holds (see
  `read_plain`)."""
  data = read_plain(path)
  if not isinstance(data, dict) or not all(isinstance(v, np.ndarray) for v in data.values()):
    kind = type(data).__name__ if not isinstance(data, dict) else "dict of other values"
    raise ConvertError(f"{path} holds a {kind}, not a state dict of tensors")
  return {str(k): v for k, v in data.items()}
