"""Checkpoints, exact resume, the workdir rules and the NaN guard, in process."""

import asyncio
import errno
import glob
import json
import logging
import os
import resource
import shutil
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgan
from jaxgan.runner import checkpoint
from jaxgan.runner import train as train_lib
from jaxgan.runner import workdir as workdir_lib
from jaxgan.runner import factories, writers
from jaxgan.runner.checkpoint import Checkpointer, CheckpointError, state_digest
from jaxgan.runner.config import Config, ConfigError, from_saved
from jaxgan.step import nonfinite_names
from jaxgan.runner.train import NonFiniteError, train_and_evaluate
from conftest import FAST_COMPILE, batches, poison_real_batch, read_records, train_records

BATCH = np.zeros((16, 2), np.float32)
RUN = dict(dataset="ring8", num_steps=30, batch_size=16, g_width=8, d_width=8, log_every=10,
           eval_every=15, eval_samples=100, checkpoint_every=10, tensorboard=False)


def same_arrays(a, b) -> bool:
  return all(jax.tree.leaves(jax.tree.map(
      lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  """A completed 30-step ring8 run with checkpoints at 10, 20, 30."""
  workdir = str(tmp_path_factory.mktemp("run") / "w")
  summary = train_and_evaluate(Config(**RUN), workdir)
  return workdir, summary


def copy_run(finished_run, tmp_path):
  target = str(tmp_path / "w")
  shutil.copytree(finished_run[0], target)
  return target


def test_checkpoints_keep_the_newest_and_restore_bitwise(finished_run, tmp_path):
  workdir, summary = finished_run
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  assert checkpoints.steps() == [10, 20, 30]
  generator, discriminator, g_tx, d_tx = factories.players_and_optimizers(Config(**RUN))
  target = jaxgan.create_state(1, generator, discriminator, g_tx, d_tx, BATCH)
  restored = checkpoints.restore(target)
  assert restored.step == 30 and int(restored.state.step) == 30
  assert restored.meta["config"] == Config(**RUN).to_dict()
  assert state_digest(restored.state) == summary["state_sha256"]
  # keep_checkpoints: a fourth save drops the oldest.
  copy = Checkpointer(str(tmp_path / "copy"), keep=3)
  for step in (10, 20, 30, 40):
    copy.save(restored.state.replace(step=jnp.int32(step)), {"config": {}})
  assert copy.steps() == [20, 30, 40]
  assert same_arrays(copy.restore(target, 40).state.g_params, restored.state.g_params)


def test_corrupt_newest_checkpoint_falls_back_to_the_previous_and_is_moved_aside(
    finished_run, tmp_path, caplog):
  workdir = copy_run(finished_run, tmp_path)
  for name in glob.glob(os.path.join(workdir, "checkpoints", "30", "state", "**", "d", "*"),
                        recursive=True):
    with open(name, "r+b") as f:
      f.truncate(os.path.getsize(name) // 2)
  summary = train_and_evaluate(Config(**RUN), workdir)
  assert summary["resumed_from_step"] == 20
  assert summary["state_sha256"] == finished_run[1]["state_sha256"]  # redone exactly
  assert "resuming from step 20 instead" in caplog.text
  names = os.listdir(os.path.join(workdir, "checkpoints"))
  assert sorted(n for n in names if n.isdigit()) == ["10", "20", "30"]
  assert len([n for n in names if n.startswith("30.corrupt-")]) == 1  # kept, not deleted


def test_a_hash_mismatch_counts_as_corrupt_and_nothing_moves_when_none_is_usable(
    finished_run, tmp_path):
  directory = os.path.join(copy_run(finished_run, tmp_path), "checkpoints")
  for step in (10, 20, 30):  # the arrays read fine but are not the ones written
    meta_file = os.path.join(directory, str(step), "meta", "metadata")
    meta = json.load(open(meta_file, encoding="utf-8"))
    meta["state_sha256"] = "0" * 64
    json.dump(meta, open(meta_file, "w", encoding="utf-8"))
  before = sorted(os.listdir(directory))
  generator, discriminator, g_tx, d_tx = factories.players_and_optimizers(Config(**RUN))
  target = jaxgan.create_state(0, generator, discriminator, g_tx, d_tx, BATCH)
  with pytest.raises(CheckpointError, match=r"no usable checkpoint.*step 30: its arrays do "
                                            r"not match the hash"):
    Checkpointer(directory).restore(target)
  assert sorted(os.listdir(directory)) == before


def test_a_checkpoint_of_another_model_is_refused_naming_the_arrays(finished_run):
  generator, discriminator, g_tx, d_tx = factories.players_and_optimizers(
      Config(**{**RUN, "g_width": 16}))
  target = jaxgan.create_state(0, generator, discriminator, g_tx, d_tx, BATCH)
  with pytest.raises(CheckpointError, match=r"another model.*g_params/MLP_0/Dense_0/kernel: "
                                            r"shape \(2, 8\) float32 there, \(2, 16\)"):
    Checkpointer(os.path.join(finished_run[0], "checkpoints")).restore(target)


def test_workdir_of_another_configuration_is_refused_unless_started_over(finished_run,
                                                                         tmp_path):
  workdir = copy_run(finished_run, tmp_path)
  changed = Config(**{**RUN, "loss": "hinge", "g_width": 16})
  with pytest.raises(workdir_lib.WorkdirError,
                     match=r"g_width: 8 there, 16 now; loss: 'non_saturating' there, 'hinge'"):
    workdir_lib.plan(workdir, changed)
  # A config saved before a field existed matches the field's default, and only that.
  saved = Config(**RUN).to_dict()
  del saved["penalty"]
  assert workdir_lib.config_differences(saved, Config(**RUN)) == []
  assert workdir_lib.config_differences(saved, Config(**RUN, penalty="r1")) == [
      "penalty: 'none' there, 'r1' now"]
  # Before d_norm applied to MLPs, an MLP run recorded d_norm='spectral' and had none.
  legacy = {k: v for k, v in Config(**RUN).to_dict().items() if k != "d_features"}
  legacy["d_norm"] = "spectral"
  assert workdir_lib.config_differences(legacy, Config(**RUN)) == []
  assert workdir_lib.config_differences(legacy, Config(**RUN, d_norm="spectral")) == [
      "d_norm: 'none' there, 'spectral' now"]
  # What may change: logging, data location, and num_steps when no schedule moves.
  workdir_lib.plan(workdir, Config(**{**RUN, "log_every": 3, "num_steps": 50}))
  with pytest.raises(workdir_lib.WorkdirError, match="num_steps: 30 there, 50 now"):
    workdir_lib.plan(workdir, Config(**{**RUN, "lr_schedule": "cosine", "num_steps": 50}))
  cosine = Config(**{**RUN, "lr_schedule": "cosine"}).to_dict()  # its schedules span 30 steps
  longer = lambda **kw: Config(**{**RUN, "lr_schedule": "cosine", "num_steps": 50, **kw})
  assert workdir_lib.config_differences(cosine, longer(schedule_steps=30)) == []
  assert workdir_lib.config_differences(cosine, longer(schedule_steps=40)) == [
      "num_steps: 30 there, 50 now", "schedule_steps: 0 there, 40 now"]
  # A constant learning rate is not enough when another schedule spans the run.
  growing = Config(**{**RUN, "ema_half_life": 100.0, "ema_growth": "cosine"})
  assert workdir_lib.config_differences(
      growing.to_dict(), Config(**{**RUN, "ema_half_life": 100.0, "ema_growth": "cosine",
                                   "num_steps": 50})) == ["num_steps: 30 there, 50 now"]
  old = {n: open(os.path.join(workdir, n), "rb").read() for n in ("metrics.jsonl",
                                                                   "summary.json")}
  summary = train_and_evaluate(Config(**{**RUN, "loss": "hinge", "num_steps": 10}), workdir,
                               start_over=True)
  assert summary["resumed_from_step"] == 0
  (archived,) = glob.glob(os.path.join(workdir, "archive", "*"))
  for name, content in old.items():
    assert open(os.path.join(archived, name), "rb").read() == content
  assert sorted(os.listdir(os.path.join(archived, "checkpoints"))) == ["10", "20", "30"]
  assert Checkpointer(os.path.join(workdir, "checkpoints")).steps() == [10]


def test_resume_from_an_earlier_checkpoint_rewinds_and_archives_the_later_ones(
    finished_run, tmp_path):
  workdir = copy_run(finished_run, tmp_path)
  summary = train_and_evaluate(Config(**RUN), workdir,
                               resume_from=os.path.join(workdir, "checkpoints", "10"))
  assert summary["resumed_from_step"] == 10
  assert summary["state_sha256"] == finished_run[1]["state_sha256"]
  (archived,) = glob.glob(os.path.join(workdir, "archive", "*"))
  assert sorted(os.listdir(os.path.join(archived, "checkpoints"))) == ["20", "30"]
  assert train_records(archived) == train_records(finished_run[0])  # the old log, whole
  assert train_records(workdir) == train_records(finished_run[0])   # and redone alike


class _Killed(BaseException):
  """A SIGKILL's stand-in: no handler catches it, nothing after it runs."""


def test_a_run_killed_right_after_a_checkpoint_resumes_with_every_record(
    finished_run, monkeypatch, tmp_path):
  # The checkpoint is the commit point: the records up to its step are written before it,
  # so a kill just after it loses none of them (the SIGKILL test once caught this).
  save = Checkpointer.save

  def save_then_die(self, state, meta):
    path = save(self, state, meta)
    if int(state.step) == 20:
      raise _Killed
    return path

  workdir = str(tmp_path / "w")
  monkeypatch.setattr(Checkpointer, "save", save_then_die)
  with pytest.raises(_Killed):
    train_and_evaluate(Config(**RUN), workdir)
  monkeypatch.undo()
  summary = train_and_evaluate(Config(**RUN), workdir)
  assert summary["resumed_from_step"] == 20
  assert summary["state_sha256"] == finished_run[1]["state_sha256"]
  assert read_records(workdir) == read_records(finished_run[0])  # evaluations too


def test_a_full_disk_in_the_final_evaluation_is_named_and_a_rerun_finishes_it(
    finished_run, monkeypatch, tmp_path):
  # The final evaluation comes after the last checkpoint. Its record is written, then the
  # loss curves fail as on a full disk: the error names what failed and the checkpoint to
  # rerun from, and the rerun evaluates once more, its record replacing the first.
  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  workdir = str(tmp_path / "w")
  calls, plot_curves = [], train_lib.pictures.plot_curves

  def plot_until_full(*args, **kwargs):  # the evaluation at 15 draws; the final one fails
    calls.append(1)
    return plot_curves(*args, **kwargs) if len(calls) == 1 else types.SimpleNamespace(save=full)

  monkeypatch.setattr(train_lib.pictures, "plot_curves", plot_until_full)
  with pytest.raises(train_lib.RecordWriteError) as failed:
    train_and_evaluate(Config(**RUN), workdir)
  assert str(failed.value) == (
      f"could not write the final evaluation of step 30 in {workdir}: No space left on "
      f"device; the checkpoint of step 30 in {workdir}/checkpoints is the last good one. "
      f"Free space and run the same command to resume")
  assert len(calls) == 2
  assert not os.path.exists(os.path.join(workdir, "summary.json"))
  assert read_records(workdir)[-1]["step"] == 30 and "eval/modes" in read_records(workdir)[-1]
  monkeypatch.undo()
  summary = train_and_evaluate(Config(**RUN), workdir)
  assert summary["resumed_from_step"] == 30
  assert summary["state_sha256"] == finished_run[1]["state_sha256"]
  assert read_records(workdir) == read_records(finished_run[0])  # one final record, the same
  with open(os.path.join(workdir, "summary.json"), encoding="utf-8") as f:
    assert json.load(f)["state_sha256"] == finished_run[1]["state_sha256"]


def test_summary_json_is_whole_or_absent_when_its_write_fails(tmp_path):
  path = str(tmp_path / "summary.json")
  writers.write_json_atomically(path, {"old": 1})
  # A file-size limit makes the write fail part-way, as a full disk does (EFBIG for ENOSPC;
  # Python ignores the SIGXFSZ that would kill it).
  soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
  resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
  try:
    with pytest.raises(OSError, match="File too large"):
      writers.write_json_atomically(path, {"new": "x" * 100_000})
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
  assert os.listdir(tmp_path) == ["summary.json"]  # no temporary file left behind
  with open(path, encoding="utf-8") as f:
    assert json.load(f) == {"old": 1}


def test_a_json_written_atomically_gets_the_permissions_open_would_give(tmp_path):
  mask = os.umask(0o027)
  try:
    writers.write_json_atomically(str(tmp_path / "new.json"), {})
    with open(tmp_path / "opened.json", "w", encoding="utf-8"):
      pass
  finally:
    os.umask(mask)
  mode = lambda name: os.stat(tmp_path / name).st_mode & 0o777
  assert mode("new.json") == mode("opened.json") == 0o640  # not mkstemp's 0600
  (tmp_path / "kept.json").write_text("{}")
  os.chmod(tmp_path / "kept.json", 0o640)
  writers.write_json_atomically(str(tmp_path / "kept.json"), {"a": 1})
  assert mode("kept.json") == 0o640  # a file replaced keeps its permissions


def test_nonfinite_values_are_flagged_and_skipped_updates_leave_the_state(players):
  generator, discriminator, g_tx, d_tx = players
  x = batches(1, 1, 8)[0]
  state = jaxgan.create_state(0, generator, discriminator, g_tx, d_tx, x["x"][0])
  step = jax.jit(jaxgan.make_train_step(generator, discriminator, g_tx, d_tx,
                                        skip_nonfinite=True))
  clean_state, clean = step(state, x)
  assert int(clean["nonfinite"]) == 0 and int(clean_state.skipped) == 0
  new, metrics = step(state, {"x": x["x"].at[0, 3, 1].set(jnp.nan)})
  # A NaN in D's real input: D's loss, gradients and new parameters, then G's loss against
  # that D, its gradients and parameters.
  assert nonfinite_names(int(metrics["nonfinite"])) == [
      "d/loss", "d/grads", "d/params", "g/loss", "g/grads", "g/params"]
  assert int(new.step) == 1 and not np.array_equal(new.rng, state.rng)
  assert int(new.skipped) == int(metrics["skipped"]) == 1
  for field in ("g_params", "d_params", "g_opt_state", "d_opt_state", "g_ema"):
    assert same_arrays(getattr(new, field), getattr(state, field)), field
  after, m = step(new, x)  # the run goes on from the last good state
  assert int(m["nonfinite"]) == 0 and all_finite(after.g_params)
  assert not same_arrays(after.g_params, state.g_params)


def all_finite(tree) -> bool:
  return all(bool(np.all(np.isfinite(leaf))) for leaf in jax.tree.leaves(tree))


def test_a_nan_stops_the_run_and_keeps_the_last_good_checkpoint(monkeypatch, tmp_path):
  poison_real_batch(monkeypatch, 25)
  workdir = str(tmp_path / "w")
  with pytest.raises(NonFiniteError, match=r"non-finite d/loss, d/grads, d/params, g/loss, "
                                           r"g/grads, g/params at step 25; the checkpoint of "
                                           r"step 20 in .* is the last good one"):
    train_and_evaluate(Config(**RUN), workdir)
  assert Checkpointer(os.path.join(workdir, "checkpoints")).steps() == [10, 20]
  assert [r["step"] for r in train_records(workdir)] == [10, 20]


def test_on_nonfinite_skip_drops_the_bad_update_and_counts_it(monkeypatch, tmp_path):
  poison_real_batch(monkeypatch, 25)
  summary = train_and_evaluate(Config(**{**RUN, "on_nonfinite": "skip"}), str(tmp_path / "w"))
  assert summary["final_metrics"]["skipped"] == 1
  assert [r["skipped"] for r in train_records(str(tmp_path / "w"))] == [0, 0, 1]
  assert all(np.isfinite(v) for k, v in summary["final_metrics"].items() if k != "step")


def test_tensorboard_drops_the_events_a_rewound_run_logs_again(tmp_path):
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
  workdir = str(tmp_path / "w")
  config = Config(**{**RUN, "num_steps": 20, "log_every": 5, "tensorboard": True})
  train_and_evaluate(config, workdir)
  train_and_evaluate(config, workdir, resume_from=os.path.join(workdir, "checkpoints", "10"))
  events = EventAccumulator(workdir)
  events.Reload()
  assert [e.step for e in events.Scalars("d/loss")] == [5, 10, 15, 20]  # once each


def test_evaluate_command_restores_a_checkpoint_and_repeats_the_runs_evaluation(finished_run,
                                                                                 tmp_path):
  import subprocess
  import sys
  workdir = copy_run(finished_run, tmp_path)
  before = {p: open(p, "rb").read() for p in glob.glob(f"{workdir}/**", recursive=True)
            if os.path.isfile(p)}
  for extra, step in (([], 30),):
    proc = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}",
                           *extra], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"step {step}:" in proc.stdout
    with open(os.path.join(workdir, f"eval_{step}.json"), encoding="utf-8") as f:
      result = json.load(f)
    assert result["step"] == step and result["checkpoint"].endswith(f"checkpoints/{step}")
  with open(os.path.join(workdir, "eval_30.json"), encoding="utf-8") as f:
    final = json.load(f)
  for key in ("modes", "hq_fraction", "reverse_kl"):  # the last checkpoint is the summary's
    assert final[key] == finished_run[1][key], key
  after = {p: open(p, "rb").read() for p in glob.glob(f"{workdir}/**", recursive=True)
           if os.path.isfile(p) and not os.path.basename(p).startswith("eval_")}
  assert after == before


def test_only_a_failed_restores_leftovers_are_kept_off_stderr(tmp_path):
  """The hook drops a late callback to orbax's closed loop and nothing else; the asyncio
  filter drops unretrieved failures of reads of the checkpoint directory and nothing else."""
  def unraisable_of(call):
    try:
      call()
    except Exception as e:  # pylint: disable=broad-except
      return types.SimpleNamespace(exc_type=type(e), exc_value=e, exc_traceback=e.__traceback__)

  loop = asyncio.new_event_loop()
  loop.close()
  late = unraisable_of(lambda: loop.call_soon_threadsafe(print))
  other = unraisable_of(lambda: 1 / 0)
  seen = []
  previous = sys.unraisablehook
  sys.unraisablehook = seen.append
  asyncio_filters = list(logging.getLogger("asyncio").filters)
  try:
    checkpoint._drop_abandoned_read_callbacks(str(tmp_path))
    sys.unraisablehook(late)
    sys.unraisablehook(other)
    assert seen == [other]
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    for kind in ("Task", "Future"):  # CI saw both (a Future's on 2026-12-01)
      for where in (str(tmp_path), "/elsewhere"):
        try:
          raise ValueError(f'Error reading "x/.zarray" at local file "{where}/20/state/"')
        except ValueError:
          logger.error(f"{kind} exception was never retrieved\nfuture: <{kind}>", exc_info=True)
    logger.removeHandler(handler)
    assert [(r.getMessage().split()[0], str(r.exc_info[1])) for r in records] == [
        (kind, 'Error reading "x/.zarray" at local file "/elsewhere/20/state/"')
        for kind in ("Task", "Future")]
  finally:
    sys.unraisablehook = previous
    logging.getLogger("asyncio").filters[:] = asyncio_filters


# A run of main before the objective had its own state (a5cb89b, 2026-11-30): ring8 with R1
# and LeCam, checkpointed at step 10, whose uninterrupted run ended at step 20 with this
# digest (LeCam's EMAs then lived in d_state["lecam"]). Both were made on the CPU with the
# suite's XLA flags (conftest.FAST_COMPILE), which the digest depends on.
LEGACY_RUN = os.path.join(os.path.dirname(__file__), "data", "main_lecam_run")
LEGACY_FINAL_DIGEST = "97b7f973ea4e976e1023baf71af6794513c4f324376522c36347fb51fc491ace"


@pytest.mark.skipif(jax.default_backend() != "cpu" or os.environ.get("XLA_FLAGS") != FAST_COMPILE,
                    reason="the old run's digest holds on the CPU with the suite's XLA flags")
def test_a_checkpoint_of_the_old_layout_resumes_into_the_new_state_bit_for_bit(tmp_path):
  workdir = str(tmp_path / "w")
  shutil.copytree(LEGACY_RUN, workdir)
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  # Saved before ema_debias existed: it ran the plain EMA, and resuming it with the new
  # default is refused by name rather than mixed.
  with pytest.raises(ConfigError, match=r"ema_debias: False there, True now"):
    train_and_evaluate(Config(**saved), workdir)
  config = Config(**from_saved(saved))
  assert config.step.ema_debias is False
  train_and_evaluate(config, workdir)
  generator, discriminator, g_tx, d_tx = factories.players_and_optimizers(config)
  target = jaxgan.create_state(0, generator, discriminator, g_tx, d_tx, BATCH,
                               factories.objective_of(config.objective, config.horizon))
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  old = checkpoints.restore(target, 10).state  # written by the old main
  assert set(old.objective) == {"lecam"} and "lecam" not in old.d_state
  assert float(old.objective["lecam"]["real"]) != 0.0  # the EMAs moved, not re-initialised
  final = checkpoints.restore(target, 20).state  # written here, after resuming
  assert state_digest(checkpoint.to_legacy_layout(final)) == LEGACY_FINAL_DIGEST
  # A state without the EMAs (LeCam off) cannot take that checkpoint: refused, named.
  plain = jaxgan.create_state(0, generator, discriminator, g_tx, d_tx, BATCH)
  with pytest.raises(CheckpointError, match=r"objective/lecam/real: missing|lecam.*only in"):
    checkpoints.restore(plain, 10)
