"""A run's working directory: what is already there, and whether this run may continue it.

`plan` only reads. It decides where the run starts (fresh, the workdir's latest checkpoint, or
a checkpoint the user named) and refuses, before anything is written, a workdir that holds a
run of another configuration. What the plan moves (a run being started over, checkpoints
after the one being rewound to) goes to `<workdir>/archive/<time>/`: nothing is deleted.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Any

import jax
import numpy as np
from absl import logging

from jaxgan.runner.checkpoint import CHECKPOINT_DIR, Checkpointer, find_step_dir
from jaxgan.runner.config import Config, ConfigError, from_saved
from jaxgan.models.registry import resolve_d_norm
from jaxgan.parallel import to_host
from jaxgan.runner.pictures import GRID_FILE
from jaxgan.runner.writers import write_json_atomically, write_text_atomically

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
ARCHIVE_DIR = "archive"
OUTPUTS = (METRICS_FILE, SUMMARY_FILE, CONFIG_FILE, CHECKPOINT_DIR)

# What a continued run may change: where the data lives and what is logged, never what is
# trained. `num_steps` and `schedule_steps` may change too when every schedule keeps its
# horizon (`_same_schedules`).
CHANGEABLE_ON_RESUME = frozenset({
    "data_dir", "manual_dir", "data_path", "data_placement", "data_workers", "log_every",
    "eval_every", "eval_samples", "grid_size", "tensorboard", "checkpoint_every",
    "keep_checkpoints", "on_nonfinite", "inception_weights", "fid_samples", "fid_cache_dir",
    "domain_samples", "overfit_images"})


class WorkdirError(ConfigError):
  """The workdir cannot be written, or holds a run this one may not continue."""


def check_writable(workdir: str) -> None:
  """Raises WorkdirError unless `workdir` is, or can be created as, a writable directory.

  Writes only a probe file, removed at once; creates nothing.
  """
  path = os.path.abspath(workdir)
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    what = "is" if existing == path else f"lies under {existing}, which is"
    raise WorkdirError(f"--workdir={workdir} is not writable: it {what} a file, not a directory")
  try:
    with tempfile.TemporaryFile(dir=existing):
      pass
  except OSError as e:
    raise WorkdirError(f"--workdir={workdir} is not writable: cannot create files in "
                       f"{existing} ({e.strerror or e})") from e


def config_differences(saved: dict[str, Any], config: Config) -> list[str]:
  """Returns `name: saved -> now` for each field a continued run may not change."""
  now = config.to_dict()
  if "d_features" not in saved and saved.get("model") == "mlp":
    saved = {**saved, "d_norm": "none"}  # saved before d_norm applied to MLPs: it had none
  # A field added to Config after the run was saved counts as its default there; what else
  # the record holds (a converted network's origin and image shape) is not a setting.
  defaults = Config().to_dict()
  saved = {**defaults, **from_saved(saved)}
  saved["d_norm"], now["d_norm"] = (resolve_d_norm(c["d_norm"], c["model"])
                                    for c in (saved, now))
  changeable = set(CHANGEABLE_ON_RESUME)
  if _same_schedules(saved, config):
    changeable |= {"num_steps", "schedule_steps"}
  if not config.step.debiases(config.horizon, config.run.batch_size):
    changeable.add("ema_debias")  # a scheduled EMA (ramp-up, growth) is taken as it is
  return [f"{name}: {saved.get(name, '(absent)')!r} there, {now.get(name, '(absent)')!r} now"
          for name in sorted(set(saved) | set(now))
          if name not in changeable and saved.get(name) != now.get(name)]


def _same_schedules(saved: dict[str, Any], now: Config) -> bool:
  """Whether a run may end at another step: its schedules span the same steps as before
  (say a run extended with `--schedule_steps` held), or none depends on the horizon."""
  fields = Config().to_dict()
  before = Config(**{k: v for k, v in from_saved(saved).items() if k in fields})
  return before.horizon == now.horizon or not (before.uses_horizon or now.uses_horizon)


def _run_files(workdir: str) -> list[str]:
  if not os.path.isdir(workdir):
    return []
  return sorted(n for n in os.listdir(workdir) if n in OUTPUTS or GRID_FILE.fullmatch(n)
                or n in ("samples.png", "samples.gif", "losses.png") or n.startswith("events."))


@dataclasses.dataclass
class Plan:
  """Where a run starts, and what to move aside first."""
  workdir: str
  checkpoints: Checkpointer           # the workdir's own
  source: Checkpointer | None = None  # where to restore from (None: a fresh start)
  source_step: int | None = None      # None: the latest there
  archive_all: bool = False           # start over: move the previous run aside
  own_source: bool = False            # restoring from the workdir's own checkpoints

  def archive(self, names: list[str]) -> str | None:
    """Moves workdir entries to a new `archive/<time>/`; returns it (None if nothing to move)."""
    names = [n for n in names if os.path.exists(os.path.join(self.workdir, n))]
    if not names or jax.process_index() != 0:
      return None
    target = os.path.join(self.workdir, ARCHIVE_DIR, time.strftime("%Y%m%d-%H%M%S"))
    while os.path.exists(target):
      target += "+"
    os.makedirs(target)
    for name in names:
      os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
      shutil.move(os.path.join(self.workdir, name), os.path.join(target, name))
    self.checkpoints.steps()  # reload the manager's view
    return target

  def start_over(self) -> str | None:
    """Moves the previous run's files aside; returns where they went."""
    return self.archive(_run_files(self.workdir))

  def after_restore(self, step: int) -> str | None:
    """Archives what lies beyond `step` in the workdir (checkpoints, sample grids, metrics
    lines) when an earlier checkpoint was chosen."""
    later = [s for s in self.checkpoints.steps() if s > step]
    grids = [n for n in _run_files(self.workdir)
             if GRID_FILE.fullmatch(n) and int(GRID_FILE.fullmatch(n).group(1)) > step]
    if not later:
      return None
    target = self.archive([os.path.join(CHECKPOINT_DIR, str(s)) for s in later] + grids)
    metrics = os.path.join(self.workdir, METRICS_FILE)
    if target and os.path.exists(metrics):
      shutil.copy2(metrics, os.path.join(target, METRICS_FILE))
    return target


