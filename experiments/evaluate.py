r"""Evaluates a run's checkpoint: `python -m experiments.evaluate --workdir=runs/NAME`.

Restores the latest checkpoint (or `--step`) of the run in `--workdir` with the config the
run saved, and evaluates its EMA generator as training does: mode coverage for the 2D
mixtures; for images FID, KID, IS and precision/recall when Inception weights are given
(`--inception_weights` or $JAXGAN_INCEPTION_WEIGHTS; otherwise they are reported as
unavailable), and the domain classifier's metrics on (stacked) Fashion-MNIST and MNIST. The
result is printed and written to `<workdir>/eval_<step>.json`. `--truncation` and
`--truncation_curve` draw z truncated (BigGAN's trick); `--standing_stats=N` evaluates with
standing batch-norm statistics (BigGAN players; written to `eval_<step>_standing<N>.json`).
Nothing else in the workdir changes.
"""

import dataclasses
import json
import os

from absl import app, flags
import jax

from experiments import cli

from jaxgan.runner import factories, pictures
from jaxgan.data import mixtures
from jaxgan.runner.evaluation import MixtureEvaluator
from jaxgan.runner.runs import restore_run
from jaxgan.runner.workdir import WorkdirError
from jaxgan.sample import STANDING_BATCH, STANDING_STREAM, check_truncation, standing_stats

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_integer("step", None, "The checkpoint's step (default: the latest).")
flags.DEFINE_string("inception_weights", "", "FID Inception weights (default: "
                    "$JAXGAN_INCEPTION_WEIGHTS).")
flags.DEFINE_integer("fid_samples", None, "Images per Inception evaluation (default: the "
                     "run's).", lower_bound=2)
flags.DEFINE_integer("domain_samples", None, "Images per domain-classifier evaluation (and real "
                     "images compared; default: the run's).", lower_bound=2)
flags.DEFINE_string("fid_cache_dir", "", "Reference statistics cache (default ~/.cache/jaxgan).")
flags.DEFINE_float("truncation", None, "Evaluate samples whose z is drawn from the normal "
                   "truncated to [-t, t] (BigGAN's truncation trick; > 0). Default: none.")
flags.DEFINE_integer("standing_stats", 0, "Evaluate with standing statistics: G's batch-norm "
                     "statistics accumulated over this many batches, as BigGAN-PyTorch's "
                     "--mybn --accumulate_stats does (BigGAN players; 0: the running "
                     "statistics). The result goes to eval_<step>_standing<N>.json.",
                     lower_bound=0)
flags.DEFINE_integer("standing_batch", 0, "Images per standing-statistics batch (0: the run's "
                     "batch size, at most 256).", lower_bound=0)
flags.DEFINE_list("truncation_curve", [], "Thresholds t (say 2,1.5,1,0.75,0.5,0.25): evaluate "
                  "at each and plot FD (FID where Inception weights are given, else the domain "
                  "classifier's) against the samples' class accuracy (conditional runs; else "
                  "IS) into <workdir>/truncation_<step>.png (truncation_<step>_standing<N>.png "
                  "with --standing_stats), the numbers into .json.")
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
    image_only = [f"--{name}" for name in ("standing_stats", "standing_batch", "domain_samples",
                                           "truncation", "truncation_curve") if FLAGS[name].present]
    if image_only:
      cli.fatal(f"{', '.join(image_only)}: for image runs; {config.data.dataset} is a 2D "
                f"mixture", "ValueError")
    evaluator = MixtureEvaluator(generator, run.discriminator, mixtures.get(config.data.dataset),
                                 config.data.dataset, eval_key, config.evaluation.eval_samples,
                                 None)
    result, message = evaluator(state, step, final=False)
  else:
    overrides = {"inception_weights": FLAGS.inception_weights,
                 "fid_samples": FLAGS.fid_samples or config.evaluation.fid_samples,
                 "domain_samples": FLAGS.domain_samples or config.evaluation.domain_samples,
                 "fid_cache_dir": FLAGS.fid_cache_dir}
    section = dataclasses.replace(config.evaluation, **overrides)
    try:
      thresholds = [_threshold(t) for t in FLAGS.truncation_curve]
      check_truncation(FLAGS.truncation)
      if FLAGS.standing_stats:
        run = run._replace(state=standing_stats(
            generator, state, jax.random.fold_in(eval_key, STANDING_STREAM),
            FLAGS.standing_stats,
            FLAGS.standing_batch or min(config.run.batch_size, STANDING_BATCH)))
    except ValueError as e:
      cli.fatal(str(e), type(e).__name__)
    if thresholds:
      return _curve(run, section, eval_key, thresholds)
    result, message = _scores(run, section, eval_key, FLAGS.truncation)
    if FLAGS.truncation is not None:
      result["truncation"] = FLAGS.truncation
    if FLAGS.standing_stats:
      result["standing_stats"] = FLAGS.standing_stats
  result = {"step": step, "checkpoint": run.path, **result}
  out = os.path.join(FLAGS.workdir, f"eval_{step}" + (
      f"_standing{FLAGS.standing_stats}" if FLAGS.standing_stats else "") + ".json")
  with open(out, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  print(f"step {step}: {message}\nwritten to {out}")


def _threshold(text: str) -> float:
  try:
    t = float(text)
  except ValueError:
    t = text
  check_truncation(t)
  return t


def _scores(run, section, eval_key, truncation):
  """Returns (scores, message) of the run's image scorers at `truncation`."""
  result, notes = {}, []
  for scorer in factories.scorers(section, run.config.data, run.generator, run.data, eval_key,
                                  truncation):
    scores = scorer(run.state)
    result.update(scores)
    notes.append(scorer.describe(scores))
  return result, "; ".join(notes)


def _curve(run, section, eval_key, thresholds):
  """Evaluates at each threshold; writes the trade-off's numbers and picture."""
  rows = []
  for t in thresholds:
    scores, message = _scores(run, section, eval_key, t)
    print(f"truncation {t:g}: {message}", flush=True)
    rows.append({"truncation": t, **scores})
  fd = "fid" if "fid" in rows[0] else next((k for k in rows[0] if k.startswith("fd_")), None)
  acc = ("conditional_accuracy" if "conditional_accuracy" in rows[0] else
         "inception_score" if "inception_score" in rows[0] else None)
  if fd is None or acc is None:
    cli.fatal(f"the truncation curve needs an FD and a class accuracy or IS; this run's "
              f"scorers give {sorted(rows[0])} (give --inception_weights, or a Fashion-MNIST "
              f"or MNIST run)", "ValueError")
  base = os.path.join(FLAGS.workdir, f"truncation_{run.step}" + (
      f"_standing{FLAGS.standing_stats}" if FLAGS.standing_stats else ""))
  with open(base + ".json", "w", encoding="utf-8") as f:
    json.dump({"step": run.step, "checkpoint": run.path, "x": acc, "y": fd,
               "standing_stats": FLAGS.standing_stats, "rows": rows}, f,
              indent=2)
  pictures.plot_tradeoff([(r["truncation"], r[acc], r[fd]) for r in rows], acc, fd,
                         f"truncation trick, step {run.step}: {fd} against {acc}" + (
                             f" (standing statistics, {FLAGS.standing_stats} batches)"
                             if FLAGS.standing_stats else "")).save(
                             base + ".png")
  print(f"written to {base}.json and {base}.png")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
