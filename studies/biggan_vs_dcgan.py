r"""Class-conditional BigGAN against the conditional DCGAN on Fashion-MNIST at the same wall
clock: `python -m studies.biggan_vs_dcgan --root=runs/biggan_vs_dcgan`.

Runs `fashion_mnist_biggan.flags` (800 steps) and `fashion_mnist_conditional.flags` for 5,100
steps, which take about as long on the 2-core CPU with the cores to themselves (BigGAN
0.52 steps/s, the DCGAN 3.4, evaluations included: ~25 min each), once per seed; runs go
`--jobs` at a time, finished ones are reused and `--report_only` starts nothing. Then scores
each run's last checkpoint once (cached beside it as `score_<step>[_standing<N>].json`): 10,000
EMA samples, classes drawn uniformly, against the 10,000 test images (1,000 a class) in the
domain classifier's space: FD, KID, the per-class FDs and their mean (intra-class FD), the
share of samples classified as their asked-for class, class KL. BigGAN is scored again with
standing statistics (`--standing_stats` batches; `jaxgan.sample.standing_stats`), and 10,000
real training images, each asked for as its own label, give the floor. Prints one row per
run, the mean ± sd per model and the per-class FDs.
"""

import dataclasses
import json
import os

import jax
import numpy as np
from absl import app, flags

from experiments.cli import CONFIGS_DIR
from jaxgan.runner import factories, runs
from jaxgan.sample import STANDING_STREAM, standing_stats

from studies import arms

MODELS = {"biggan": ("fashion_mnist_biggan.flags", []),
          "dcgan": ("fashion_mnist_conditional.flags", ["--num_steps=5100", "--eval_every=300"])}
SAMPLES = 10_000
FD = "fd_fashion_mnist_classifier"

arms.define_flags("runs/biggan_vs_dcgan", "model", list(MODELS), jobs=1)
flags.DEFINE_integer("standing_stats", 16, "Batches of BigGAN's standing statistics for its "
                     "second score (0: none).", lower_bound=0)
FLAGS = flags.FLAGS


def score(folder: str, standing: int = 0) -> dict:
  """The domain metrics of the run's last checkpoint (cached in the workdir)."""
  run = runs.restore_run(folder)
  path = os.path.join(folder, f"score_{run.step}" + (f"_standing{standing}" if standing else "")
                      + ".json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  section = dataclasses.replace(run.config.evaluation, domain_samples=SAMPLES,
                                domain_reference="test")
  eval_key = factories.run_keys(run.config.run.seed)[2]
  state = run.state
  if standing:
    state = standing_stats(run.generator, state, jax.random.fold_in(eval_key, STANDING_STREAM),
                           standing, run.config.run.batch_size)
  scorer = factories.domain_scorer(section, run.config.data, run.generator, run.data, eval_key)
  result = {"step": run.step, "standing_stats": standing, **scorer(state)}
  with open(path, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  return result


def real_floor(root: str) -> dict:
  """The same scores of 10,000 real training images, each asked for as its own label: what a
  generator of the data itself would reach (cached in the root)."""
  path = os.path.join(root, "score_real_training.json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  from jaxgan.data import images  # pylint: disable=import-outside-toplevel
  folder = next(arms.workdir(root, m, s) for m in MODELS for s in FLAGS.seeds
                if arms.finished(arms.workdir(root, m, s)))
  run = runs.restore_run(folder)
  section = dataclasses.replace(run.config.evaluation, domain_samples=SAMPLES,
                                domain_reference="test")
  scorer = factories.domain_scorer(section, run.config.data, None, run.data,
                                   factories.run_keys(0)[2])
  pixels, labels = run.data.read(range(SAMPLES))
  result = scorer.score(np.asarray(images.scale_pixels(pixels)), np.asarray(labels))
  with open(path, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  return result


def table(root: str, models: list[str], seeds: list[str], standing: int) -> str:
  rows = ["| model | seed | steps | FD | KID | intra-class FD | worst class FD | "
          "conditional accuracy | class KL |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  means = ["| model | seeds | FD | KID | intra-class FD | conditional accuracy | class KL |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
  per_class = {}
  arms_scored = [(m, 0) for m in models] + ([("biggan", standing)]
                                             if standing and "biggan" in models else [])
  for model, stand in arms_scored:
    name = model + (f" + standing stats ({stand})" if stand else "")
    done = []
    for seed in seeds:
      folder = arms.workdir(root, model, seed)
      if not arms.finished(folder):
        continue
      s = score(folder, stand)
      done.append(s)
      rows.append(f"| {name} | {seed} | {s['step']} | {s[FD]:.1f} | {s['kid_' + FD[3:]]:.1f}"
                  f" | {s['intra_' + FD]:.1f} | {max(s[FD + '_per_class']):.1f} | "
                  f"{s['conditional_accuracy']:.3f} | {s['class_kl']:.4f} |")
    column = lambda key: [s[key] for s in done]
    means.append(f"| {name} | {len(done)} of {len(seeds)} | {arms.cell(column(FD), 1)} | "
                 f"{arms.cell(column('kid_' + FD[3:]), 1)} | "
                 f"{arms.cell(column('intra_' + FD), 1)} | "
                 f"{arms.cell(column('conditional_accuracy'), 3)} | "
                 f"{arms.cell(column('class_kl'), 4)} |")
    if done:
      per_class[name] = [arms.cell([s[FD + "_per_class"][c] for s in done], 1)
                         for c in range(len(done[0][FD + "_per_class"]))]
  real = real_floor(root)
  rows.append(f"| real training images | – | – | {real[FD]:.1f} | {real['kid_' + FD[3:]]:.1f} | "
              f"{real['intra_' + FD]:.1f} | {max(real[FD + '_per_class']):.1f} | "
              f"{real['conditional_accuracy']:.3f} | {real['class_kl']:.4f} |")
  per_class["real training images"] = [f"{v:.1f}" for v in real[FD + "_per_class"]]
  classes = ["| model | " + " | ".join(f"class {c}" for c in range(10)) + " |",
             "| --- |" + " --- |" * 10]
  classes += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in per_class.items()]
  return "\n".join(rows) + "\n\n" + "\n".join(means) + "\n\nper-class FD:\n\n" + "\n".join(
      classes)


def main(argv):
  del argv
  if not FLAGS.report_only:
    files = {m: os.path.join(CONFIGS_DIR, MODELS[m][0]) for m in FLAGS.models}
    arms.run_all(files, FLAGS.root, {m: MODELS[m][1] for m in FLAGS.models}, FLAGS.seeds,
                 FLAGS.jobs, FLAGS.extra)
  print(table(FLAGS.root, FLAGS.models, FLAGS.seeds, FLAGS.standing_stats))


if __name__ == "__main__":
  app.run(main)