def plan(workdir: str, config: Config, resume_from: str | None = None,
         start_over: bool = False) -> Plan:
  """Decides where the run in `workdir` starts; raises WorkdirError where it may not.

  Reads only: nothing in `workdir` or `resume_from` changes.
  """
  check_writable(workdir)
  own = Checkpointer(os.path.join(workdir, CHECKPOINT_DIR), keep=config.run.keep_checkpoints)
  result = Plan(os.path.abspath(workdir), own, archive_all=start_over)
  own_steps = own.steps()
  files = _run_files(workdir)
  if resume_from:
    directory, step = find_step_dir(resume_from)
    result.own_source = os.path.abspath(directory) == own.directory
    if result.own_source and start_over:
      raise WorkdirError(f"--resume_from={resume_from} lies in --workdir={workdir}, which "
                         f"--start_over would move aside; give one of the two")
    if not result.own_source and (own_steps or files) and not start_over:
      held = f"checkpoints up to step {own_steps[-1]}" if own_steps else ", ".join(files)
      raise WorkdirError(
          f"--workdir={workdir} already holds a run ({held}); "
          f"to continue a checkpoint of another run use a new --workdir, or add --start_over "
          f"to move the run there into {ARCHIVE_DIR}/")
    if not os.path.isdir(directory):
      raise WorkdirError(f"--resume_from={resume_from}: no such checkpoint or directory")
    source = own if result.own_source else Checkpointer(directory, read_only=True)
    steps = source.steps()
    if not steps or (step is not None and step not in steps):
      raise WorkdirError(f"--resume_from={resume_from}: no complete checkpoint there (steps "
                         f"found in {directory}: {', '.join(map(str, steps)) or 'none'})")
    result.source, result.source_step = source, step
    _check_config(source, step if step is not None else steps[-1], config,
                  f"the checkpoint {resume_from}", offer_start_over=False)
    return result
  if start_over:
    return result
  if own_steps:
    result.source, result.own_source = own, True
    _check_config(own, own_steps[-1], config, f"--workdir={workdir}", offer_start_over=True)
  elif CONFIG_FILE in files:
    with open(os.path.join(workdir, CONFIG_FILE), encoding="utf-8") as f:
      saved = json.load(f)
    _raise_on_differences(config_differences(saved, config), f"--workdir={workdir}", True)
  elif METRICS_FILE in files or SUMMARY_FILE in files:
    raise WorkdirError(f"--workdir={workdir} holds the outputs of a run without a saved "
                       f"config; use a new --workdir, or add --start_over to move them into "
                       f"{ARCHIVE_DIR}/")
  return result


def _check_config(source: Checkpointer, step: int, config: Config, where: str,
                  offer_start_over: bool) -> None:
  try:
    saved = source.read_meta(step).get("config", {})
  except Exception:  # pylint: disable=broad-except
    return  # an unreadable checkpoint: restore reports it and falls back
  _raise_on_differences(config_differences(saved, config), where, offer_start_over)


def _raise_on_differences(diffs: list[str], where: str, offer_start_over: bool) -> None:
  if diffs:
    hint = (f"; run with the same settings to continue it, use a new --workdir, or add "
            f"--start_over to move the old run into {ARCHIVE_DIR}/" if offer_start_over else
            "; run with the same settings to continue it")
    raise WorkdirError(f"{where} holds a run with another configuration: "
                       + "; ".join(diffs) + hint)


