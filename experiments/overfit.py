r"""Does D memorise its training images? `python -m experiments.overfit --workdir=runs/NAME`.

    python -m experiments.overfit --workdir=W [--steps=500,1000] [--num=2000] [--seed=S]
        [--augment_p=0.01,0.03,0.1] [--copying]

For each checkpoint of the run in `--workdir` (default: all it keeps), scores with D
`--num` of the run's training images, `--num` real images it never trained on (those its
`--train_subset` leaves out, or the test split) and `--num` samples of its raw generator,
and prints D's mean logits, r_t = E[sign D(x_train)] beside its held-out twin r_v, and
the areas under the ROC curve of training against held-out images (0.5: no memorising)
and of held-out against generated (`jaxgan.metrics.overfit`); with `--augment_p`, also
r_t and r_v of the images put through the run's ADA pipeline at each p; with `--copying`,
whether G's EMA samples sit nearer the training images than held-out ones. The records are
merged by step into `<workdir>/overfit.json`; nothing else in the workdir changes.
"""

from absl import app, flags

from experiments import cli

from jaxgan.runner.checkpoint import CheckpointError
from jaxgan.metrics import overfit
from jaxgan.runner.runs import probe_overfit
from jaxgan.runner.workdir import WorkdirError

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_list("steps", [], "Checkpoint steps (default: every one kept).")
flags.DEFINE_integer("num", 2000, "Images of each kind (rounded down to the run's batch).",
                     lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the generated images (and of the augmentations).")
flags.DEFINE_list("augment_p", [], "Also r_t and r_v of the images through the run's ADA "
                  "pipeline at each of these probabilities (what ADA's controller measures).")
flags.DEFINE_bool("copying", False, "Also whether G's EMA samples copy the training images: "
                  "the share nearer a training image than any held-out one (0.5: no copying).")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  cli.quiet_logs()
  try:
    steps = [int(s) for s in FLAGS.steps]
  except ValueError:
    cli.fatal(f"--steps={','.join(FLAGS.steps)} is not a list of integers",
              "Flags parsing error")
  try:
    augment_p = [float(p) for p in FLAGS.augment_p]
  except ValueError:
    cli.fatal(f"--augment_p={','.join(FLAGS.augment_p)} is not a list of numbers",
              "Flags parsing error")
  try:
    records = probe_overfit(FLAGS.workdir, steps or None, FLAGS.num, FLAGS.seed, augment_p,
                            FLAGS.copying)
  except (WorkdirError, CheckpointError, ValueError) as e:  # no run, no such step, no images
    cli.fatal(str(e), type(e).__name__)
  path = overfit.save(FLAGS.workdir, records)
  print(overfit.table(records))
  if augment_p:
    print(overfit.augmented_table(records))
  if FLAGS.copying:
    print(overfit.copying_table(records))
  print(f"written to {path}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
