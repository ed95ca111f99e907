"""The training loop: config in; metrics, pictures and a summary out.

`train_and_evaluate` reads top to bottom in stages: devices -> the workdir's plan -> data ->
players, objective, state and the compiled step (`jaxgan.runner.factories`) -> restore or start
(`jaxgan.runner.workdir.begin`) -> the data feed (`jaxgan.data.feeds`) -> the train loop -> the
final evaluation and summary.
"""

import os
import time
from typing import Any

import jax
import numpy as np
from absl import logging

from jaxgan import parallel
from jaxgan.runner import factories, pictures
from jaxgan.runner import workdir as workdir_lib
from jaxgan.runner.checkpoint import state_digest
from jaxgan.runner.config import Config
from jaxgan.data import feeds
from jaxgan.runner.preemption import Preempted, StopSignals
from jaxgan.step import nonfinite_names
from jaxgan.runner.writers import JsonlWriter, TensorBoardWriter, write_json_atomically

CURVE_PANELS = {"losses": ["d/loss", "g/loss", "d/penalty", "g/penalty"],
                "mean D logit": ["d/real_logit", "d/fake_logit", "g/fake_logit"],
                "gradient norms": ["d/grad_norm", "g/grad_norm"],
                "r_t and ADA's p": ["d/real_sign", "aug/rt", "aug/p"]}
# The last panel's title without ADA, whose p is then not drawn.
RT_TITLE = "r_t = E[sign D(real)]"


PENALTY_TERMS = ("d/penalty/", "g/penalty/")  # each regulariser's own, unweighted


def curve_panels(history: list[dict]) -> dict[str, list[str]]:
  """CURVE_PANELS, each titled by what it draws: the r_t panel says ADA's p only if a record
  holds one; a run with regularisers gets a panel of each one's unweighted term."""
  panels = dict(CURVE_PANELS)
  if not any("aug/p" in record for record in history):
    panels = {(RT_TITLE if "aug/p" in keys else title): keys for title, keys in panels.items()}
  terms = sorted({k for record in history for k in record if k.startswith(PENALTY_TERMS)})
  if terms:
    panels["regularisers, unweighted"] = terms
  return panels


class NonFiniteError(FloatingPointError):
  """A step produced a NaN or Inf and the config says to stop (`on_nonfinite="stop"`)."""


class RecordWriteError(RuntimeError):
  """A record, picture or evaluation of the run could not be written (a full disk, say)."""


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_duration(seconds: float) -> str:
  """A wall time for people: 4.2 s, 42 s, 3 min 05 s, 2 h 07 min."""
  if seconds < 9.95:
    return f"{max(seconds, 0):.1f} s"
  seconds = int(round(seconds))
  if seconds < 60:
    return f"{seconds} s"
  if seconds < 3600:
    return f"{seconds // 60} min {seconds % 60:02d} s"
  return f"{seconds // 3600} h {seconds // 60 % 60:02d} min"


# What a run leaves in its workdir besides checkpoints, in the order the end of the log names
# them; those not written (no pictures for some data, no GIF for 2D runs) are left out.
OUTPUT_FILES = ("samples.png", "samples.gif", "losses.png", "metrics.jsonl",
                workdir_lib.SUMMARY_FILE)


