r"""The stability table: `python -m studies.table --out=runs/table.md`.

For each dataset the shipped flagfile `experiments/configs/DATASET.flags` is run with each
`--losses` value, each `--variants` stabiliser and each seed, as separate processes (`--jobs`
at a time, sharing the machine's cores). The PROTOCOLS.md section 1 metrics are reported as
mean ± standard error beside PacGAN's published rows. A run that stops (a NaN, say) is
counted and named under the table instead of failing the whole command; finished runs are
reused, so an interrupted table continues where it stopped.

`--num_steps` shrinks the shipped budgets for a quicker table; the
table's footer always states the budget the runs had. `--report_only` starts nothing and
tabulates the runs that have finished, so a table still being filled can be read at any time.
"""

import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys

from absl import app, flags

from experiments.cli import CONFIGS_DIR

from experiments import cli

from jaxgan import losses

# Each variant is the flags it adds to the dataset's flagfile. Every variant names the
# penalty, so a flagfile's own penalty (grid25 ships with R1) does not leak into the others.
VARIANTS = {
    "none": ["--penalty=none"],
    "gp": ["--penalty=gp", "--penalty_weight=10"],
    "r1": ["--penalty=r1", "--penalty_weight=0.1"],
    "sn": ["--penalty=none", "--d_norm=spectral"],
    "pacgan2": ["--penalty=none", "--packing=2"],
    "unrolled": ["--penalty=none", "--unroll_steps=5"],
    "pacgan2_r1": ["--penalty=r1", "--penalty_weight=0.1", "--packing=2"],
    "none_bf16": ["--penalty=none", "--compute_dtype=bfloat16"],  # mixed precision's cost
    "shipped": [],  # the flagfile as it is
}

flags.DEFINE_list("datasets", ["ring8", "grid25"], "Datasets, each with a shipped flagfile.")
flags.DEFINE_list("losses", sorted(losses.LOSSES), "Losses to compare.")
flags.DEFINE_list("variants", ["none", "gp", "r1", "sn", "pacgan2", "unrolled"],
                  f"Stabilisers, from: {', '.join(VARIANTS)}.")
flags.DEFINE_integer("seeds", 5, "Seeds 0..N-1 per cell.", lower_bound=2)
flags.DEFINE_integer("jobs", 2, "Runs at a time.", lower_bound=1)
flags.DEFINE_integer("num_steps", None, "Override the flagfiles' step budgets (None: keep).",
                     lower_bound=1)
flags.DEFINE_bool("report_only", False, "Start no runs: tabulate the finished runs under "
                  "--workdir, naming the seeds that are missing.")
flags.DEFINE_string("workdir", "runs/table", "Parent directory of the runs.")
flags.DEFINE_string("out", None, "Markdown file to write the table to (also printed).")
FLAGS = flags.FLAGS

CONFIGS = CONFIGS_DIR

# PacGAN (Lin et al. 2018), Table 1: 10 trials, mean +- s.e.; 400 epochs of 100k, batch 100.
PUBLISHED = {
    "GAN (PacGAN Table 1)": ("6.3 ± 0.5", "98.2 ± 0.2", "0.45 ± 0.09",
                             "17.3 ± 0.8", "94.8 ± 0.7", "0.70 ± 0.07"),
    "PacGAN2 (PacGAN Table 1)": ("7.9 ± 0.1", "95.6 ± 2.0", "0.07 ± 0.03",
                                 "23.8 ± 0.7", "91.3 ± 0.8", "0.13 ± 0.04"),
    "PacGAN4 (PacGAN Table 1)": ("7.8 ± 0.1", "95.9 ± 1.4", "0.07 ± 0.02",
                                 "24.8 ± 0.2", "93.6 ± 0.6", "0.04 ± 0.01"),
}


def run_one(dataset: str, loss: str, variant: str, seed: int) -> dict:
  """Returns the run's summary.json, or {"failed": last error line} if the run stopped."""
  workdir = os.path.join(FLAGS.workdir, f"{dataset}_{loss}_{variant}_s{seed}")
  summary_path = os.path.join(workdir, "summary.json")
  if not os.path.exists(summary_path) and FLAGS.report_only:
    return {"missing": True}
  if not os.path.exists(summary_path):
    cmd = [sys.executable, "-m", "experiments.run",
           f"--flagfile={os.path.join(CONFIGS, dataset + '.flags')}", f"--loss={loss}",
           f"--seed={seed}", f"--workdir={workdir}", *VARIANTS[variant]]
    if FLAGS.num_steps:
      cmd.append(f"--num_steps={FLAGS.num_steps}")
    if loss.startswith("mmd"):
      cmd.append("--d_features=16")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
      fatal = [l for l in proc.stderr.splitlines() if "FATAL" in l or "Error" in l]
      return {"failed": (fatal or proc.stderr.splitlines() or ["?"])[-1][-300:]}
  with open(summary_path, encoding="utf-8") as f:
    return json.load(f)


