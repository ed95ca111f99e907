r"""What a perfect generator scores on Stacked (Fashion-)MNIST:
`python -m studies.stacked_floor --dataset=stacked_fashion_mnist`.

Draws `--samples` real examples of the stacked set (without replacement, `--seeds` draws) and
scores them exactly as training scores generated ones (PROTOCOLS.md section 2: each channel
labelled by the domain classifier, modes hit and KL to uniform over 1,000), beside the count
from their true labels and the classifier's accuracy per channel. The real data's KL is the
floor of the metric: the sampling floor (M − 1) / 2N plus what the classifier's errors add.
"""

import jax
import numpy as np
from absl import app, flags

from jaxgan.runner import config as config_lib
from jaxgan.runner import evaluation as evaluate
from jaxgan.runner import factories
from jaxgan.data import images, stacked
from jaxgan.data.readers import DataError
from jaxgan.metrics.classifier import WEIGHTS_DIR

flags.DEFINE_enum("dataset", "stacked_fashion_mnist", sorted(stacked.NAMES),
                  "The stacked set.")
flags.DEFINE_string("data_dir", "", "Where its base set was prepared (TFDS's default if unset).")
flags.DEFINE_integer("samples", 26_000, "Real examples per draw (the protocol's 26,000).",
                     lower_bound=1)
flags.DEFINE_list("seeds", ["0", "1"], "One draw per seed.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    data = factories.load_images(
        config_lib.DataSettings(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir))
  except DataError as e:
    raise app.UsageError(str(e)) from e
  weights = f"{WEIGHTS_DIR}/{stacked.NAMES[FLAGS.dataset]}_classifier.npz"
  scorer = evaluate.DomainEvaluation(None, data, FLAGS.samples, jax.random.key(0), weights)
  if scorer.params is None:
    raise app.UsageError(f"no classifier for {FLAGS.dataset}: {scorer.reason}")
  for seed in FLAGS.seeds:
    rows = np.sort(np.random.default_rng(int(seed)).choice(data.num_examples, FLAGS.samples,
                                                           replace=False))
    real, labels = data.read(rows)
    x = np.asarray(images.scale_pixels(real))
    truth = stacked.channels_of(labels)
    predicted = scorer.stacked_classes(x)  # as `scorer.score` labels samples
    scores, true = stacked.mode_counts(predicted), stacked.mode_counts(truth)
    accuracy = float(np.mean(predicted == truth))
    print(f"seed {seed}: classifier's labels {scores['stacked_modes']} modes, KL "
          f"{scores['stacked_kl']:.4f}; true labels {true['stacked_modes']} modes, KL "
          f"{true['stacked_kl']:.4f}; channel accuracy {accuracy:.4f}; sampling floor "
          f"{stacked.uniform_kl_floor(FLAGS.samples):.4f} ({FLAGS.samples} samples)")


if __name__ == "__main__":
  app.run(main)
