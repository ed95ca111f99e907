"""The runner: flags, errors that name the flag, and what a run writes."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from jaxgan.runner.config import Config
from jaxgan.runner.train import train_and_evaluate
from conftest import BITWISE, FAST_ENV, HOST_DEVICES, assert_same, write_idx_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(num_steps=10, batch_size=16, g_width=8, d_width=8, log_every=5, eval_every=5,
            eval_samples=200)


def run_cli(*args, timeout=240):
  return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout, env=FAST_ENV)


def test_missing_workdir_is_refused():
  proc = run_cli("--num_steps=1")
  assert proc.returncode != 0 and "workdir" in proc.stderr


def test_config_validation_names_field_and_choices():
  Config().validate()
  with pytest.raises(ValueError, match=r"activation='swish'.*choose one of:.*relu"):
    Config(activation="swish").validate()
  with pytest.raises(ValueError, match=r"eval_samples=0"):
    Config(eval_samples=0).validate()
  with pytest.raises(ValueError, match=r"ema_decay=1.5.*\[0, 1\]"):
    Config(ema_decay=1.5).validate()


@pytest.mark.slow
def test_cli_run_writes_metrics_summary_and_pictures_and_flags_override_flagfile(tmp_path):
  flagfile = tmp_path / "tiny.flags"
  flagfile.write_text("\n".join([f"--{k}={v}" for k, v in TINY.items() if k != "num_steps"]
                                + ["--num_steps=100000", "--dataset=grid25"]) + "\n")
  workdir = tmp_path / "run"
  proc = run_cli(f"--flagfile={flagfile}", "--num_steps=10", f"--workdir={workdir}")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "steps/s" in proc.stderr and "ETA" in proc.stderr
  # What the log says, in order: the compile announced before the first step is timed; the
  # end names the time, the final evaluation and where the outputs are (no raw dict); no
  # line about a TPU this machine has no library for.
  log = [line.split("] ", 1)[1] for line in proc.stderr.splitlines() if "] " in line]
  compiling = next(i for i, line in enumerate(log) if line.startswith("compiling the training"))
  first_step = next(i for i, line in enumerate(log) if line.startswith("step 5/10 |"))
  assert compiling < first_step
  assert log[-2].startswith("done: 10 steps in ") and "final evaluation: " in log[-2]
  assert "/25 modes, HQ " in log[-2] and "{" not in log[-2]
  assert log[-1] == (f"outputs in {workdir}: samples.png, losses.png, metrics.jsonl, "
                     f"summary.json, TensorBoard events; checkpoint {workdir}/checkpoints/10")
  assert "Unable to initialize backend 'tpu'" not in proc.stderr
  # config.json and summary.json are as readable as the files `open` wrote (not 0600).
  mode = lambda name: os.stat(workdir / name).st_mode & 0o777
  assert mode("config.json") == mode("summary.json") == mode("metrics.jsonl")
  assert mode("summary.json") == 0o666 & ~_umask()
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  train = [r for r in records if "d/loss" in r]
  evals = [r for r in records if "eval/modes" in r]
  assert [r["step"] for r in train] == [5, 10]
  assert [r["step"] for r in evals] == [5, 10]
  for r in train:
    assert {"g/loss", "d/real_logit", "d/fake_logit", "d/grad_norm", "g/grad_norm",
            "steps_per_sec"} <= set(r)
  summary = json.loads((workdir / "summary.json").read_text())
  assert summary["steps"] == 10 and summary["config"]["dataset"] == "grid25"
  assert summary["modes"] == sum(c > 0 for c in summary["hq_counts"])
  assert summary["hq_fraction"] == pytest.approx(sum(summary["hq_counts"]) / 200)
  for name in ("samples.png", "samples_0000005.png"):
    with Image.open(workdir / name) as image:
      assert image.size == (512, 512)
      assert len({tuple(p) for p in np.asarray(image).reshape(-1, 3)[::97]}) > 20  # not blank


def _umask() -> int:
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def test_a_missing_flagfile_is_named_with_the_shipped_configs(tmp_path):
  proc = run_cli(f"--workdir={tmp_path / 'w'}", f"--flagfile={tmp_path / 'ring8.flag'}")
  assert proc.returncode == 2
  shipped = sorted(n[:-len(".flags")] for n in os.listdir(os.path.join(ROOT, "experiments",
                                                                          "configs")))
  assert proc.stderr.splitlines() == [
      f"FATAL Flags parsing error: flagfile {tmp_path / 'ring8.flag'} not found; shipped "
      f"configs: {', '.join(shipped)} (in experiments/configs/, as NAME.flags)"]
  assert "ring8" in shipped and not (tmp_path / "w").exists()


def test_the_commands_drop_the_tpu_probe_and_orbaxs_read_only_warnings_only():
  import logging as py_logging
  from experiments import cli
  from jaxgan.runner.checkpoint import QuietOrbax
  record = lambda level, msg, *args, path="/x/orbax/checkpoint/checkpoint_manager.py": (
      py_logging.LogRecord("absl", level, path, 1, msg, args, None))
  quiet = QuietOrbax()
  assert not quiet.filter(record(py_logging.WARNING, "Given directory is read only=%s", "/c"))
  assert not quiet.filter(record(py_logging.WARNING, "CheckpointManagerOptions.read_only=True, "
                                 "setting save_interval_steps=0."))
  assert not quiet.filter(record(py_logging.INFO, "Saving checkpoint"))
  assert quiet.filter(record(py_logging.WARNING, "%s is read only, save will be skipped", "/c"))
  assert quiet.filter(record(py_logging.INFO, "Given directory is read only", path="/x/mine.py"))
  probe = cli.NoTpuProbe()
  tpu = "Unable to initialize backend 'tpu': %s"
  assert not probe.filter(record(py_logging.INFO, tpu, "INTERNAL: Failed to open libtpu.so: "
                                 "libtpu.so: cannot open shared object file: No such file or "
                                 "directory", path="xla_bridge.py"))
  # libtpu there but the TPU failing to start: a real problem, kept.
  assert probe.filter(record(py_logging.INFO, tpu, "ABORTED: The TPU is already in use",
                             path="xla_bridge.py"))


def test_progress_rewrites_one_line_on_a_terminal_and_writes_whole_lines_elsewhere():
  import io
  from experiments import cli

  class Terminal(io.StringIO):
    def isatty(self):
      return True

  for stream in (Terminal(), io.StringIO()):
    progress = cli.progress_printer(stream, "images")
    for done in range(10, 101, 10):
      progress(done, 100)
    if isinstance(stream, Terminal):
      assert stream.getvalue() == "".join(f"\r{d}/100 images" for d in range(10, 101, 10)) + "\n"
    else:
      assert stream.getvalue() == "30/100 images\n50/100 images\n80/100 images\n100/100 images\n"


def test_steps_per_second_and_the_eta_leave_out_the_compile(monkeypatch, tmp_path):
  import types
  from jaxgan.runner import train
  clock, lines = iter([0.0, 50.0, 59.0, 68.0]), []
  monkeypatch.setattr(train.time, "perf_counter", lambda: next(clock))
  monkeypatch.setattr(train.logging, "info", lambda fmt, *args: lines.append(fmt % args))
  start = types.SimpleNamespace(history=[], step=0, resumed=False)
  records = train.Records(str(tmp_path), Config(num_steps=300, tensorboard=False), start,
                          False, str(tmp_path / "checkpoints"))
  records.open()
  metrics = {"d/loss": 1.0, "g/loss": 2.0, "skipped": 0.0}
  records.begin(0)             # t = 0: the first call is dispatched, and compiles
  records.first_call_done(1)   # t = 50
  assert lines[-1] == "compiled; the first call ran to step 1 in 50 s"
  records.train_step(1, metrics)  # t = 59: nothing timed since the first call
  assert "steps_per_sec" not in start.history[-1]
  assert lines[-1] == ("step 1/300 | steps/s and ETA from the next log on | d/loss 1.0000 | "
                       "g/loss 2.0000")
  records.train_step(10, metrics)  # t = 68: 9 steps in 9 s
  assert start.history[-1]["steps_per_sec"] == 1.0
  assert lines[-1] == "step 10/300 | 1.00 steps/s | ETA 0:04:50 | d/loss 1.0000 | g/loss 2.0000"
  assert [train.format_duration(s) for s in (4.24, 42, 185, 7620)] == [
      "4.2 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_the_loss_curves_name_adas_p_only_when_it_is_drawn_and_tick_round_steps():
  from jaxgan.runner import pictures, train
  plain = [{"step": 10, "d/real_sign": 0.5}]
  titles = list(train.curve_panels(plain))
  assert titles[-1] == "r_t = E[sign D(real)]" and not [t for t in titles if "ADA" in t]
  with_ada = [{"step": 10, "d/real_sign": 0.5, "aug/rt": 0.5, "aug/p": 0.1}]
  assert list(train.curve_panels(with_ada))[-1] == "r_t and ADA's p"
  regularised = [{"step": 10, "d/penalty": 0.3, "d/penalty/r1": 0.1, "d/penalty/r2": 0.1},
                 {"step": 20, "g/penalty": 0.2, "g/penalty/path_length": 0.1}]
  panels = train.curve_panels(regularised)
  assert panels["regularisers, unweighted"] == ["d/penalty/r1", "d/penalty/r2",
                                                 "g/penalty/path_length"]
  assert "regularisers, unweighted" not in train.curve_panels(plain)
  assert pictures.nice_ticks(10, 300, integer=True) == [50, 100, 150, 200, 250, 300]
  assert pictures.nice_ticks(1000, 20000, integer=True) == [5000, 10000, 15000, 20000]
  assert pictures.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
  assert pictures.nice_ticks(1, 2, integer=True) == [1, 2]  # one record: no fractional steps
  for lo, hi in [(5, 10), (100, 5000), (1000, 200000), (3, 97), (250, 31000)]:
    assert 4 <= len(pictures.nice_ticks(lo, hi, integer=True)) <= 6, (lo, hi)
  assert [pictures._tick_label(v) for v in (50, 2500, 20000, 1.5e6)] == ["50", "2.5k", "20k", "1.5M"]


def test_training_is_deterministic_by_seed(tmp_path):
  config = Config(**TINY, seed=3)
  a = train_and_evaluate(config, str(tmp_path / "a"))
  b = train_and_evaluate(config, str(tmp_path / "b"))
  ka = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
  kb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
  strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "steps_per_sec"}
  assert [strip(x) for x in ka] == [strip(x) for x in kb]
  assert a["hq_counts"] == b["hq_counts"]


# --- Image runs -----------------------------------------------------------------------

IMAGE_TINY = dict(dataset="mnist", model="dcgan28", num_steps=4, batch_size=8, log_every=2,
                  eval_every=2, grid_size=4, ema_decay=0.5)


@pytest.fixture(scope="module")
def mnist_dirs(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("mnist")
  manual = write_idx_dataset(str(tmp / "raw"), n_train=40)
  return {"data_dir": str(tmp / "tfds"), "manual_dir": manual}


def _records(workdir):
  return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _strip(records):
  return [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in records]


def test_image_run_writes_grids_gif_loss_curves_and_tensorboard(tmp_path, mnist_dirs,
                                                                 monkeypatch, caplog):
  from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
  monkeypatch.delenv("JAXGAN_INCEPTION_WEIGHTS", raising=False)
  caplog.set_level("INFO")
  workdir = tmp_path / "run"
  summary = train_and_evaluate(Config(**IMAGE_TINY, **mnist_dirs), str(workdir))
  # Metrics that cannot be made are said so once, at the start, not in every evaluation.
  log = [r.getMessage() for r in caplog.records]
  evaluations = [line for line in log if line.startswith("eval at step")]
  assert len(evaluations) == 2 and not [e for e in evaluations if "unavailable" in e]
  assert len([line for line in log if line.startswith("Inception metrics unavailable: no "
                                                       "Inception weights given")]) == 1
  assert len([line for line in log if line.startswith("domain metrics unavailable: no "
                                                       "domain classifier at ")]) == 1
  for name in ("samples_0000002.png", "samples_0000004.png", "samples.png", "losses.png"):
    assert (workdir / name).exists(), name
  with Image.open(workdir / "samples.png") as grid:
    assert grid.size == (2 * (2 * 30 + 2), 2 * (2 * 30 + 2))  # 2x2 grid of 28px, scale 2
  with Image.open(workdir / "samples.gif") as gif:
    assert gif.n_frames == 2                                     # one frame per evaluation
  train = [r for r in _records(workdir) if "d/loss" in r]
  assert [r["step"] for r in train] == [2, 4]
  events = EventAccumulator(str(workdir), size_guidance={"images": 0})
  events.Reload()
  d_loss = events.Scalars("d/loss")
  assert [e.step for e in d_loss] == [2, 4]
  np.testing.assert_allclose([e.value for e in d_loss], [r["d/loss"] for r in train],
                             rtol=1e-6)
  assert [e.step for e in events.Images("samples")] == [2, 4]
  assert summary["dataset"]["examples"] == 40 and summary["steps"] == 4
  assert -1.0 <= summary["sample_mean"] <= 1.0
  # No weights: the Inception metrics are named unavailable, with the reason, and absent.
  assert summary["inception"].startswith("unavailable: no Inception weights given")
  assert "fid" not in summary and "eval/fid" not in _records(workdir)[-1]
  # No MNIST classifier is shipped (MNIST is not on this machine): named unavailable too.
  assert summary["domain"].startswith("unavailable: no domain classifier at ")
  assert summary["domain"].endswith("mnist_classifier.npz; train one with `python -m "
                                    "experiments.train_classifier`")


def test_device_and_host_placement_train_identically_and_a_run_resumes_across_them(
    tmp_path, mnist_dirs):
  runs, summaries = {}, {}
  for placement in ("device", "host"):
    config = Config(**IMAGE_TINY, **mnist_dirs, data_placement=placement, tensorboard=False)
    summaries[placement] = train_and_evaluate(config, str(tmp_path / placement))
    runs[placement] = _strip(_records(tmp_path / placement))
  assert_same(runs["device"], runs["host"])
  if BITWISE:
    assert summaries["device"]["state_sha256"] == summaries["host"]["state_sha256"]
  # Stopped after 2 of 4 steps on the device feed, continued on the host feed: the host
  # thread starts at the checkpoint's step, and the GIF gets the grid drawn before the stop.
  half = Config(**{**IMAGE_TINY, "num_steps": 2}, **mnist_dirs, tensorboard=False)
  train_and_evaluate(half, str(tmp_path / "resumed"))
  resumed = train_and_evaluate(Config(**IMAGE_TINY, **mnist_dirs, data_placement="host",
                                      tensorboard=False), str(tmp_path / "resumed"))
  assert resumed["resumed_from_step"] == 2
  if BITWISE:
    assert resumed["state_sha256"] == summaries["device"]["state_sha256"]
  train = lambda records: [r for r in records if "d/loss" in r]
  assert_same(train(_strip(_records(tmp_path / "resumed"))), train(runs["device"]))
  with Image.open(tmp_path / "resumed" / "samples.gif") as gif:
    assert gif.n_frames == 2


class _Killed(BaseException):
  """A SIGKILL's stand-in: no handler catches it, nothing after it runs."""


