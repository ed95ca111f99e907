"""PyTorch-named arrays onto a flax module's variables, every name and shape checked."""

from typing import Callable, Iterable

import jax
import numpy as np


class ConvertError(ValueError):
  """The file or its arrays are not those of the network jaxgan was asked to build."""


def variable_shapes(module, *args, **kwargs) -> dict:
  """Returns the shapes of `module.init(keys, *args, **kwargs)` without computing them."""
  keys = {"params": jax.random.key(0), "noise": jax.random.key(1)}
  return jax.eval_shape(lambda: module.init(keys, *args, **kwargs))


def conv_kernel(w: np.ndarray) -> np.ndarray:
  """PyTorch's (O, I, kh, kw) as flax's (kh, kw, I, O)."""
  return np.transpose(w, (2, 3, 1, 0))


def fill(shapes: dict, given: dict[str, np.ndarray],
         torch_name: Callable[[tuple[str, ...]], str],
         layout: Callable[[tuple[str, ...], np.ndarray], np.ndarray] = lambda k, v: v,
         ignore: Iterable[str] = (), what: str = "network") -> dict:
  """Returns `shapes` (a variables tree) with each leaf taken from `given`.

  `torch_name(path)` names the array of the leaf at `path` (collection first); `layout(path,
  array)` rearranges it into the leaf's layout. Every leaf must be found with its shape, and
  every array of `given` used, except the names in `ignore`; otherwise ConvertError lists
  what is missing, extra or misshapen.
  """
  leaves = jax.tree_util.tree_flatten_with_path(shapes)[0]
  paths = [tuple(str(getattr(p, "key", p)) for p in path) for path, _ in leaves]
  names = [torch_name(p) for p in paths]
  missing = sorted(n for n in names if n not in given)
  extra = sorted(set(given) - set(names) - set(ignore))
  if missing or extra:
    raise ConvertError(f"not a {what} jaxgan can build: missing {_few(missing)}, unexpected "
                       f"{_few(extra)}")
  values = []
  for path, name, (_, leaf) in zip(paths, names, leaves):
    value = np.asarray(layout(path, np.asarray(given[name])), np.float32)
    if value.shape != tuple(leaf.shape):
      raise ConvertError(f"{name}: shape {value.shape} where jaxgan's {what} has "
                         f"{tuple(leaf.shape)} at {'/'.join(path)}")
    values.append(value)
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), values)


def _few(names: list[str], n: int = 5) -> str:
  return "[]" if not names else f"{names[:n]}{' …' if len(names) > n else ''}"
