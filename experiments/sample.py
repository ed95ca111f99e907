r"""Writes samples of a run's EMA generator for external tools (clean-fid, torch-fidelity, ...).

    python -m experiments.sample --workdir=runs/NAME --num=50000 --out=DIR|FILE.npz \
        [--step=N] [--truncation=PSI|T] [--standing_stats=N] [--class=C] [--seed=S] \
        [--batch=B] [--overwrite]

Restores the latest checkpoint (or `--step`) of the run in `--workdir` with the config the
run saved, draws `--num` images from its EMA generator in batches of `--batch` and writes
them as PNGs `000000.png, …` in the folder `--out`, or as one `.npz` holding `images` (N, H,
W, C) uint8 (and `labels` for a conditional generator). The same seed and batch give the
same images. A conditional generator draws class `--class`, or classes 0, 1, …, K−1 in turn.
`--truncation` ψ < 1 pulls each w toward the tracked mean w̄ (StyleGAN2 players); for any
other model it is BigGAN's trick, each element of z drawn from the normal truncated to [−t, t].
`--standing_stats=N` (BigGAN players) samples with G's batch norms set to the mean statistics
of N batches of `--standing_batch` images of the generator drawn from, as BigGAN-PyTorch's
`--mybn --accumulate_stats`.
`--latents=Z.npy` draws the given z (N, latent_dim) instead, one image each, as the official
generate.py draws given seeds; `--noise_mode=const|none` sets StyleGAN2's noise inputs to
each layer's fixed noise image (a converted network's own) or to none; `--noema` draws the
raw G. A run converted from an official pickle (`experiments.convert`) samples without its
training images at hand. The
output is written beside its final name and moved there at the end, so a stopped export
leaves no partial result; an existing output is refused unless `--overwrite`. Nothing in the
workdir changes.

Style mixing (StyleGAN2 players):

    python -m experiments.sample --workdir=runs/NAME --mix_layers=0-3 --num=ROWS \
        [--mix_cols=COLS] --out=FIGURE.png|FILE.npz [--truncation=PSI] [--class=C] ...

draws `--num` row and `--mix_cols` column sources; each cell is its row's image with the
per-layer latents `--mix_layers` (indices or ranges, say 0-3 or 0,1,6-7) taken from its
column's. Low indices are the coarse resolutions: `--mix_layers=list` prints what each
index drives. A .png gets the grid (column sources along the top, row sources down the
left), a .npz the images as arrays (`jaxgan.runner.export.export_style_mix`).
"""

import os
import sys

from absl import app, flags

from experiments import cli

from jaxgan.runner.export import export, export_style_mix, parse_layers, style_layer_names

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_integer("num", None, "How many images (style mixing: row sources).",
                     lower_bound=1)
flags.DEFINE_string("out", None, "A folder for PNGs, or a file ending in .npz (style mixing: "
                    "a .png or a .npz).")
flags.DEFINE_integer("step", None, "The checkpoint's step (default: the latest).")
flags.DEFINE_float("truncation", None, "The truncation trick. stylegan2: psi, in w (1 = none); "
                   "other models (biggan, ...): each element of z drawn from the normal "
                   "truncated to [-t, t], a value beyond t drawn again (BigGAN's trick; > 0). "
                   "Default: none.")
