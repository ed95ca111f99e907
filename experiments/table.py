r"""Mode-coverage table over seeds: `python -m experiments.table --out=runs/table.md`.

For each dataset the shipped flagfile `experiments/configs/DATASET.flags` is run with each
`--losses` value and each seed, as separate processes (`--jobs` at a time, sharing the
machine's cores), and the PROTOCOLS.md section 1 metrics are reported as mean +- standard
error beside PacGAN's published rows.
"""

import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys

from absl import app, flags

flags.DEFINE_list("datasets", ["ring8", "grid25"], "Datasets, each with a shipped flagfile.")
flags.DEFINE_list("losses", ["non_saturating", "hinge", "least_squares"], "Losses to compare.")
flags.DEFINE_integer("seeds", 5, "Seeds 0..N-1 per cell.", lower_bound=2)
flags.DEFINE_integer("jobs", 2, "Runs at a time.", lower_bound=1)
flags.DEFINE_string("workdir", "runs/table", "Parent directory of the runs.")
flags.DEFINE_string("out", None, "Markdown file to write the table to (also printed).")
FLAGS = flags.FLAGS

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")

# PacGAN (Lin et al. 2018), Table 1: 10 trials, mean +- s.e.; 400 epochs of 100k, batch 100.
PUBLISHED = {
    "GAN (PacGAN Table 1)": ("6.3 ± 0.5", "98.2 ± 0.2", "0.45 ± 0.09",
                             "17.3 ± 0.8", "94.8 ± 0.7", "0.70 ± 0.07"),
    "PacGAN4 (PacGAN Table 1)": ("7.8 ± 0.1", "95.9 ± 1.4", "0.07 ± 0.02",
                                 "24.8 ± 0.2", "93.6 ± 0.6", "0.04 ± 0.01"),
}


def run_one(dataset: str, loss: str, seed: int) -> dict:
  workdir = os.path.join(FLAGS.workdir, f"{dataset}_{loss}_s{seed}")
  summary_path = os.path.join(workdir, "summary.json")
  if not os.path.exists(summary_path):
    cmd = [sys.executable, "-m", "experiments.run",
           f"--flagfile={os.path.join(CONFIGS, dataset + '.flags')}", f"--loss={loss}",
           f"--seed={seed}", f"--workdir={workdir}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
      raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
  with open(summary_path, encoding="utf-8") as f:
    return json.load(f)


def mean_se(values: list[float | None], scale: float = 1.0, digits: int = 1) -> str:
  if any(v is None for v in values):
    return "n/a"
  values = [scale * v for v in values]
  se = statistics.stdev(values) / math.sqrt(len(values))
  return f"{statistics.mean(values):.{digits}f} ± {se:.{digits}f}"


def main(argv):
  del argv
  cells = [(d, l, s) for d in FLAGS.datasets for l in FLAGS.losses for s in range(FLAGS.seeds)]
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    summaries = dict(zip(cells, pool.map(lambda c: run_one(*c), cells)))
  header = "| method | " + " | ".join(
      f"{d} modes | {d} HQ % | {d} rev-KL" for d in FLAGS.datasets) + " |"
  lines = [header, "|" + "---|" * (1 + 3 * len(FLAGS.datasets))]
  for loss in FLAGS.losses:
    row = [f"jaxgan {loss}"]
    for d in FLAGS.datasets:
      runs = [summaries[(d, loss, s)] for s in range(FLAGS.seeds)]
      row += [mean_se([r["modes"] for r in runs]),
              mean_se([r["hq_fraction"] for r in runs], 100.0),
              mean_se([r["reverse_kl"] for r in runs], 1.0, 2)]
    lines.append("| " + " | ".join(row) + " |")
  if FLAGS.datasets == ["ring8", "grid25"]:
    lines += [f"| {name} | " + " | ".join(vals) + " |" for name, vals in PUBLISHED.items()]
  budgets = []
  for d in FLAGS.datasets:
    cfg = summaries[(d, FLAGS.losses[0], 0)]["config"]
    secs = [summaries[(d, l, s)]["train_seconds"] for l in FLAGS.losses
            for s in range(FLAGS.seeds)]
    budgets.append(f"{d}: {cfg['num_steps']} steps × batch {cfg['batch_size']} "
                   f"(d_steps {cfg['d_steps']}), median {statistics.median(secs):.0f} s "
                   f"per run, {FLAGS.jobs} runs sharing the cores")
  lines.append("")
  lines.append(f"{FLAGS.seeds} seeds per cell (mean ± s.e.); budget: " + "; ".join(budgets)
               + ". Modes counted on 2,500 samples of the EMA generator.")
  table = "\n".join(lines)
  print(table)
  if FLAGS.out:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  app.run(main)
