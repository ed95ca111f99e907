"""Runs killed from outside: SIGKILL at a random moment, SIGTERM and SIGINT."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import FAST_ENV, train_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ["--dataset=ring8", "--batch_size=16", "--g_width=32", "--d_width=32",
         "--eval_samples=100", "--notensorboard"]


ENV = FAST_ENV


def start(workdir, *flags):
  return subprocess.Popen([sys.executable, "-m", "experiments.run", f"--workdir={workdir}",
                           *FLAGS, *flags], cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for(condition, process, timeout=120):
  deadline = time.monotonic() + timeout
  while not condition():
    assert process.poll() is None, process.stderr.read()[-2000:]
    assert time.monotonic() < deadline
    time.sleep(0.02)


def checkpoint_steps(workdir):
  folder = os.path.join(workdir, "checkpoints")
  return sorted(int(n) for n in os.listdir(folder) if n.isdigit()) if os.path.isdir(
      folder) else []


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_rerun_equals_an_uninterrupted_run(tmp_path):
  run = ["--num_steps=800", "--checkpoint_every=50", "--log_every=100",
         "--eval_every=100000"]
  whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
  reference = start(whole, *run)
  victim = start(killed, *run)
  wait_for(lambda: checkpoint_steps(killed), victim)
  delay = random.uniform(0.0, 1.0)
  time.sleep(delay)
  assert victim.poll() is None, f"finished before the kill ({delay:.2f} s after step 50)"
  victim.send_signal(signal.SIGKILL)
  victim.wait()
  steps = checkpoint_steps(killed)
  assert 800 not in steps, steps
  resumed = subprocess.run([sys.executable, "-m", "experiments.run", f"--workdir={killed}",
                            *FLAGS, *run], cwd=ROOT, capture_output=True, text=True,
                           timeout=300, env=ENV)
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert reference.wait(timeout=300) == 0, reference.stderr.read()[-2000:]
  a = json.load(open(os.path.join(whole, "summary.json"), encoding="utf-8"))
  b = json.load(open(os.path.join(killed, "summary.json"), encoding="utf-8"))
  message = f"killed {delay:.2f} s after the first checkpoint, checkpoints then {steps}"
  assert b["resumed_from_step"] == steps[-1] > 0, message
  assert a["state_sha256"] == b["state_sha256"], message  # bitwise-identical state
  assert train_records(whole) == train_records(killed), message
  assert not [n for n in os.listdir(os.path.join(killed, "checkpoints")) if "tmp" in n]


@pytest.mark.slow
def test_sigterm_and_sigint_finish_the_step_save_and_exit_saying_where(tmp_path):
  workdir = str(tmp_path / "w")
  run = ["--num_steps=1000000", "--checkpoint_every=1000000", "--log_every=50"]
  for signum in (signal.SIGTERM, signal.SIGINT):
    before = checkpoint_steps(workdir)
    process = start(workdir, *run)
    lines = []
    wait_for(lambda: lines.append(process.stderr.readline()) or "steps/s" in lines[-1], process)
    process.send_signal(signum)
    stderr = "".join(lines) + process.stderr.read()
    assert process.wait(timeout=60) == 128 + signum, stderr[-2000:]
    (stopped,) = [line for line in stderr.splitlines() if line.startswith("STOPPED")]
    steps = checkpoint_steps(workdir)
    (new,) = set(steps) - set(before)
    assert stopped == (f"STOPPED stopped by {signal.Signals(signum).name} after step {new}; "
                       f"checkpoint saved in {workdir}/checkpoints/{new}. Run the same "
                       f"command to resume.")
    assert [r["step"] for r in train_records(workdir)][-1] <= new
    if before:  # the second run continued the first
      assert new > before[-1] and f"resuming from step {before[-1]}" in stderr
