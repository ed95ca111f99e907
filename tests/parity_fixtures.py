"""The parity fixtures (`tests/data/parity/*.npz`, made by `parity/*_reference.py` from the
authors' code) and the comparison every parity test makes."""

import functools
import os

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), "data", "parity")
RTOL = 1e-5


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
  """Every array of `tests/data/parity/<name>.npz`, by its name."""
  with np.load(os.path.join(DATA, f"{name}.npz")) as f:
    return {k: f[k] for k in f.files}


def entries(name: str, prefix: str) -> dict | np.ndarray:
  """The fixture's entry `prefix`, or, for a prefix ending in "/" or ".", the entries under
  it by the rest of their names."""
  fixture = load(name)
  if not prefix.endswith(("/", ".")):
    return fixture[prefix]
  return {k[len(prefix):]: v for k, v in fixture.items() if k.startswith(prefix)}


def relative_error(got, want) -> float:
  """max |got − want| / max |want|: the difference relative to the output's range."""
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  assert got.shape == want.shape, (got.shape, want.shape)
  return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def assert_close(got, want, rtol: float = RTOL, what: str = "") -> float:
  """Asserts |got − want| ≤ rtol · max |want| everywhere; returns that fraction."""
  err = relative_error(got, want)
  print(f"{what} largest difference {err:.2e} of the output's range".strip())
  assert err <= rtol, f"{what} largest difference {err:.2e} of the output's range".strip()
  return err
