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

from absl import app, flags

from experiments import cli

from jaxgan.runner import factories
from jaxgan.data import mixtures
from jaxgan.runner.evaluation import MixtureEvaluator
from jaxgan.runner.runs import restore_run
from jaxgan.runner.workdir import WorkdirError

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_integer("step", None, "The checkpoint's step (default: the latest).")
flags.DEFINE_string("inception_weights", "", "FID Inception weights (default: "
                    "$JAXGAN_INCEPTION_WEIGHTS).")
flags.DEFINE_integer("fid_samples", None, "Images per Inception evaluation (default: the "
                     "run's).", lower_bound=2)
flags.DEFINE_string("fid_cache_dir", "", "Reference statistics cache (default ~/.cache/jaxgan).")
flags.mark_flag_as_required("workdir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  cli.quiet_logs()
  try:
    run = restore_run(FLAGS.workdir, FLAGS.step)
  except WorkdirError as e:
    cli.fatal(str(e), type(e).__name__)
  config, data, generator, state, step = run.config, run.data, run.generator, run.state, run.step
  eval_key = factories.run_keys(config.run.seed)[2]
  if config.data.is_mixture:
    evaluator = MixtureEvaluator(generator, run.discriminator, mixtures.get(config.data.dataset),
                                 config.data.dataset, eval_key, config.evaluation.eval_samples,
                                 None)
    result, message = evaluator(state, step, final=False)
  else:
    overrides = {"inception_weights": FLAGS.inception_weights,
                 "fid_samples": FLAGS.fid_samples or config.evaluation.fid_samples,
                 "fid_cache_dir": FLAGS.fid_cache_dir}
    result, notes = {}, []
    section = dataclasses.replace(config.evaluation, **overrides)
    for scorer in factories.scorers(section, config.data, generator, data, eval_key):
      scores = scorer(state)
      result.update(scores)
      notes.append(scorer.describe(scores))
    message = "; ".join(notes)
  result = {"step": step, "checkpoint": run.path, **result}
  out = os.path.join(FLAGS.workdir, f"eval_{step}.json")
  with open(out, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  print(f"step {step}: {message}\nwritten to {out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