def test_a_host_fed_run_killed_mid_epoch_resumes_with_other_workers_bit_for_bit(
    tmp_path, mnist_dirs, monkeypatch):
  # 40 images, batch 8: 5 steps an epoch; checkpoints at 3, 6, 9 all fall inside one.
  from jaxgan.runner.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  run = dict(IMAGE_TINY, **mnist_dirs, num_steps=11, checkpoint_every=3, eval_every=100,
             tensorboard=False, data_placement="host")
  whole = train_and_evaluate(Config(**run, data_workers=2), str(tmp_path / "whole"))
  kill_at = int(np.random.default_rng().choice([3, 6, 9]))
  save = Checkpointer.save

  def save_then_die(self, state, meta):
    path = save(self, state, meta)
    if int(state.step) == kill_at:
      raise _Killed
    return path

  monkeypatch.setattr(Checkpointer, "save", save_then_die)
  with pytest.raises(_Killed):
    train_and_evaluate(Config(**run, data_workers=2), str(tmp_path / "killed"))
  monkeypatch.undo()
  resumed = train_and_evaluate(Config(**run, data_workers=0), str(tmp_path / "killed"))
  assert resumed["resumed_from_step"] == kill_at, kill_at
  assert resumed["state_sha256"] == whole["state_sha256"], f"killed at step {kill_at}"
  assert _strip(_records(tmp_path / "killed")) == _strip(_records(tmp_path / "whole"))