class Records:
  """What a run writes besides checkpoints: metrics.jsonl, TensorBoard, the loss curves and
  the log (only process 0 writes), and what to say when something fails."""

  def __init__(self, workdir: str, config: Config, start: workdir_lib.Start, is_writer: bool,
               checkpoints_dir: str):
    self.workdir, self.config, self.is_writer = workdir, config, is_writer
    self.history, self.checkpoints_dir = start.history, checkpoints_dir
    self.last_saved = start.step if start.resumed else None
    self.out_dir = workdir if is_writer else None
    self.tensorboard = (TensorBoardWriter(workdir) if config.run.tensorboard and is_writer
                        else None)
    if self.tensorboard and start.step:
      self.tensorboard.restart(start.step + 1)
    self.metrics_log = None
    self.started, self.window = None, None  # set by `begin`, when the steps start
    self.last_message, self.last_checkpoint = "", None

  def begin(self, step: int) -> None:
    """Starts the clocks of the run's wall time and of the steps/s window at `step`; the
    window starts again at `first_call_done`, so that no rate counts the compile."""
    self.started = time.perf_counter()
    self.window = (self.started, step)

  def first_call_done(self, step: int) -> None:
    """Marks the end of the first call (compiled and run up to `step`): steps/s and the ETA
    count from here."""
    now = time.perf_counter()
    logging.info("compiled; the first call ran to step %d in %s", step,
                 format_duration(now - self.started))
    self.window = (now, step)

  def rate(self, step: int) -> float | None:
    """Steps per second since the window began, and restarts it at `step`; None when no step
    was timed since (the first call alone, compile included, is not a rate)."""
    now, (since, since_step) = time.perf_counter(), self.window
    self.window = (now, step)
    return (step - since_step) / (now - since) if step > since_step else None

  def open(self) -> None:
    self.metrics_log = JsonlWriter(os.path.join(self.workdir, "metrics.jsonl")
                                   if self.is_writer else None)

  def _write(self, step: int, record: dict) -> None:
    self.metrics_log.write(record)
    if self.tensorboard:
      self.tensorboard.scalars(step, {key: v for key, v in record.items() if key != "step"})

  def train_step(self, step: int, metrics) -> None:
    """Writes the record of the call ending at `step` (its last step's metrics) and logs it."""
    metrics = {key: float(np.asarray(v).reshape(-1)[-1])
               for key, v in parallel.to_host(metrics).items()}
    rate = self.rate(step)
    # Real images D has seen, in thousands (the step counter is in the state, so a resumed
    # run counts on from where it stopped).
    kimg = step * self.config.step.d_steps * self.config.run.batch_size / 1000
    record = {"step": step, **metrics, "kimg": kimg}
    if rate is not None:
      record["steps_per_sec"] = rate
    self._write(step, record)
    self.history.append(record)
    total = self.config.run.num_steps
    speed = (f"{rate:.2f} steps/s | ETA {_format_eta((total - step) / rate)}" if rate
             else "steps/s and ETA from the next log on")
    logging.info("step %d/%d | %s | d/loss %.4f | g/loss %.4f%s", step, total, speed,
                 metrics["d/loss"], metrics["g/loss"], f" | {int(metrics['skipped'])} "
                 f"updates skipped (non-finite)" if metrics["skipped"] else "")

  def evaluation(self, evaluator, state, step: int, final: bool) -> dict:
    """Runs and records one evaluation; returns its numbers."""
    result, message = evaluator(state, step, final)
    self._write(step, {"step": step, **{f"eval/{key}": v for key, v in result.items()}})
    if self.is_writer:
      pictures.plot_curves(self.history, curve_panels(self.history)).save(
          os.path.join(self.workdir, "losses.png"))
    logging.info("eval at step %d: %s", step, message)
    self.last_message = message
    self.window = (time.perf_counter(), self.window[1])
    return result

  def last_good(self) -> str:
    return (f"the checkpoint of step {self.last_saved} in {self.checkpoints_dir} is the last "
            f"good one" if self.last_saved is not None else "no checkpoint was written yet")

  def write_failed(self, what: str, e: OSError) -> RecordWriteError:
    # A rerun resumes from the last checkpoint; after the final one it only evaluates again.
    return RecordWriteError(f"could not write {what} in {self.workdir}: {e.strerror or e}; "
                            f"{self.last_good()}. Free space and run the same command to resume")

  def check_finite(self, step: int, metrics) -> None:
    """Raises NonFiniteError if a `nonfinite` metric of the call ending at `step` names a
    failed check (the message names the first such step of the call)."""
    codes = np.atleast_1d(parallel.to_host(metrics["nonfinite"]))
    if bad := np.flatnonzero(codes).tolist():
      code, step = int(codes[bad[0]]), step - len(codes) + 1 + bad[0]
      raise NonFiniteError(
          f"non-finite {', '.join(nonfinite_names(code))} at step {step}; {self.last_good()}. "
          f"Lower the learning rates, or run with --on_nonfinite=skip to drop such updates")

  def log_end(self, steps: int, wall: float) -> None:
    """Logs the end of the run: its time and final evaluation, and where its outputs are."""
    logging.info("done: %d steps in %s; final evaluation: %s", steps, format_duration(wall),
                 self.last_message)
    if not self.is_writer:
      return
    written = [name for name in OUTPUT_FILES
               if os.path.exists(os.path.join(self.workdir, name))]
    if self.tensorboard:
      written.append("TensorBoard events")
    logging.info("outputs in %s: %s; checkpoint %s", os.path.abspath(self.workdir),
                 ", ".join(written), self.last_checkpoint or f"in {self.checkpoints_dir}")

  def close(self) -> None:
    if self.metrics_log is not None:
      self.metrics_log.close()
    if self.tensorboard:
      self.tensorboard.close()


