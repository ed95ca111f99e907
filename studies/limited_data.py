r"""ADA's limited-data experiment: `python -m studies.limited_data --root=runs/limited`.

Runs `experiments/configs/fashion_mnist_limited_stylegan2_ada.flags` (StyleGAN2 on 2,000
Fashion-MNIST images at 32 px, scored against the whole test split) once per arm and seed:

  none: --augment=          diffaugment: --augment=color,translation,cutout     ada: the file

as separate processes (`--jobs` at a time), reusing finished runs, so an interrupted
experiment continues where it stopped; `--report_only` starts nothing. Prints a markdown table
of the last evaluation (FD, KID and class KL in the domain classifier's space, mean ±
sd over seeds), D's overfitting heuristic r_t = E[sign D(real)] averaged over the last 100
steps, ADA's final p, and D's memorising measured directly (`jaxgan.metrics.overfit`): r_v,
r_t's twin on 2,000 real images the runs never train on, and the area under the ROC curve
of D's outputs on 2,000 training images against those (0.5: D cannot tell them apart); and
under it, real images scored as the samples are (`runs.score_real_images`, kept in
<root>/real_images.json): the training images repeated, what a generator copying them
exactly would score, and held-out ones, the floor. The
file measures it at every evaluation (`--overfit_images`); a run made without it is probed
once at its last checkpoint, kept in its `overfit.json`. Draws r_t, p and the memorising
AUC over training for every run into `--plot`.
"""

import dataclasses
import json
import os
import statistics

from absl import app, flags

from experiments.cli import CONFIGS_DIR

from studies import arms
from jaxgan.runner import pictures, runs
from jaxgan.metrics import overfit

ARMS = {"none": ["--augment="], "diffaugment": ["--augment=color,translation,cutout"],
        "ada": []}
FLAGFILE = os.path.join(CONFIGS_DIR,
                        "fashion_mnist_limited_stylegan2_ada.flags")
NUM_PROBED = 2000  # training and held-out images of a probe after the fact, as the file's

arms.define_flags("runs/limited", "arm", list(ARMS), jobs=2)
flags.DEFINE_string("plot", None, "Where the picture of r_t, p and D's memorising goes "
                    "(default: <root>/limited_data.png).")
FLAGS = flags.FLAGS


def workdir(arm: str, seed: str) -> str:
  return arms.workdir(FLAGS.root, arm, seed)


def summary(arm: str, seed: str) -> dict | None:
  """Returns the last evaluation, late r_t and final p of a finished run (None otherwise)."""
  folder = workdir(arm, seed)
  if not arms.finished(folder):
    return None
  rows = arms.records(folder)
  train = [r for r in rows if "d/real_sign" in r]
  last = max(r["step"] for r in train)
  late = [r["d/real_sign"] for r in train if r["step"] > last - 100]
  evaluation = [r for r in rows if "eval/fd_fashion_mnist_classifier" in r][-1]
  probe = memorising(folder, evaluation)
  return {"step": evaluation["step"], "kimg": train[-1]["kimg"],
          "fd": evaluation["eval/fd_fashion_mnist_classifier"],
          "kid": evaluation["eval/kid_fashion_mnist_classifier"],
          "class_kl": evaluation["eval/class_kl"], "rt": statistics.mean(late),
          "p": train[-1].get("aug/p"), "rv": probe["overfit_rv"],
          "auc": probe["overfit_auc_train_held"]}


def memorising(folder: str, evaluation: dict) -> dict:
  """D's memorising at the run's last evaluation: as the run measured it
  (`--overfit_images`), else probed once at that checkpoint and kept in its overfit.json."""
  if "eval/overfit_rv" in evaluation:
    return {k.removeprefix("eval/"): v for k, v in evaluation.items()}
  saved = [r for r in overfit.load(folder) if r["step"] == evaluation["step"]]
  if not saved:
    saved = runs.probe_overfit(folder, [evaluation["step"]], NUM_PROBED)
    overfit.save(folder, saved)
  return saved[0]