def test_conditional_run_draws_one_row_per_class(tmp_path, mnist_dirs):
  config = Config(**{**IMAGE_TINY, "num_steps": 2}, **mnist_dirs, g_conditioning="cbn",
                  d_conditioning="acgan", tensorboard=False)
  train_and_evaluate(config, str(tmp_path / "c"))
  with Image.open(tmp_path / "c" / "samples.png") as grid:
    assert grid.size == (2 * (10 * 30 + 2), 2 * (10 * 30 + 2))  # 10 classes x 10 samples


@pytest.mark.parametrize("args, needle", [
    (["--dataset=image_folder", "--data_path=/nonexistent/photos"], "/nonexistent/photos"),
    (["--dataset=image_folder"], "--data_path"),
    (["--dataset=mnist", "--model=resnet_sn"], "resnet_sn"),
    (["--dataset=ring8", "--model=dcgan28"], "choose mlp"),
    (["--dataset=mnist", "--model=mlp", "--g_conditioning=cbn"], "not conditional"),
    (["--dataset=tfds:no_such_set_abc"], "no_such_set_abc"),
    (["--model=stylegan"], "resnet_sn"),
])
def test_bad_data_and_model_choices_stop_with_a_clear_message(tmp_path, mnist_dirs, args,
                                                              needle):
  if any(a.startswith("--manual_dir") for a in args):  # a data_dir where nothing is prepared
    data_dir = [f"--data_dir={tmp_path / 'fresh'}"]
  else:
    data_dir = [f"--data_dir={mnist_dirs['data_dir']}", f"--manual_dir={mnist_dirs['manual_dir']}"]
  proc = run_cli(f"--workdir={tmp_path / 'w'}", "--batch_size=8", *data_dir, *args)
  assert proc.returncode != 0
  assert needle in proc.stderr.splitlines()[-1] or needle in proc.stderr, proc.stderr[-1500:]
  assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
  assert not (tmp_path / "w").exists()


