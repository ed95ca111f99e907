r"""Turns an official StyleGAN2-ADA or R3GAN network pickle, or BigGAN-PyTorch's weights, into
a jaxgan run directory.

  python -m experiments.convert --network=PATH.pkl --workdir=DIR [--data_path=FOLDER]
  python -m experiments.convert --network=weights/EXPERIMENT --workdir=DIR   # BigGAN-PyTorch

BigGAN-PyTorch's weights (BigGAN or BigGAN-deep) are the folder its training writes: `G.pth`, `D.pth`, `G_ema.pth`
and `state_dict.pth` (the training options), `torch.save` files read as data the same way
(`jaxgan.convert.biggan`); sizes come from the shapes, epsilons, learning rates and the EMA
from `state_dict.pth`.

The pickle (written by NVIDIA's stylegan2-ada-pytorch, its `G`, `D`, `G_ema` and ADA's
`augment_pipe`, or by R3GAN's training code, its `G`, `D` and `G_ema`) is read as data only: no code it carries runs, and PyTorch is not needed
(`jaxgan.convert.network_pickle`). Sizes and options come from the file; an option jaxgan
does not implement (StyleGAN3's layers, another resampling filter, a skip-architecture D,
R3GAN stages of different depths, …) is refused by name; `--without_augment_pipe` converts
the networks of a file whose ADA pipeline jaxgan cannot reproduce, without it. DIR gets `config.json` and `checkpoints/0`: G's weights, the EMA
generator's (with its w average and noise buffers), D's, ADA's p, and fresh optimiser states.
From there `experiments.sample`, `experiments.evaluate` and `experiments.run --workdir=DIR`
(fine-tuning, with `--flagfile=DIR/converted.flags` and the training flags wanted) work as
on any run. `--data_path` is the image folder for evaluating and fine-tuning (default: the
path the pickle was trained on); sampling does not read it.
"""

import os

from absl import app, flags

from experiments import cli

flags.DEFINE_string("network", None, "The network pickle (.pkl) to convert, or BigGAN-PyTorch's "
                    "weights folder (G.pth, D.pth, G_ema.pth, state_dict.pth).")
flags.DEFINE_string("workdir", None, "The run directory to create (must not hold a run).")
flags.DEFINE_string("data_path", None, "The image folder the run evaluates and fine-tunes on "
                    "(default: the one the pickle names).")
flags.DEFINE_integer("batch_size", 32, "The converted run's batch (fine-tuning).",
                     lower_bound=1)
flags.DEFINE_bool("without_augment_pipe", False, "Leave ADA's pipeline out of the run (for a "
                  "file whose pipeline has operations jaxgan does not implement).")
flags.mark_flags_as_required(["network", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from jaxgan.runner import converted as converted_run  # pylint: disable=import-outside-toplevel
  cli.quiet_logs()
  try:
    found = converted_run.convert(FLAGS.network, FLAGS.workdir, FLAGS.data_path,
                                  FLAGS.batch_size, FLAGS.without_augment_pipe)
  except ValueError as e:  # ConvertError and ConfigError are ValueErrors
    cli.fatal(str(e), type(e).__name__)
  size = "x".join(str(n) for n in found["image_shape"])
  ada = "" if found["ada_p"] is None else f", ADA p {found['ada_p']:.4f}"
  print(f"converted {FLAGS.network} ({found['model']}, {size}, {found['num_classes']} "
        f"classes{ada}) into "
        f"{os.path.abspath(FLAGS.workdir)}; sample with python -m experiments.sample "
        f"--workdir={FLAGS.workdir} --num=16 --out=samples")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
