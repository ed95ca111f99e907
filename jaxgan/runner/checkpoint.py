"""Checkpoints of a run: the whole `GANState`, and what the run needs to continue exactly.

A checkpoint is one orbax step directory, `<workdir>/checkpoints/<step>/`, holding two items:
`state` (the GANState pytree) and `meta` (JSON: the run's config, the step, a SHA-256 of the
state's bytes). Nothing else is needed to continue: the state holds the PRNG key, and the data
order is a function of the seed and the step (see `jaxgan.data`), so a run restored at step s
draws exactly the batches and noise an uninterrupted run draws after step s.

Writes are atomic: orbax writes into `<step>.orbax-checkpoint-tmp...` and renames it when
complete, so a process killed mid-write leaves only a temporary directory that restore ignores
and the next start removes. A checkpoint that fails to read or whose bytes no longer match the
hash is reported, moved aside (`<step>.corrupt-<time>`, never deleted) and the previous one
is used.
"""

import dataclasses
import hashlib
import logging as py_logging
import os
import shutil
import sys
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging

from jaxgan.parallel import to_host
from jaxgan.state import GANState

CHECKPOINT_DIR = "checkpoints"


class CheckpointError(RuntimeError):
  """No usable checkpoint can be read, or it holds another model."""


class CheckpointWriteError(CheckpointError):
  """A checkpoint could not be written (a full disk, a lost mount...)."""


def state_digest(state: Any) -> str:
  """Returns the SHA-256 of every leaf's shape, dtype and bytes, in tree order."""
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(to_host(state)):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f"{_path_name(path)}:{leaf.dtype}:{leaf.shape};".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def _path_name(path) -> str:
  """Returns 'g_params/Dense_0/kernel' for a key path (orbax's metadata tree uses dict keys
  where the state has attributes, so both are spelled alike)."""
  parts = [getattr(p, "name", getattr(p, "key", getattr(p, "idx", p))) for p in path]
  return "/".join(map(str, parts))


