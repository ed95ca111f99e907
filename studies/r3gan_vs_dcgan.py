r"""R3GAN against the default DCGAN on Fashion-MNIST at the same wall-clock budget:
`python -m studies.r3gan_vs_dcgan --root=runs/r3gan_vs_dcgan`.

Runs `fashion_mnist_r3gan.flags` (800 steps) and `fashion_mnist_dcgan.flags` (1,500 steps),
which take about as long on the 2-core CPU, once per seed, each scored once, at its end, on
10,000 EMA samples against the test split in the domain classifier's space (FD, KID, class KL;
`--extra` adds flags to every run). Runs go `--jobs` at a time, finished ones are reused
and `--report_only` starts nothing. Prints one row per run and the mean ± sd per model.
"""

import os

from absl import app, flags

from experiments.cli import CONFIGS_DIR

from studies import arms, r3gan_tables

CONFIGS = CONFIGS_DIR
MODELS = {"r3gan": "fashion_mnist_r3gan.flags", "dcgan": "fashion_mnist_dcgan.flags"}
# Beyond either run's steps: the runner's final evaluation is then the only one.
SCORING = ["--domain_samples=10000", "--domain_reference=test", "--eval_every=1000000"]

arms.define_flags("runs/r3gan_vs_dcgan", "model", list(MODELS), jobs=1)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if not FLAGS.report_only:
    files = {model: os.path.join(CONFIGS, MODELS[model]) for model in FLAGS.models}
    arms.run_all(files, FLAGS.root, {model: [] for model in FLAGS.models}, FLAGS.seeds,
                 FLAGS.jobs, [*SCORING, *FLAGS.extra])
  print(r3gan_tables.comparison_table(FLAGS.root, FLAGS.models, FLAGS.seeds))


if __name__ == "__main__":
  app.run(main)