def test_every_shipped_flagfile_parses_into_a_valid_config():
  from experiments import run
  configs = os.path.join(ROOT, "experiments", "configs")
  names = sorted(n for n in os.listdir(configs) if n.endswith(".flags"))
  assert {"fashion_mnist_dcgan.flags", "fashion_mnist_conditional.flags", "mnist_dcgan.flags",
          "cifar10_resnet_sn.flags", "image_folder_dcgan64.flags", "ring8.flags",
          "grid25.flags"} <= set(names)
  try:
    for name in names:
      run.FLAGS.unparse_flags()
      run.FLAGS(["run", f"--flagfile={os.path.join(configs, name)}"])
      config = run.config_from_flags()
      assert run.FLAGS.workdir == f"runs/{name[:-len('.flags')]}", name
      # The file's name starts with its dataset's (a few spelled shorter).
      prefix = {"stacked_fashion_mnist": ("stacked_fmnist",),
                "image_folder": ("image_folder", "ffhq64", "ffhq256", "imagenet128")}
      assert name.startswith(prefix.get(config.data.dataset, (config.data.dataset,))), name
  finally:
    run.FLAGS.unparse_flags()
  run.FLAGS.unparse_flags()
  run.FLAGS(["run", f"--flagfile={os.path.join(configs, 'fashion_mnist_conditional.flags')}"])
  config = run.config_from_flags()
  assert (config.players.g_conditioning, config.players.d_conditioning) == ("cbn", "projection")
  run.FLAGS.unparse_flags()