def mean_se(values: list[float | None], scale: float = 1.0, digits: int = 1) -> str:
  values = [scale * v for v in values if v is not None]
  if len(values) < 2:
    return "n/a" if not values else f"{values[0]:.{digits}f}"
  se = statistics.stdev(values) / math.sqrt(len(values))
  return f"{statistics.mean(values):.{digits}f} ± {se:.{digits}f}"


def main(argv):
  del argv
  unknown = [v for v in FLAGS.variants if v not in VARIANTS]
  if unknown:
    cli.fatal(f"--variants: {', '.join(unknown)} not known; choose from "
              f"{', '.join(VARIANTS)}", "Flags parsing error")
  cells = [(d, l, v, s) for d in FLAGS.datasets for l in FLAGS.losses for v in FLAGS.variants
           for s in range(FLAGS.seeds)]
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    summaries = dict(zip(cells, pool.map(lambda c: run_one(*c), cells)))
  header = "| loss | stabiliser | " + " | ".join(
      f"{d} modes | {d} HQ % | {d} rev-KL" for d in FLAGS.datasets) + " |"
  lines = [header, "|" + "---|" * (2 + 3 * len(FLAGS.datasets))]
  failures = []
  for loss in FLAGS.losses:
    for variant in FLAGS.variants:
      row = [loss, variant]
      for d in FLAGS.datasets:
        runs = [summaries[(d, loss, variant, s)] for s in range(FLAGS.seeds)]
        done = [r for r in runs if "failed" not in r and "missing" not in r]
        failures += [f"{d} {loss} {variant} seed {s}: {r['failed']}"
                     for s, r in enumerate(runs) if "failed" in r]
        stopped = sum("failed" in r for r in runs)
        missing = sum("missing" in r for r in runs)
        if missing == len(runs):
          row += ["not run"] * 3
          continue
        # Reverse KL is undefined for a run with no HQ sample: its mean is over the others.
        undefined = sum(r["reverse_kl"] is None for r in done)
        no_kl = (f" ({undefined} run{'s' * (undefined > 1)} without HQ samples)" if undefined
                 else "")
        mark = "".join([f" ({stopped} stopped)" if stopped else "",
                        f" ({len(runs) - missing} of {len(runs)} seeds)" if missing else ""])
        row += [mean_se([r["modes"] for r in done]) + mark,
                mean_se([r["hq_fraction"] for r in done], 100.0),
                mean_se([r["reverse_kl"] for r in done], 1.0, 3) + no_kl]
      lines.append("| " + " | ".join(row) + " |")
  if FLAGS.datasets == ["ring8", "grid25"]:
    lines += [f"| {name} | | " + " | ".join(vals) + " |" for name, vals in PUBLISHED.items()]
  budgets = []
  for d in FLAGS.datasets:
    done = [summaries[c] for c in cells
            if c[0] == d and "failed" not in summaries[c] and "missing" not in summaries[c]]
    if not done:
      continue
    cfg = done[0]["config"]
    secs = [r["train_seconds"] for r in done]
    budgets.append(f"{d}: {cfg['num_steps']} steps × batch {cfg['batch_size']} "
                   f"(d_steps {cfg['d_steps']}), median {statistics.median(secs):.0f} s "
                   f"per run" + ("" if FLAGS.report_only else ", one run at a time"
                                 if FLAGS.jobs == 1
                                 else f", {FLAGS.jobs} runs at a time sharing the cores"))
  lines.append("")
  measured = sum(1 for c in cells if "missing" not in summaries[c])
  if measured < len(cells):
    lines.append(f"{measured} of the table's {len(cells)} runs are in {FLAGS.workdir}; "
                 f"`not run` marks the cells with none.")
  lines.append(f"{FLAGS.seeds} seeds per cell (mean ± s.e. over the runs that finished); "
               f"budget: " + "; ".join(budgets) + ". Modes counted on 2,500 samples of the "
               f"EMA generator. Stabilisers: " + "; ".join(
                   f"{v} = {' '.join(VARIANTS[v]) or 'the flagfile as shipped'}"
                   for v in FLAGS.variants) + ".")
  if failures:
    lines += ["", "Runs that stopped:", *[f"- {f}" for f in failures]]
  table = "\n".join(lines)
  print(table)
  if FLAGS.out:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      f.write(table + "\n")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