def _shapes(tree) -> dict[str, tuple[tuple[int, ...], str]]:
  return {_path_name(path): (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def structure_differences(saved_metadata, target) -> list[str]:
  """Returns how a checkpoint's arrays (orbax metadata) differ from the target state's."""
  saved, wanted = _shapes(saved_metadata), _shapes(target)
  diffs = [f"{p}: missing in the checkpoint" for p in wanted if p not in saved]
  diffs += [f"{p}: only in the checkpoint" for p in saved if p not in wanted]
  diffs += [f"{p}: shape {saved[p][0]} {saved[p][1]} there, {wanted[p][0]} {wanted[p][1]} here"
            for p in wanted if p in saved and saved[p] != wanted[p]]
  return diffs


# Checkpoints written before `GANState.objective` existed (main up to a5cb89b) have no such
# field and kept LeCam's EMAs in d_state["lecam"]; they restore into the new layout, their
# hash checked on the layout they were written in.
LEGACY_D_STATE_PARTS = ("lecam",)


def to_legacy_layout(state):
  """Returns `state` with the objective's legacy parts moved back into `d_state`."""
  parts = getattr(state, "objective", None) or {}
  moved = {k: v for k, v in parts.items() if k in LEGACY_D_STATE_PARTS}
  if not moved:
    return state
  return state.replace(d_state={**state.d_state, **moved},
                       objective={k: v for k, v in parts.items() if k not in moved})


def legacy_fields(state) -> dict:
  """Returns the fields of `state` as a checkpoint of the legacy layout holds them."""
  legacy = to_legacy_layout(state)
  return {f.name: getattr(legacy, f.name) for f in dataclasses.fields(legacy)
          if f.name != "objective"}


def from_legacy_layout(state):
  """Returns a state restored in the legacy layout with its parts in `objective` again."""
  moved = {k: v for k, v in state.d_state.items() if k in LEGACY_D_STATE_PARTS}
  return state.replace(d_state={k: v for k, v in state.d_state.items() if k not in moved},
                       objective={**state.objective, **moved})


class QuietOrbax(py_logging.Filter):
  """A log filter dropping orbax's INFO lines (a dozen per checkpoint) and its two warnings
  that a checkpoint manager opened to read only is read-only (which is what was asked for);
  other warnings stay (a save skipped as read-only among them)."""

  def filter(self, record):
    if "/orbax/" not in record.pathname:
      return True
    if record.levelno < py_logging.WARNING:
      return False
    message = record.getMessage()
    return not message.startswith(("Given directory is read only",
                                   "CheckpointManagerOptions.read_only=True"))


@dataclasses.dataclass(frozen=True)
class Restored:
  state: Any
  meta: dict[str, Any]
  step: int
  path: str


def find_step_dir(path: str) -> tuple[str, int | None]:
  """Returns `(checkpoints_dir, step or None for the latest)` for a path the user gave: a step
  directory, a checkpoints directory, or a workdir."""
  path = os.path.abspath(path)
  if os.path.basename(path).isdigit():
    return os.path.dirname(path), int(os.path.basename(path))
  if os.path.isdir(os.path.join(path, CHECKPOINT_DIR)):
    return os.path.join(path, CHECKPOINT_DIR), None
  return path, None


def _is_abandoned_read_callback(unraisable) -> bool:
  """Whether an unraisable exception is a late callback of a failed restore's other reads.

  When one array of a checkpoint fails to read, orbax's restore raises and closes its event
  loop while tensorstore still reads the other arrays; each of those then reports its result
  to the closed loop from tensorstore's threads, and Python prints every such RuntimeError.
  """
  tb = unraisable.exc_traceback
  while tb is not None and tb.tb_next is not None:
    tb = tb.tb_next
  return (unraisable.exc_type is RuntimeError
          and str(unraisable.exc_value) == "Event loop is closed"
          and tb is not None and tb.tb_frame.f_code.co_name in ("_check_closed",
                                                                "call_soon_threadsafe"))


class _AbandonedReadFailures(py_logging.Filter):
  """Drops asyncio's "Task (or Future) exception was never retrieved" for reads of one
  directory: the failed restore's other reads, whose failures nobody awaits once the first
  one raised."""

  UNRETRIEVED = ("Task exception was never retrieved", "Future exception was never retrieved")

  def __init__(self, directory: str):
    super().__init__()
    self.directory = directory

  def filter(self, record: py_logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    return not (record.getMessage().startswith(self.UNRETRIEVED)
                and error is not None and self.directory in str(error))


def _drop_abandoned_read_callbacks(directory: str) -> None:
  """Keeps the leftovers of a failed restore's other reads off stderr (the restore's own
  error names the failure): their callbacks to orbax's closed event loop, and asyncio's
  report of their own failures. Every other unraisable exception and asyncio message still
  goes where it went before."""
  asyncio_logger = py_logging.getLogger("asyncio")
  if not any(isinstance(f, _AbandonedReadFailures) and f.directory == directory
             for f in asyncio_logger.filters):
    asyncio_logger.addFilter(_AbandonedReadFailures(directory))
  previous = sys.unraisablehook
  if getattr(previous, "_jaxgan_drops_abandoned_reads", False):
    return

  def hook(unraisable):
    if not _is_abandoned_read_callback(unraisable):
      previous(unraisable)

  hook._jaxgan_drops_abandoned_reads = True  # pylint: disable=protected-access
  sys.unraisablehook = hook


class Checkpointer:
  """Saves and restores GANStates in one checkpoints directory, keeping the newest `keep`.

  Every process of a multi-process run makes the same calls (orbax coordinates the writes:
  each array is written once, by the process holding its first replica).
  """

  def __init__(self, directory: str, keep: int | None = None, read_only: bool = False):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=False, read_only=read_only,
        enable_async_checkpointing=False)  # BUILD_NOTES.md, "Checkpoints": why synchronous
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "meta": ocp.JsonCheckpointHandler()})

  def steps(self) -> list[int]:
    """Returns the steps of the complete checkpoints, oldest first."""
    self._manager.reload()
    if not os.path.isdir(self.directory):
      return []
    return sorted(self._manager.all_steps())

  def read_meta(self, step: int) -> dict[str, Any]:
    """Returns the JSON metadata of one checkpoint (cheap: no arrays are read)."""
    return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))[
        "meta"]

  def save(self, state, meta: dict[str, Any]) -> str:
    """Writes `state` as the checkpoint of `state.step`; returns its directory.

    Raises CheckpointWriteError (naming the step and the cause) if the write fails; the partial
    write is removed and the earlier checkpoints are untouched.
    """
    step = int(to_host(state.step))
    meta = {**meta, "step": step, "state_sha256": state_digest(state), "time": time.time()}
    os.makedirs(self.directory, exist_ok=True)
    try:
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
      self._manager.wait_until_finished()
    except Exception as e:  # orbax and tensorstore raise several types for I/O errors
      self.remove_partial_writes()
      cause = (str(e).splitlines()[0] if str(e) else type(e).__name__).rstrip(".")
      kept = [s for s in self.steps() if s != step]
      raise CheckpointWriteError(
          f"could not write the checkpoint of step {step} to {self.directory}: {cause}. "
          f"Earlier checkpoints are untouched (latest: "
          f"{kept[-1] if kept else 'none'}).") from e
    return os.path.join(self.directory, str(step))

  def remove_partial_writes(self) -> list[str]:
    """Removes what killed writes left (temporary directories); returns their names."""
    if jax.process_index() != 0 or not os.path.isdir(self.directory):
      return []
    removed = [n for n in os.listdir(self.directory) if ".orbax-checkpoint-tmp" in n]
    for name in removed:
      shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
    return removed

  def restore(self, target, step: int | None = None, move_corrupt: bool = True) -> Restored:
    """Returns the checkpoint of `step` (default: the latest) restored like `target`.

    `target` is a state of the right structure (its arrays' shapes, dtypes and shardings are
    used, not their values). An unreadable checkpoint, or one whose bytes do not match its
    hash, is logged and the previous checkpoint is tried; once one is restored, the unusable
    ones are moved aside if `move_corrupt`.
    Raises CheckpointError if the checkpoint holds arrays of another structure (another
    model), or if no checkpoint at or before `step` is usable.
    """
    steps = self.steps()
    if step is not None:
      if step not in steps:
        raise CheckpointError(f"no checkpoint of step {step} in {self.directory} (it has "
                              f"{', '.join(map(str, steps)) or 'none'})")
      steps = [s for s in steps if s <= step]
    if not steps:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    failures, corrupt = [], []
    # Before the first read: a failing read's leftovers can call back before it raises.
    _drop_abandoned_read_callbacks(self.directory)
    for candidate in reversed(steps):
      try:
        restored = self._read(candidate, abstract)
      except CheckpointError:
        raise
      except Exception as e:  # pylint: disable=broad-except
        reason = (str(e).splitlines() or [type(e).__name__])[0][:200]
        failures.append(f"step {candidate}: {reason}")
        corrupt.append(candidate)
        logging.warning("the checkpoint of step %d in %s is unreadable (%s); trying the one "
                        "before", candidate, self.directory, reason)
        continue
      if failures:
        # Moved only now that the run goes on: a failed restore leaves everything in place.
        moved = [self._move_aside(s) for s in corrupt] if move_corrupt else []
        logging.warning("resuming from step %d instead; the newer checkpoints were unusable "
                        "(%s)%s", candidate, "; ".join(failures),
                        f" and were moved to {', '.join(moved)}" if moved else "")
      return restored
    raise CheckpointError(f"no usable checkpoint in {self.directory}: " + "; ".join(failures))

  def _read(self, step: int, abstract) -> Restored:
    meta = self.read_meta(step)
    saved = self._manager.item_metadata(step)["state"]
    # A checkpoint written before GANState had its `objective` field holds no such node.
    legacy = isinstance(abstract, GANState) and "objective" not in saved.keys()
    layout = legacy_fields(abstract) if legacy else abstract
    diffs = structure_differences(saved, layout)
    if legacy:
      diffs += [f"objective/{name}: missing in the checkpoint (written before the objective "
                f"kept state)" for name in to_legacy_layout(abstract).objective]
    if diffs:
      raise CheckpointError(
          f"the checkpoint {os.path.join(self.directory, str(step))} holds another model or "
          f"state layout than this run: " + "; ".join(diffs[:5])
          + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else ""))
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(layout)))["state"]
    if legacy:
      restored = GANState(**restored)  # the layout its hash was taken in
    digest = state_digest(restored)
    if digest != meta.get("state_sha256"):
      raise ValueError(f"its arrays do not match the hash written with them ({digest[:12]} "
                       f"read, {str(meta.get('state_sha256'))[:12]} written)")
    if legacy:
      restored = from_legacy_layout(restored)
    return Restored(restored, meta, step, os.path.join(self.directory, str(step)))

  def _move_aside(self, step: int) -> str | None:
    """Renames a corrupt checkpoint so that nothing reads it or writes over it."""
    source = os.path.join(self.directory, str(step))
    target = f"{source}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    if jax.process_index() == 0 and os.path.isdir(source):
      os.rename(source, target)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      multihost_utils.sync_global_devices(f"jaxgan-move-aside-{step}")
    self._manager.reload()
    return target

  def close(self) -> None:
    self._manager.close()