@pytest.mark.slow
def test_shipped_cifar10_resnet_sn_flagfile_trains_on_cifar_files(tmp_path):
  """Two steps of the SNGAN config (k=1 to keep the compile short) on a 20-image CIFAR-10
  made of the real file format."""
  from test_data_images import write_cifar
  manual = write_cifar(str(tmp_path / "raw"))
  workdir = tmp_path / "run"
  proc = run_cli("--flagfile=experiments/configs/cifar10_resnet_sn.flags",
                 f"--workdir={workdir}", f"--data_dir={tmp_path / 'tfds'}",
                 f"--manual_dir={manual}", "--num_steps=2", "--batch_size=4", "--d_steps=1",
                 "--log_every=1", "--eval_every=2", "--grid_size=4", "--notensorboard",
                 timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  train = [r for r in _records(workdir) if "d/loss" in r]
  assert [r["step"] for r in train] == [1, 2]
  assert all(np.isfinite(r["d/loss"]) and np.isfinite(r["g/loss"]) for r in train)
  summary = json.loads((workdir / "summary.json").read_text())
  assert summary["config"]["model"] == "resnet_sn" and summary["config"]["loss"] == "hinge"
  with Image.open(workdir / "samples.png") as grid:
    assert grid.size == (2 * (2 * 34 + 2), 2 * (2 * 34 + 2))


def test_runner_points_the_compilation_cache_at_its_flag_unless_the_environment_names_one(
    monkeypatch, tmp_path):
  from experiments import run
  before = jax.config.jax_compilation_cache_dir
  try:
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "from_env"))
    run.use_compilation_cache(str(tmp_path / "from_flag"))
    assert jax.config.jax_compilation_cache_dir == before
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    run.use_compilation_cache("")  # '' turns it off: nothing changes
    assert jax.config.jax_compilation_cache_dir == before
    run.use_compilation_cache("~/jaxgan-test-cache")
    assert jax.config.jax_compilation_cache_dir == os.path.expanduser("~/jaxgan-test-cache")
  finally:
    jax.config.update("jax_compilation_cache_dir", before)


def test_noxla_cpu_ynnpack_routes_dots_away_from_ynnpack_unless_xla_flags_choose():
  from experiments import run
  flag = "--xla_cpu_experimental_ynn_fusion_type"
  assert run.xla_flags_for(True, "--a=1") == "--a=1"
  assert run.xla_flags_for(False, "") == f"{flag}="
  assert run.xla_flags_for(False, "--a=1") == f"--a=1 {flag}="
  assert run.xla_flags_for(False, f"{flag}=individual_dot") == f"{flag}=individual_dot"
  # What the flag does in this jaxlib: a dot compiles into a YNNPACK fusion by default, and
  # into none with the flag (a jaxlib that renamed or dropped the flag fails here).
  probe = ("import jax, jax.numpy as jnp; f = jax.jit(lambda a, b: jnp.tanh(a @ b)); "
           "print(f.lower(jnp.ones((64, 32)), jnp.ones((32, 16))).compile().as_text()"
           ".count('__ynn_fusion'))")
  counts = []
  for use in (True, False):
    env = {**os.environ, **HOST_DEVICES, "XLA_FLAGS": run.xla_flags_for(use, "")}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    counts.append(int(proc.stdout.split()[-1]))
  assert counts[0] >= 1 and counts[1] == 0
