r"""R3GAN's Stacked-MNIST ablation on Stacked Fashion-MNIST:
`python -m studies.r3gan_ablation --root=runs/r3gan_ablation`.

Runs `experiments/configs/stacked_fmnist_r3gan.flags` once per arm and seed (PROTOCOLS.md
section 2: modes and KL of 26,000 EMA samples), the arms of the paper's Table 1:

  rpgan_r1_r2: the file        rpgan_r1: --penalty=r1
  ns_r1_r2: --loss=non_saturating        ns_r1: --loss=non_saturating --penalty=r1

as separate processes (`--jobs` at a time), reusing finished runs, so an interrupted
experiment continues where it stopped; `--report_only` starts nothing. Prints one row per
run and one per arm: modes and KL at the last evaluation, the most modes any evaluation saw,
whether the run diverged (the runner stopped it on a NaN, or the last count fell under
half the best: modes collapsing), the wall time its training records account for over all
its processes (`arms.logged_seconds`), and how many seeds clear the paper's bar (1000
modes, KL <= 0.078). `--arms=rpgan_r1_r2 --seeds=0,1,2,3,4` is the issue's five-seed check.
"""

import os

from absl import app, flags

from experiments.cli import CONFIGS_DIR

from studies import arms, r3gan_tables

ARMS = {"rpgan_r1_r2": [], "rpgan_r1": ["--penalty=r1"],
        "ns_r1_r2": ["--loss=non_saturating"],
        "ns_r1": ["--loss=non_saturating", "--penalty=r1"]}
FLAGFILE = os.path.join(CONFIGS_DIR, "stacked_fmnist_r3gan.flags")

arms.define_flags("runs/r3gan_ablation", "arm", list(ARMS), jobs=1)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if not FLAGS.report_only:
    arms.run_all(FLAGFILE, FLAGS.root, {arm: ARMS[arm] for arm in FLAGS.arms}, FLAGS.seeds,
                 FLAGS.jobs, FLAGS.extra)
  print(r3gan_tables.ablation_table(FLAGS.root, FLAGS.arms, FLAGS.seeds))


if __name__ == "__main__":
  app.run(main)
