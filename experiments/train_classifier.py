r"""Trains the domain classifier: `python -m experiments.train_classifier --dataset=fashion_mnist`.

Reads the dataset's train and test splits (as `experiments.run` does, from local files),
trains `jaxgan.metrics.classifier.DomainClassifier`, prints the test accuracy each epoch and
writes the weights with their metadata to `--out` (default: where the evaluator looks,
`jaxgan/metrics/weights/<dataset>_classifier.npz`). Stops without writing if the test
accuracy is below `--min_accuracy`.
"""

import os
import sys

from absl import app, flags

from experiments import cli

from jaxgan.data import images
from jaxgan.metrics import classifier

WEIGHTS_DIR = classifier.WEIGHTS_DIR

flags.DEFINE_enum("dataset", "fashion_mnist", ["fashion_mnist", "mnist"], "Labelled 28×28 data.")
flags.DEFINE_string("data_dir", "", "Prepared datasets (default: TFDS's).")
flags.DEFINE_string("manual_dir", "", "Raw IDX files (default as for experiments.run).")
flags.DEFINE_integer("epochs", 5, "Passes over the training split.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the initialisation and the batch order.")
flags.DEFINE_float("min_accuracy", 0.9, "Refuse to write weights below this test accuracy.")
flags.DEFINE_string("out", None, "Weights file (default jaxgan/metrics/weights/<dataset>_"
                    "classifier.npz).")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  splits = {}
  for split in ("train", "test"):
    data = images.load(FLAGS.dataset, split=split, data_dir=FLAGS.data_dir or None,
                       manual_dir=FLAGS.manual_dir or None)
    x, y = data.read_all()
    splits[split] = (images.scale_pixels(x), y)
  params, accuracy = classifier.train(*splits["train"], *splits["test"], epochs=FLAGS.epochs,
                                      seed=FLAGS.seed)
  if accuracy < FLAGS.min_accuracy:
    print(f"test accuracy {accuracy:.4f} is below --min_accuracy={FLAGS.min_accuracy}; "
          f"nothing written", file=sys.stderr)
    sys.exit(1)
  out = FLAGS.out or os.path.join(WEIGHTS_DIR, f"{FLAGS.dataset}_classifier.npz")
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  classifier.save(out, params, {"dataset": FLAGS.dataset, "test_accuracy": accuracy,
                                "epochs": FLAGS.epochs, "seed": FLAGS.seed,
                                "train_examples": len(splits["train"][0]),
                                "test_examples": len(splits["test"][0])})
  print(f"test accuracy {accuracy:.4f}; weights written to {out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
