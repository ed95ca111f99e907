r"""R3GAN's Stacked-MNIST ablation on Stacked Fashion-MNIST:
`python -m experiments.r3gan_ablation --root=runs/r3gan_ablation`.

Runs `experiments/configs/stacked_fmnist_r3gan.flags` once per arm and seed (PROTOCOLS.md
section 2: modes and KL of 26,000 EMA samples), the arms of the paper's Table 1:

  rpgan_r1_r2: the file        rpgan_r1: --penalty=r1
  ns_r1_r2: --loss=non_saturating        ns_r1: --loss=non_saturating --penalty=r1

as separate processes (`--jobs` at a time), reusing finished runs, so an interrupted
experiment continues where it stopped; `--report_only` starts nothing. Prints one row per
run and one per arm: modes and KL at the last evaluation, the most modes any evaluation saw,
whether the run diverged (a NaN loss, or the last count under half the best: modes
collapsing), the wall time of its last process (`summary.json`), and how many seeds clear
the paper's bar (1000 modes, KL <= 0.078). `--arms=rpgan_r1_r2 --seeds=0,1,2,3,4` is the
issue's five-seed check.
"""

import math
import os

from absl import app, flags

from experiments import arms

ARMS = {"rpgan_r1_r2": [], "rpgan_r1": ["--penalty=r1"],
        "ns_r1_r2": ["--loss=non_saturating"],
        "ns_r1": ["--loss=non_saturating", "--penalty=r1"]}
FLAGFILE = os.path.join(os.path.dirname(__file__), "configs", "stacked_fmnist_r3gan.flags")
BAR = (1000, 0.078)  # the paper's RpGAN + R1 + R2 on Stacked MNIST: modes, KL

flags.DEFINE_string("root", "runs/r3gan_ablation", "One workdir per arm and seed goes here.")
flags.DEFINE_list("arms", list(ARMS), f"Arms: {', '.join(ARMS)}.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_integer("jobs", 1, "Runs at a time.")
flags.DEFINE_bool("report_only", False, "Tabulate finished runs; start nothing.")
flags.DEFINE_list("extra", [], "Flags added to every run (say --num_steps=200 for a probe).")
FLAGS = flags.FLAGS


def summary(root: str, arm: str, seed: str) -> dict | None:
  """Returns a finished run's last and best counts, KL, divergence and time, else None."""
  folder = arms.workdir(root, arm, seed)
  if not arms.finished(folder):
    return None
  rows = arms.records(folder)
  evaluations = [r for r in rows if "eval/stacked_modes" in r]
  if not evaluations:
    raise ValueError(f"{folder} finished without a stacked-modes evaluation; run it with "
                     f"--eval_every at most --num_steps")
  last = evaluations[-1]
  best = max(r["eval/stacked_modes"] for r in evaluations)
  losses = [v for r in rows for k, v in r.items() if k in ("d/loss", "g/loss")]
  nan = any(isinstance(v, float) and not math.isfinite(v) for v in losses)
  collapsed = last["eval/stacked_modes"] < best / 2
  return {"step": last["step"], "modes": last["eval/stacked_modes"],
          "kl": last["eval/stacked_kl"], "best": best,
          "diverged": "NaN" if nan else ("modes collapsed" if collapsed else "no"),
          "seconds": arms.summary_seconds(folder)}


def cleared(run: dict) -> bool:
  return run["modes"] >= BAR[0] and run["kl"] <= BAR[1]


def table(root: str, arm_names: list[str], seeds: list[str]) -> str:
  lines = ["| arm | seed | step | modes | KL | most modes seen | diverged | wall s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  means = ["| arm | seeds done | modes | KL | diverged | at the bar (1000, KL <= 0.078) |",
           "| --- | --- | --- | --- | --- | --- |"]
  for arm in arm_names:
    done = []
    for seed in seeds:
      run = summary(root, arm, seed)
      if run is None:
        continue
      done.append(run)
      lines.append(f"| {arm} | {seed} | {run['step']} | {run['modes']} | {run['kl']:.3f} | "
                   f"{run['best']} | {run['diverged']} | {run['seconds']:.0f} |")
    diverged = sum(run["diverged"] != "no" for run in done)
    means.append(f"| {arm} | {len(done)} of {len(seeds)} | "
                 f"{arms.cell([r['modes'] for r in done], 1)} | "
                 f"{arms.cell([r['kl'] for r in done], 3)} | {diverged} of {len(done)} | "
                 f"{sum(map(cleared, done))} of {len(done)} |")
  return "\n".join(lines) + "\n\n" + "\n".join(means)


def main(argv):
  del argv
  if not FLAGS.report_only:
    arms.run_all(FLAGFILE, FLAGS.root, {arm: ARMS[arm] for arm in FLAGS.arms}, FLAGS.seeds,
                 FLAGS.jobs, FLAGS.extra)
  print(table(FLAGS.root, FLAGS.arms, FLAGS.seeds))


if __name__ == "__main__":
  app.run(main)