def truncate_metrics(workdir: str, step: int, *, redo_final_eval: bool = False
                     ) -> list[dict[str, Any]]:
  """Keeps the metrics.jsonl records up to `step` (a killed run logged past its last
  checkpoint; the resumed run logs those steps again); returns the kept records.

  With `redo_final_eval`, the evaluation records of `step` itself go too: the run stopped
  after its last checkpoint, in its final evaluation, and is about to write that again.
  """
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    lines = f.readlines()
  kept_lines, kept = [], []
  for line in lines:
    try:
      record = json.loads(line)
    except json.JSONDecodeError:  # the last line of a process killed mid-write
      continue
    redone = redo_final_eval and record.get("step") == step and "d/loss" not in record
    if record.get("step", 0) <= step and not redone:
      kept_lines.append(line if line.endswith("\n") else line + "\n")
      kept.append(record)
  if kept_lines != lines and jax.process_index() == 0:
    write_text_atomically(path, "".join(kept_lines))
  return kept


def write_config(workdir: str, config: Config, data_facts: dict | None = None) -> None:
  """Writes config.json (atomically), the record `plan` compares a later run against, with
  `data_facts` beside the settings (an image run's `image_shape`, `num_classes`, `pixels`:
  what sampling needs without opening the data, `runs.restore_run(with_data=False)`).

  A continued run leaves the file as its first run wrote it (what it may change, such as
  num_steps, is in summary.json and the checkpoints' metadata).
  """
  if os.path.exists(os.path.join(workdir, CONFIG_FILE)):
    return
  write_json_atomically(os.path.join(workdir, CONFIG_FILE),
                        {**config.to_dict(), **(data_facts or {})})


@dataclasses.dataclass
class Start:
  """Where the run goes on: its state, step, kept records, and whether it is complete."""
  state: Any
  step: int
  history: list[dict[str, Any]]  # the training records kept (for the loss curves)
  complete: dict[str, Any] | None  # the finished run's summary: nothing left to do
  resumed: bool  # restored from a checkpoint


def check_data_facts(workdir: str, facts: dict | None, dataset: str) -> None:
  """Raises WorkdirError if the run in `workdir` was recorded with other data facts (classes,
  image shape) than the data now given: its players were built for those."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not facts or not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    saved = json.load(f)
  for key, what in (("num_classes", "classes"), ("image_shape", "images of shape")):
    if key in saved and key in facts and list(np.atleast_1d(saved[key])) != list(
        np.atleast_1d(facts[key])):
      raise WorkdirError(
          f"--workdir={workdir} holds a run built for {what} {saved[key]}; the data "
          f"({dataset}) have {what} {facts[key]}: give the data it was trained on, or a new "
          f"--workdir")


def begin(the_plan: Plan, fresh_state, config: Config, is_writer: bool,
          data_facts: dict | None = None) -> Start:
  """Carries out `the_plan`: moves a previous run aside or restores the checkpoint to continue
  (into `fresh_state`'s structure and shardings), checks `num_steps` against it, removes
  what killed checkpoint writes left, and keeps the metrics records up to its step.
  """
  workdir, state = the_plan.workdir, fresh_state
  if the_plan.source is not None and not the_plan.archive_all:
    check_data_facts(workdir, data_facts, config.data.dataset)
  if the_plan.archive_all and (moved := the_plan.start_over()):
    logging.info("--start_over: the previous run in %s was moved to %s", workdir, moved)
  if the_plan.source is not None:
    restored = the_plan.source.restore(state, the_plan.source_step,
                                       move_corrupt=the_plan.own_source)
    state = restored.state
    logging.info("resuming from step %d (%s)", restored.step, restored.path)
    if the_plan.own_source and (moved := the_plan.after_restore(restored.step)):
      logging.info("the checkpoints and grids after step %d were moved to %s", restored.step,
                   moved)
  step = int(to_host(state.step))
  if step > config.run.num_steps:
    raise ConfigError(f"num_steps={config.run.num_steps} is below the step of the checkpoint to "
                      f"continue, {step}; give num_steps >= {step}")
  if removed := the_plan.checkpoints.remove_partial_writes():
    logging.info("removed what killed checkpoint writes left in %s: %s",
                 the_plan.checkpoints.directory, ", ".join(removed))
  summary_path = os.path.join(workdir, SUMMARY_FILE)
  if step == config.run.num_steps and os.path.exists(summary_path):
    logging.info("the run in %s is complete at step %d; nothing to do", workdir, step)
    with open(summary_path, encoding="utf-8") as f:
      return Start(state, step, [], json.load(f), the_plan.source is not None)
  if is_writer:
    os.makedirs(workdir, exist_ok=True)
    write_config(workdir, config, data_facts)
  final = step == config.run.num_steps
  history = [r for r in truncate_metrics(workdir, step, redo_final_eval=final) if "d/loss" in r]
  return Start(state, step, history, None, the_plan.source is not None)
