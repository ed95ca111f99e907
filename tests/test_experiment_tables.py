"""The tables of the R3GAN experiments (`studies.r3gan_ablation`, `r3gan_vs_dcgan`) from
finished runs' records."""

import json
import math
import os

import pytest

from studies import arms, r3gan_tables


def _run(root, arm, seed, evaluations, losses=(0.5,), seconds=100.0):
  folder = os.path.join(root, f"{arm}_s{seed}")
  os.makedirs(folder)
  with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
    for i, loss in enumerate(losses):  # one step each, `seconds` in all
      f.write(json.dumps({"step": i + 1, "d/loss": loss, "g/loss": 1.0,
                          "steps_per_sec": len(losses) / seconds}) + "\n")
    for step, modes, kl in evaluations:
      f.write(json.dumps({"step": step, "eval/stacked_modes": modes,
                          "eval/stacked_kl": kl}) + "\n")
  with open(os.path.join(folder, "summary.json"), "w") as f:
    json.dump({"train_seconds": seconds}, f)


def test_summary_flags_divergence_and_the_bar(tmp_path):
  root = str(tmp_path)
  _run(root, "a", "0", [(500, 900, 0.3), (1000, 1000, 0.07)])
  _run(root, "a", "1", [(500, 800, 0.4), (1000, 1000, 0.09)])   # KL above the bar
  _run(root, "b", "0", [(500, 700, 0.9), (1000, 300, 3.0)])     # collapsed: 300 < 700 / 2
  _run(root, "b", "1", [(1000, 600, 1.0)], losses=(0.5, math.nan))
  assert r3gan_tables.ablation_summary(root, "a", "0")["diverged"] == "no"
  assert r3gan_tables.cleared(r3gan_tables.ablation_summary(root, "a", "0"))
  assert not r3gan_tables.cleared(r3gan_tables.ablation_summary(root, "a", "1"))
  collapsed = r3gan_tables.ablation_summary(root, "b", "0")
  assert (collapsed["diverged"], collapsed["best"], collapsed["modes"]) == (
      "modes collapsed", 700, 300)
  assert r3gan_tables.ablation_summary(root, "b", "1")["diverged"] == "NaN"
  assert r3gan_tables.ablation_summary(root, "b", "2") is None  # never ran
  # A run the runner stopped on a NaN has no summary; it is diverged, not missing.
  stopped = os.path.join(root, "c_s0")
  os.makedirs(stopped)
  with open(os.path.join(stopped, "metrics.jsonl"), "w") as f:
    f.write(json.dumps({"step": 500, "eval/stacked_modes": 640, "eval/stacked_kl": 1.5}) + "\n")
  with open(stopped + ".log", "w") as f:
    f.write("...\nFATAL NonFiniteError: non-finite d/loss at step 730; ...\n")
  assert r3gan_tables.ablation_summary(root, "c", "0") == {
      "step": 500, "modes": None, "kl": None, "kl_channels": None, "best": 640,
      "diverged": "NaN (stopped)", "seconds": None}
  assert "| c | 0 | 500 | – | – | – | 640 | NaN (stopped) | – |" in r3gan_tables.ablation_table(
      root, ["c"], ["0"])
  assert "| c | 1 of 1 | – | – | 1 of 1 | 0 of 1 |" in r3gan_tables.ablation_table(
      root, ["c"], ["0"])
  # Run again it would diverge again: the driver leaves it.
  assert "stopped on a non-finite value before" in arms.run_one(
      "none.flags", root, "c", "0", [], [])
  text = r3gan_tables.ablation_table(root, ["a", "b"], ["0", "1", "2"])
  assert "| a | 2 of 3 | 1000.0 ± 0.0 | 0.080 ± 0.014 | 0 of 2 | 1 of 2 |" in text
  assert "| b | 2 of 3 | 450.0 ± 212.1 | 2.000 ± 1.414 | 2 of 2 | 0 of 2 |" in text
  assert "| b | 0 | 1000 | 300 | 3.000 | – | 700 | modes collapsed | 100 |" in text
  # The marginals' part of the KL, where the records have it (since 2026-12-02).
  with open(os.path.join(root, "a_s0", "metrics.jsonl"), "a") as f:
    f.write(json.dumps({"step": 1500, "eval/stacked_modes": 1000, "eval/stacked_kl": 0.06,
                        "eval/stacked_kl_channels": 0.025}) + "\n")
  assert r3gan_tables.ablation_summary(root, "a", "0")["kl_channels"] == 0.025
  assert "| a | 0 | 1500 | 1000 | 0.060 | 0.025 | 1000 | no | 100 |" in (
      r3gan_tables.ablation_table(root, ["a"], ["0"]))


def test_a_finished_run_without_evaluation_is_named(tmp_path):
  _run(str(tmp_path), "a", "0", [])
  with pytest.raises(ValueError, match="a_s0 finished without a stacked-modes evaluation"):
    r3gan_tables.ablation_summary(str(tmp_path), "a", "0")


def test_the_comparison_table_takes_each_runs_last_evaluation(tmp_path):
  root = str(tmp_path)
  for model, seed, fds in (("r3gan", "0", (90.0, 50.0)), ("r3gan", "1", (80.0, 70.0)),
                           ("dcgan", "0", (40.0, 30.0))):
    folder = os.path.join(root, f"{model}_s{seed}")
    os.makedirs(folder)
    with open(os.path.join(folder, "metrics.jsonl"), "w") as f:
      # 400 steps at 1/s, then (a second process) 400 at 4/s: 500 s, whatever the last
      # process's summary says.
      f.write(json.dumps({"step": 400, "d/loss": 0.5, "steps_per_sec": 1.0}) + "\n")
      f.write(json.dumps({"step": 800, "d/loss": 0.5, "steps_per_sec": 4.0}) + "\n")
      for step, fd in zip((400, 800), fds):
        f.write(json.dumps({"step": step, r3gan_tables.FD: fd, "eval/class_kl": fd / 100,
                            "eval/kid_fashion_mnist_classifier": fd / 2}) + "\n")
    with open(os.path.join(folder, "summary.json"), "w") as f:
      json.dump({"train_seconds": 700.0}, f)
  text = r3gan_tables.comparison_table(root, ["r3gan", "dcgan"], ["0", "1"])
  assert "| r3gan | 0 | 800 | 50.0 | 25.0 | 0.500 | 500 |" in text
  assert "| r3gan | 2 of 2 | 60.0 ± 14.1 | 30.0 ± 7.1 | 0.600 ± 0.141 |" in text
  assert "| dcgan | 1 of 2 | 30.0 | 15.0 | 0.300 |" in text


def test_a_resumed_run_appends_to_its_log(tmp_path, monkeypatch):
  calls = []

  def fake_run(command, stdout, **kwargs):  # the runner, writing one line of its own
    calls.append(command)
    stdout.write(f"process {len(calls)} of {command[4]}\n")
    return type("Done", (), {"returncode": 0})()

  monkeypatch.setattr(arms.subprocess, "run", fake_run)
  for _ in range(2):
    assert arms.run_one("x.flags", str(tmp_path), "a", "0", ["--loss=rpgan"], ["--x=1"]) == (
        f"a seed 0: exit 0 (log {tmp_path}/a_s0.log)")
  with open(tmp_path / "a_s0.log") as f:
    assert f.read() == (f"process 1 of --workdir={tmp_path}/a_s0\n"
                        f"process 2 of --workdir={tmp_path}/a_s0\n")
  assert calls[0][5:] == ["--seed=0", "--loss=rpgan", "--x=1"]
