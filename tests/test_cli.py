"""The runner: flags, errors that name the flag, and what a run writes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxgan.config import Config
from jaxgan.train import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(num_steps=10, batch_size=16, g_width=8, d_width=8, log_every=5, eval_every=5,
            eval_samples=200)


def run_cli(*args, timeout=240):
  return subprocess.run([sys.executable, "-m", "experiments.run", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["--bogus_flag=1"], "bogus_flag"),
    (["--loss=hingee"], "least_squares"),          # the accepted values are listed
    (["--dataset=ring9"], "grid25"),
    (["--batch_size=0"], "batch_size"),
    (["--num_steps=-3"], "num_steps"),
    (["--d_steps=two"], "d_steps"),
    (["--g_lr=nan"], "g_lr"),
    (["--d_beta1=1.5"], "d_beta1"),
    (["--flagfile=/nonexistent/x.flags"], "x.flags"),
])
def test_bad_flags_stop_with_a_message_naming_them(tmp_path, args, needle):
  proc = run_cli(f"--workdir={tmp_path / 'w'}", *args)
  assert proc.returncode != 0
  assert needle in proc.stderr, proc.stderr
  assert not (tmp_path / "w").exists()  # nothing was started


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


def test_training_is_deterministic_by_seed(tmp_path):
  config = Config(**TINY, seed=3)
  a = train_and_evaluate(config, str(tmp_path / "a"))
  b = train_and_evaluate(config, str(tmp_path / "b"))
  ka = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
  kb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
  strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "steps_per_sec"}
  assert [strip(x) for x in ka] == [strip(x) for x in kb]
  assert a["hq_counts"] == b["hq_counts"]