def train_and_evaluate(config: Config, workdir: str, *, resume_from: str | None = None,
                       start_over: bool = False) -> dict[str, Any]:
  """Trains a GAN as the config says; returns the final evaluation (also in summary.json).

  A workdir holding checkpoints of the same configuration is continued from its latest
  (`resume_from`: from that checkpoint instead); `start_over` moves a previous run aside.
  Raises `Preempted` after saving a checkpoint when SIGTERM or SIGINT arrives,
  `NonFiniteError` on a NaN/Inf (with `on_nonfinite="stop"`), `ConfigError` (and its
  `WorkdirError`) and `DataError` on bad input before anything is written.
  """
  config.validate()
  init_key, data_key, eval_key = factories.run_keys(config.run.seed)
  is_writer = jax.process_index() == 0
  mesh, axis = factories.device_mesh(config.run.batch_size, config.players.packing)
  plan = workdir_lib.plan(workdir, config, resume_from, start_over)  # this only reads
  data = factories.open_data(config.data, examples_per_step=config.step.d_steps
                             * config.run.batch_size)
  made = factories.players(config, data, init_key, mesh, axis)
  facts = ({} if config.data.is_mixture else
           {"image_shape": list(data.shape), "num_classes": data.num_classes,
            "pixels": data.pixels})
  start = workdir_lib.begin(plan, made.state, config, is_writer, facts)
  if start.complete is not None:
    return start.complete

  # --- The compiled update with its data feed, the records and the evaluator ----------
  run = config.run
  feed = feeds.make_feed(made.train_step, data.source, data_key, config.step.d_steps,
                         run.batch_size, steps_per_call=run.steps_per_call,
                         placement=config.data.data_placement, mesh=mesh, start_step=start.step,
                         workers=config.data.workers)
  records = Records(workdir, config, start, is_writer, plan.checkpoints.directory)
  try:
    evaluator = factories.evaluator(config.evaluation, config.data, data, made, eval_key,
                                    feed.stats, records.out_dir, records.tensorboard,
                                    config.run.batch_size)
    if hasattr(evaluator, "load_frames"):
      evaluator.load_frames(start.step)
    records.open()
    logging.info("training %s (%s) on %s for %d steps (batch %d, d_steps %d) in %s",
                 config.objective.loss, config.players.model, config.data.dataset,
                 run.num_steps, run.batch_size, config.step.d_steps, workdir)
    evaluate = lambda state, step, final: records.evaluation(
        evaluator, parallel.to_host(state) if mesh is not None else state, step, final)
    state = _train(config, start, feed, records, plan.checkpoints, data.info, evaluate)
    wall = time.perf_counter() - records.started
    try:
      result = evaluate(state, run.num_steps, True)
      evaluator.finish()
    except OSError as e:
      raise records.write_failed(f"the final evaluation of step {run.num_steps}", e) from e
  finally:
    records.close()
    feed.close()
  summary = {**result, "steps": run.num_steps, "train_seconds": wall,
             "resumed_from_step": start.step, "state_sha256": state_digest(state),
             "final_metrics": records.history[-1] if records.history else {},
             "dataset": data.info, "config": config.to_dict()}
  if config.data.is_mixture:
    summary["num_modes"] = data.source.num_modes
  if is_writer:
    try:  # atomically: a rerun takes a summary.json as the mark of a complete run
      write_json_atomically(os.path.join(workdir, workdir_lib.SUMMARY_FILE), summary)
    except OSError as e:
      raise records.write_failed("summary.json", e) from e
  records.log_end(run.num_steps, wall)
  return summary


def _train(config: Config, start: workdir_lib.Start, feed: feeds.Feed, records: Records,
           checkpoints, dataset_info: dict, evaluate):
  """Runs the steps from `start.step` to `num_steps`, `steps_per_call` at a time; returns
  the final state. Records and evaluations of a step are written before its checkpoint."""
  run, n, state = config.run, config.run.steps_per_call, start.state
  meta = {"config": config.to_dict(), "dataset": dataset_info}
  stop_on_nonfinite = config.step.on_nonfinite == "stop"
  records.begin(start.step)
  pending = None  # (step, metrics) not yet checked for NaN/Inf: checked one step late
  with StopSignals() as stop:
    for step in range(start.step + n, run.num_steps + 1, n):
      if step == start.step + n:
        logging.info("compiling the training step (the first step waits for it)...")
      state, metrics = feed.advance(state, step - n)
      if step == start.step + n:  # the compile and the first call: not in steps/s or ETAs
        jax.block_until_ready(metrics)
        records.first_call_done(step)
      if stop_on_nonfinite and pending is not None:
        records.check_finite(*pending)  # the previous step's; this one runs meanwhile
      pending = (step, metrics)
      stopping = stop.should_stop(step)
      save = step % run.checkpoint_every == 0 or step == run.num_steps or stopping
      log = step % run.log_every == 0 or step == run.num_steps
      evaluating = step % config.evaluation.eval_every == 0 and step != run.num_steps
      if stop_on_nonfinite and (save or log or evaluating):
        records.check_finite(*pending)  # at once: nothing non-finite is saved, logged or drawn
        pending = None
      try:
        if log:
          records.train_step(step, metrics)
        if evaluating and not stopping:
          evaluate(state, step, False)
      except OSError as e:  # the records of this step, before its checkpoint
        raise records.write_failed(f"the records of step {step}", e) from e
      # The checkpoint last: it is the commit point of the steps up to it. A process
      # killed after it has written every record up to its step; one killed before it
      # resumes from the previous checkpoint and writes those records again.
      if save:
        checkpoint_path = checkpoints.save(state, meta)
        records.last_saved, records.last_checkpoint = step, checkpoint_path
      if stopping:
        raise Preempted(stop.signum, step, checkpoint_path)
  return state
