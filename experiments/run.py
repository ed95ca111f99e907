r"""Trains a GAN from flags: `python -m experiments.run --flagfile=experiments/configs/ring8.flags`.

Every flag maps onto a field of `jaxgan.config.Config`; a flag given on the command line
after `--flagfile` overrides the file.
"""

import dataclasses
import sys

from absl import app, flags, logging

from jaxgan import losses
from jaxgan.config import LR_SCHEDULES, Config
from jaxgan.data import mixtures
from jaxgan.models.mlp import ACTIVATIONS

_D = Config()  # defaults come from the typed config, stated once

flags.DEFINE_string("workdir", None, "Directory for metrics.jsonl, summary.json and pictures.")
flags.DEFINE_integer("seed", _D.seed, "Seed of parameters, noise and data order.")
flags.DEFINE_enum("dataset", _D.dataset, sorted(mixtures.MIXTURES), "Training data.")
flags.DEFINE_enum("loss", _D.loss, sorted(losses.LOSSES), "Adversarial loss.")
flags.DEFINE_integer("d_steps", _D.d_steps, "Discriminator updates per generator update.",
                     lower_bound=1)
flags.DEFINE_integer("batch_size", _D.batch_size, "Samples per minibatch.", lower_bound=1)
flags.DEFINE_integer("num_steps", _D.num_steps, "Full alternating updates to run.",
                     lower_bound=1)
flags.DEFINE_float("g_lr", _D.g_lr, "Generator Adam learning rate.", lower_bound=0.0)
flags.DEFINE_float("d_lr", _D.d_lr, "Discriminator Adam learning rate.", lower_bound=0.0)
flags.DEFINE_enum("lr_schedule", _D.lr_schedule, list(LR_SCHEDULES),
                  "Learning-rate schedule of both players over the run.")
flags.DEFINE_float("g_beta1", _D.g_beta1, "Generator Adam beta1.")
flags.DEFINE_float("g_beta2", _D.g_beta2, "Generator Adam beta2.")
flags.DEFINE_float("d_beta1", _D.d_beta1, "Discriminator Adam beta1.")
flags.DEFINE_float("d_beta2", _D.d_beta2, "Discriminator Adam beta2.")
flags.DEFINE_float("ema_decay", _D.ema_decay, "Decay of the generator's parameter EMA.")
flags.DEFINE_bool("reuse_fake", _D.reuse_fake,
                  "G update back-propagates through the last D update's generated batch.")
flags.DEFINE_integer("latent_dim", _D.latent_dim, "Dimension of z.", lower_bound=1)
flags.DEFINE_integer("g_width", _D.g_width, "Generator hidden units per layer.", lower_bound=1)
flags.DEFINE_integer("g_depth", _D.g_depth, "Generator hidden layers.", lower_bound=1)
flags.DEFINE_integer("d_width", _D.d_width, "Discriminator hidden units per layer.",
                     lower_bound=1)
flags.DEFINE_integer("d_depth", _D.d_depth, "Discriminator hidden layers.", lower_bound=1)
flags.DEFINE_enum("activation", _D.activation, sorted(ACTIVATIONS), "Hidden activation.")
flags.DEFINE_integer("log_every", _D.log_every, "Steps between metric logs.", lower_bound=1)
flags.DEFINE_integer("eval_every", _D.eval_every, "Steps between evaluations.", lower_bound=1)
flags.DEFINE_integer("eval_samples", _D.eval_samples, "Samples per evaluation.",
                     lower_bound=1)
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


def config_from_flags() -> Config:
  """Returns the validated Config that the parsed flags describe."""
  values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(Config)}
  return Config(**values).validate()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected positional arguments: {' '.join(argv[1:])}")
  try:
    config = config_from_flags()
  except ValueError as e:
    print(f"FATAL Flags parsing error: --{e}", file=sys.stderr)
    sys.exit(2)
  # Imported here so that --help and flag errors answer without starting JAX.
  from jaxgan.train import train_and_evaluate
  train_and_evaluate(config, FLAGS.workdir)


if __name__ == "__main__":
  logging.set_verbosity(logging.INFO)
  app.run(main)
