"""Experiments of several arms × seeds, one `experiments.run` process a run.

`run_all` starts the runs that have neither finished (`summary.json`) nor stopped on a NaN
or Inf (`stopped_nonfinite`), `jobs` at a time, each `<root>/<arm>_s<seed>` with its log
beside it (appended to), so an interrupted experiment continues where it stopped; `records` reads a run's
metrics, `cell` prints mean ± sd over seeds.
"""

import json
import os
import statistics
import subprocess
import sys
from concurrent import futures
from typing import Sequence

from absl import flags


def define_flags(root: str, kind: str, names: Sequence[str], jobs: int = 1) -> None:
  """Defines the flags every such experiment takes: --root, --<kind>s (which of `names`
  to run), --seeds, --jobs, --report_only and --extra."""
  flags.DEFINE_string("root", root, f"One workdir per {kind} and seed goes here.")
  flags.DEFINE_list(f"{kind}s", list(names), f"{kind.capitalize()}s: {', '.join(names)}.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  flags.DEFINE_integer("jobs", jobs, "Runs at a time.", lower_bound=1)
  flags.DEFINE_bool("report_only", False, "Tabulate finished runs; start nothing.")
  flags.DEFINE_list("extra", [], "Flags added to every run (say --num_steps=200 for a probe).")


def workdir(root: str, arm: str, seed: str) -> str:
  return os.path.join(root, f"{arm}_s{seed}")


def finished(folder: str) -> bool:
  return os.path.exists(os.path.join(folder, "summary.json"))


def stopped_nonfinite(folder: str) -> bool:
  """Whether the run stopped on a NaN or Inf: the runner's last word in its log. Such a run
  writes no summary, and run again it diverges again (the same seed)."""
  log = folder + ".log"
  if not os.path.exists(log):
    return False
  with open(log, encoding="utf-8", errors="replace") as f:
    return "FATAL NonFiniteError" in f.read()


def run_one(flagfile: str, root: str, arm: str, seed: str, arm_flags: Sequence[str],
            extra: Sequence[str]) -> str:
  folder = workdir(root, arm, seed)
  if finished(folder):
    return f"{arm} seed {seed}: finished before"
  if stopped_nonfinite(folder):
    return f"{arm} seed {seed}: stopped on a non-finite value before (log {folder}.log)"
  command = [sys.executable, "-m", "experiments.run", f"--flagfile={flagfile}",
             f"--workdir={folder}", f"--seed={seed}", *arm_flags, *extra]
  os.makedirs(root, exist_ok=True)
  with open(folder + ".log", "a", encoding="utf-8") as log:  # a resumed run's log goes on
    done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
  return f"{arm} seed {seed}: exit {done.returncode} (log {folder}.log)"


def run_all(flagfile: str | dict[str, str], root: str, arms: dict[str, Sequence[str]],
            seeds: Sequence[str], jobs: int, extra: Sequence[str] = ()) -> None:
  """Runs every (arm, seed) not finished yet, seed by seed, `jobs` at a time; `flagfile` is
  every arm's, or each arm's by name."""
  files = flagfile if isinstance(flagfile, dict) else {arm: flagfile for arm in arms}
  todo = [(arm, seed) for seed in seeds for arm in arms]
  with futures.ThreadPoolExecutor(jobs) as pool:
    for message in pool.map(lambda job: run_one(files[job[0]], root, job[0], job[1],
                                                arms[job[0]], extra), todo):
      print(message, flush=True)


def records(folder: str) -> list[dict]:
  path = os.path.join(folder, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def cell(values: list[float], digits: int) -> str:
  if not values:
    return "–"
  if len(values) == 1:
    return f"{values[0]:.{digits}f}"
  return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def logged_seconds(folder: str) -> float | None:
  """The wall time a run's training records account for, over every process of a resumed
  run: the sum of Δstep / steps_per_sec from step 0 (evaluations between two records
  included, start-up and compiles not). None when no record carries a rate.
  `summary.json`'s `train_seconds` is only its last process's."""
  total, last, seen = 0.0, 0, False
  for record in records(folder):
    if "steps_per_sec" in record:
      total += (record["step"] - last) / record["steps_per_sec"]
      last, seen = record["step"], True
  return total if seen else None