def table() -> str:
  lines = ["| arm | seeds done | FD | KID | class KL | r_t (last 100 steps) | p (end) | "
           "r_v (end) | AUC train/held (end) |", "| --- " * 9 + "|"]
  budget = ""
  for arm in FLAGS.arms:
    done = [s for seed in FLAGS.seeds if (s := summary(arm, seed))]
    column = lambda key: [d[key] for d in done if d[key] is not None]
    lines.append(f"| {arm} | {len(done)} of {len(FLAGS.seeds)} | {arms.cell(column('fd'), 1)} | "
                 f"{arms.cell(column('kid'), 1)} | {arms.cell(column('class_kl'), 3)} | "
                 f"{arms.cell(column('rt'), 2)} | {arms.cell(column('p'), 2)} | "
                 f"{arms.cell(column('rv'), 2)} | {arms.cell(column('auc'), 3)} |")
    if done:
      budget = f"{done[0]['step']} steps, {done[0]['kimg']:g}k real images"
  for name, scores in real_images().items():
    lines.append(f"| {name} | – | {scores['fd_fashion_mnist_classifier']:.1f} | "
                 f"{scores['kid_fashion_mnist_classifier']:.1f} | {scores['class_kl']:.3f} |"
                 + " – |" * 4)
  return "\n".join(lines) + (f"\n\nBudget: {budget} per run." if budget else "")


REAL_NAMES = {"training": "real: the training images, repeated",
              "held_out": "real: held-out images"}


def real_images() -> dict[str, dict]:
  """Real images scored as the first finished run scores its samples, by row name; kept in
  <root>/real_images.json beside the data and evaluation settings they were scored with."""
  folder = next((workdir(arm, seed) for seed in FLAGS.seeds for arm in FLAGS.arms
                 if arms.finished(workdir(arm, seed))), None)
  if folder is None:
    return {}
  config = runs.saved_config(folder)
  settings = json.loads(json.dumps({"data": dataclasses.asdict(config.data),  # as saved
                                    "evaluation": dataclasses.asdict(config.evaluation)}))
  path = os.path.join(FLAGS.root, "real_images.json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    if saved["settings"] == settings:
      return saved["scores"]
  scores = {REAL_NAMES[k]: v for k, v in runs.score_real_images(config).items()}
  with open(path, "w", encoding="utf-8") as f:
    json.dump({"settings": settings, "scores": scores}, f, indent=1)
  return scores


def plot(path: str) -> None:
  """r_t of every run, ADA's p and D's memorising over training, a panel each."""
  auc = "AUC train/held"  # D's memorising: its outputs on training against held-out images
  merged, panels = [], {"r_t = E[sign D(real)]": [], "ADA's p": [], auc: []}
  for arm in FLAGS.arms:
    for seed in FLAGS.seeds:
      name, folder = f"{arm} s{seed}", workdir(arm, seed)
      for r in arms.records(folder):
        if "d/real_sign" in r:
          merged.append({"step": r["step"], f"{name} r_t": r["d/real_sign"],
                         **({f"{name} p": r["aug/p"]} if "aug/p" in r else {})})
        if "eval/overfit_auc_train_held" in r:
          merged.append({"step": r["step"], f"{name} AUC": r["eval/overfit_auc_train_held"]})
      merged += [{"step": r["step"], f"{name} AUC": r["overfit_auc_train_held"]}
                 for r in overfit.load(folder)]
      panels["r_t = E[sign D(real)]"].append(f"{name} r_t")
      panels["ADA's p"].append(f"{name} p")
      panels[auc].append(f"{name} AUC")
  pictures.plot_curves(merged, panels).save(path)


def main(argv):
  del argv
  if not FLAGS.report_only:
    arms.run_all(FLAGFILE, FLAGS.root, {arm: ARMS[arm] for arm in FLAGS.arms}, FLAGS.seeds,
                 FLAGS.jobs, FLAGS.extra)
  print(table())
  path = FLAGS.plot or os.path.join(FLAGS.root, "limited_data.png")
  plot(path)
  print(f"r_t, p and D's memorising over training: {path}")


if __name__ == "__main__":
  app.run(main)
