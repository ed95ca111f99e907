r"""Writes samples of a run's EMA generator for external tools (clean-fid, torch-fidelity, ...).

    python -m experiments.sample --workdir=runs/NAME --num=50000 --out=DIR|FILE.npz \
        [--step=N] [--truncation=PSI] [--class=C] [--seed=S] [--batch=B] [--overwrite]

Restores the latest checkpoint (or `--step`) of the run in `--workdir` with the config the
run saved, draws `--num` images from its EMA generator in batches of `--batch` and writes
them as PNGs `000000.png, …` in the folder `--out`, or as one `.npz` holding `images` (N, H,
W, C) uint8 (and `labels` for a conditional generator). The same seed and batch give the
same images. A conditional generator draws class `--class`, or classes 0, 1, …, K−1 in turn.
`--truncation` ψ < 1 pulls each w toward the tracked mean w̄ (StyleGAN2 players only). The
output is written beside its final name and moved there at the end, so a stopped export
leaves no partial result; an existing output is refused unless `--overwrite`. Nothing in the
workdir changes.
"""

import os
import sys

from absl import app, flags, logging

from jaxgan.checkpoint import QuietOrbax
from jaxgan.export import export

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_integer("num", None, "How many images.", lower_bound=1)
flags.DEFINE_string("out", None, "A folder for PNGs, or a file ending in .npz.")
flags.DEFINE_integer("step", None, "The checkpoint's step (default: the latest).")
flags.DEFINE_float("truncation", 1.0, "Truncation psi (stylegan2; 1 = none).")
flags.DEFINE_integer("class", None, "The class of every image (conditional generators; "
                     "default: all classes in turn).", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the samples.")
flags.DEFINE_integer("batch", 64, "Images per generator call.", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace an existing output.")
for _name in ("workdir", "num", "out"):
  flags.mark_flag_as_required(_name)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(QuietOrbax())

  def progress(done, total):
    sys.stderr.write(f"\r{done}/{total} images")
    sys.stderr.write("\n" if done == total else "")

  try:
    path = export(FLAGS.workdir, FLAGS.num, FLAGS.out, step=FLAGS.step,
                  truncation=FLAGS.truncation, label=FLAGS["class"].value, seed=FLAGS.seed,
                  batch=FLAGS.batch, overwrite=FLAGS.overwrite, progress=progress)
  except ValueError as e:  # a bad request, or no run there (WorkdirError is one)
    raise app.UsageError(str(e)) from e
  print(f"{FLAGS.num} images of {path} written to {os.path.abspath(FLAGS.out)}")


if __name__ == "__main__":
  app.run(main)
