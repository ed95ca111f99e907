r"""Evaluates a run's checkpoint: `python -m experiments.evaluate --workdir=runs/NAME`.

Restores the latest checkpoint (or `--step`) of the run in `--workdir` with the config the
run saved, and evaluates its EMA generator as training does: mode coverage for the 2D
mixtures; for images FID, KID, IS and precision/recall when Inception weights are given
(`--inception_weights` or $JAXGAN_INCEPTION_WEIGHTS; otherwise they are reported as
unavailable), and the domain classifier's metrics on (stacked) Fashion-MNIST and MNIST. The result is printed and written to `<workdir>/eval_<step>.json`. Nothing
else in the workdir changes.
"""

import dataclasses
import json
import os

import jax
import numpy as np
from absl import app, flags, logging

from jaxgan import wiring
from jaxgan.checkpoint import Checkpointer, QuietOrbax
from jaxgan.config import SECTION_OF, Config
from jaxgan.data import mixtures
from jaxgan.evaluate import MixtureEvaluator
from jaxgan.state import create_state
from jaxgan.workdir import CONFIG_FILE

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_integer("step", None, "The checkpoint's step (default: the latest).")
flags.DEFINE_string("inception_weights", "", "FID Inception weights (default: "
                    "$JAXGAN_INCEPTION_WEIGHTS).")
flags.DEFINE_integer("fid_samples", None, "Images per Inception evaluation (default: the "
                     "run's).", lower_bound=2)
flags.DEFINE_string("fid_cache_dir", "", "Reference statistics cache (default ~/.cache/jaxgan).")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def saved_config(workdir: str) -> Config:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise app.UsageError(f"{workdir} holds no run: {CONFIG_FILE} is missing")
  with open(path, encoding="utf-8") as f:
    saved = json.load(f)
  return Config(**{k: v for k, v in saved.items() if k in SECTION_OF}).validate()


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(QuietOrbax())
  config = saved_config(FLAGS.workdir)
  eval_key = jax.random.split(jax.random.key(config.run.seed), 3)[2]  # as training's
  if config.data.is_mixture:
    mixture = mixtures.get(config.data.dataset)
    data, data_shape, num_classes, pixels = None, (2,), 0, False
  else:
    data = wiring.load_images(config.data)
    data_shape, num_classes, pixels = data.image_shape, data.num_classes, data.dtype == np.uint8
  generator, discriminator, g_tx, d_tx = wiring.build(config, data_shape, num_classes, pixels)
  target = create_state(0, generator, discriminator, g_tx, d_tx,
                        np.zeros((config.run.batch_size, *data_shape), np.float32),
                        wiring.objective_of(config.objective, config.horizon))
  checkpoints = Checkpointer(os.path.join(FLAGS.workdir, "checkpoints"), read_only=True)
  restored = checkpoints.restore(target, FLAGS.step, move_corrupt=False)
  state, step = restored.state, restored.step
  if config.data.is_mixture:
    evaluator = MixtureEvaluator(generator, discriminator, mixture, config.data.dataset,
                                 eval_key, config.evaluation.eval_samples, None)
    result, message = evaluator(state, step, final=False)
  else:
    overrides = {"inception_weights": FLAGS.inception_weights,
                 "fid_samples": FLAGS.fid_samples or config.evaluation.fid_samples,
                 "fid_cache_dir": FLAGS.fid_cache_dir}
    result, notes = {}, []
    section = dataclasses.replace(config.evaluation, **overrides)
    for scorer in wiring.scorers(section, config.data.dataset, generator, data, eval_key):
      scores = scorer(state)
      result.update(scores)
      notes.append(scorer.describe(scores))
    message = "; ".join(notes)
  result = {"step": step, "checkpoint": restored.path, **result}
  out = os.path.join(FLAGS.workdir, f"eval_{step}.json")
  with open(out, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  print(f"step {step}: {message}\nwritten to {out}")


if __name__ == "__main__":
  app.run(main)