flags.DEFINE_integer("class", None, "The class of every image (conditional generators; "
                     "default: all classes in turn).", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the samples.")
flags.DEFINE_integer("batch", 64, "Images per generator call.", lower_bound=1)
flags.DEFINE_integer("standing_stats", 0, "Sample with standing statistics: G's batch-norm "
                     "statistics accumulated over this many batches, as BigGAN-PyTorch's "
                     "--mybn --accumulate_stats does (BigGAN players; 0: the running "
                     "statistics).", lower_bound=0)
flags.DEFINE_integer("standing_batch", 0, "Images per standing-statistics batch (0: the run's "
                     "batch size, at most 256).", lower_bound=0)
flags.DEFINE_bool("overwrite", False, "Replace an existing output.")
flags.DEFINE_string("latents", None, "A .npy file of z, shape (N, latent_dim): draw these N "
                    "images instead of --num from --seed.")
flags.DEFINE_enum("noise_mode", "random", ["random", "const", "none"],
                  "StyleGAN2's noise inputs: drawn afresh (random), each layer's fixed noise "
                  "image (const; a converted network's own), or none.")
flags.DEFINE_bool("ema", True, "Draw from the EMA of G; --noema draws the raw G.")
flags.DEFINE_string("mix_layers", None, "Style mixing: the layers each cell takes from its "
                    "column's latent (say 0-3); 'list' prints the layers.")
flags.DEFINE_integer("mix_cols", None, "Style mixing: column sources (default: --num).",
                     lower_bound=1)
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def _read_latents(path: str):
  import numpy as np  # pylint: disable=import-outside-toplevel
  try:
    latents = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise ValueError(f"--latents={path}: not a readable .npy array ({e})") from e
  if not isinstance(latents, np.ndarray):
    raise ValueError(f"--latents={path} is an archive of arrays, not one .npy array of z")
  if latents.ndim != 2 or not np.issubdtype(latents.dtype, np.floating):
    raise ValueError(f"--latents={path} holds a {latents.dtype} array of shape "
                     f"{latents.shape}; give float z of shape (N, latent_dim)")
  return latents


def main(argv):
  del argv
  cli.quiet_logs()
  progress = cli.progress_printer(sys.stderr, "images")

  if FLAGS.mix_layers == "list":
    try:
      names = style_layer_names(FLAGS.workdir, FLAGS.step)
    except ValueError as e:
      cli.fatal(str(e), type(e).__name__)
    for i, name in enumerate(names):
      print(f"{i}\t{name}")
    return
  if FLAGS.out is None:
    cli.fatal("--out is required", "Flags parsing error")
  if FLAGS.num is None and (FLAGS.latents is None or FLAGS.mix_layers is not None):
    cli.fatal("--num is required", "Flags parsing error")
  common = dict(step=FLAGS.step, truncation=FLAGS.truncation, label=FLAGS["class"].value,
                seed=FLAGS.seed, batch=FLAGS.batch, overwrite=FLAGS.overwrite)
  try:
    if FLAGS.mix_layers is not None:
      ignored = [f for f, given in (("--latents", FLAGS.latents is not None),
                                    ("--noise_mode", FLAGS.noise_mode != "random"),
                                    ("--noema", not FLAGS.ema),
                                    ("--standing_stats", FLAGS.standing_stats > 0),
                                    ("--standing_batch", FLAGS.standing_batch > 0)) if given]
      if ignored:
        raise ValueError(f"{', '.join(ignored)} is not for style mixing (--mix_layers), which "
                         f"draws its own sources from --seed with the EMA G")
      cols = FLAGS.mix_cols or FLAGS.num
      path = export_style_mix(FLAGS.workdir, FLAGS.num, cols, parse_layers(FLAGS.mix_layers),
                              FLAGS.out, **common)
      what = f"a style-mixing figure ({FLAGS.num} x {cols})"
    else:
      if FLAGS.mix_cols is not None:
        raise ValueError("--mix_cols is for style mixing: give --mix_layers too")
      common.update(standing=FLAGS.standing_stats, standing_batch=FLAGS.standing_batch)
      latents = None
      if FLAGS.latents is not None:
        latents = _read_latents(FLAGS.latents)
      path = export(FLAGS.workdir, FLAGS.num, FLAGS.out, progress=progress, latents=latents,
                    noise_mode=FLAGS.noise_mode, use_ema=FLAGS.ema, **common)
      what = f"{FLAGS.num or len(latents)} images"
  except ValueError as e:  # a bad request, or no run there (WorkdirError is one)
    cli.fatal(str(e), type(e).__name__)
  print(f"{what} of {path} written to {os.path.abspath(FLAGS.out)}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
