"""Whether D memorises its training images, measured with real images it never saw.

Karras et al. (2020, Fig. 1b) show D overfitting a small training set: its outputs on the
training images and on held-out real images part, the held-out ones drifting towards the
generated images'. ADA's heuristic r_t = E[sign D(x_train)] stands in for that without
held-out data; this probe measures it directly, for any checkpoint:

- `d_logits(discriminator, d_params, d_state, x, labels)`: D's logits on clean images, in
  batches of the same size for every set (a minibatch-stddev layer mixes each batch's
  images, so batch size is held fixed);
- `augmented_signs(discriminator, ..., x, labels, p, ops, key, batch)`: r_t (or r_v) of
  images put through ADA's pipeline at probability p, which is what ADA's controller
  measures in training (how far D's recognising of its training images survives the
  augmentation);
- `summarise(train, held, fake)`: the mean logits, r_t and its held-out twin r_v =
  E[sign D(x_held)], and two areas under the ROC curve: training against held-out real
  (0.5: D cannot tell them apart; 1: it recognises every training image) and held-out real
  against generated (how well D still tells real from fake where it cannot have memorised);
- `OverfitEvaluation`: those numbers on `num` of a run's training images, `num` it never
  trained on (`jaxgan.runner.factories.load_held_out`) and `num` samples of its raw generator (the
  one D plays against), in batches of the run's batch size: at each evaluation of a run with
  `--overfit_images=num`, or
- `jaxgan.runner.runs.probe_overfit(workdir, steps, num)`: at the checkpoints of a finished run;
  `save` merges them by step into `<workdir>/overfit.json`, `load` reads them back and
  `table` prints them.

Whether G copies its training images, the other side of a small training set:
`copying(fake, train, held)` finds each generated image's nearest neighbour (pixel L2) among
the training images and among as many held-out ones: the share nearer a training image is
0.5 for a generator of the data's distribution (train and held-out are alike to it) and 1
for one that reproduces the training images (`probe_overfit(..., copying=True)`, on EMA
samples, as the FD sees them).

Only D's own outputs are read: an augmenting view (ADA, DiffAugment) is not applied (but
by `augmented_signs`), so for an augmented run this is D on the images as they are, not as
it trained on them.
"""

import functools
import json
import os

import jax
import numpy as np

from jaxgan.views import ada_pipeline
from jaxgan.costs import split_logits
from jaxgan.data.images import scale_pixels
from jaxgan.sample import sample_batches
from jaxgan.players import as_player
from jaxgan.sample import make_sample_fn


def d_logits(discriminator, d_params, d_state, x: np.ndarray, labels: np.ndarray | None,
             batch: int = 250) -> np.ndarray:
  """Returns D's logit (inference mode) of each image of `x` (pixels or [-1, 1] floats).

  `len(x)` must be a multiple of `batch`, so every batch D sees has the same size.
  """
  if len(x) % batch:
    raise ValueError(f"{len(x)} images do not split into batches of {batch}")
  player = as_player(discriminator)
  if getattr(player.module, "packing", 1) != 1:
    raise ValueError("a packed D (PacGAN) scores packs, not images: no per-image logit")
  apply = _compiled(player)
  out = []
  for i in range(0, len(x), batch):
    y = None if labels is None or not player.num_classes else labels[i:i + batch]
    out.append(np.asarray(apply(d_params, d_state, x[i:i + batch], y)))
  return np.concatenate(out).reshape(len(x))


@functools.lru_cache(maxsize=8)
def _compiled(player):
  @jax.jit
  def apply(d_params, d_state, x, y):
    out, _ = player.apply(d_params, d_state, scale_pixels(x), y, False)
    return split_logits(out)[0].reshape(x.shape[0])
  return apply


def augmented_signs(discriminator, d_params, d_state, x: np.ndarray, labels: np.ndarray | None,
                    p: float, ops, key: jax.Array, batch: int, draws: int = 4) -> float:
  """Returns E[sign D(A(x))], A ADA's pipeline of `ops` at probability `p`
  (`jaxgan.views.ada_pipeline.augment`), over `draws` draws; batch i of draw d uses
  fold_in(fold_in(key, d), i). With `p` 0 it is r_t (or r_v) of the images as they are (one draw:
  all are alike)."""
  def seen(d):
    if p == 0:
      return x
    return np.concatenate([np.asarray(ada_pipeline.augment(
        scale_pixels(jax.numpy.asarray(x[i:i + batch])),
        jax.random.fold_in(jax.random.fold_in(key, d), i // batch), p, ops))
                           for i in range(0, len(x), batch)])
  return float(np.mean([np.sign(d_logits(discriminator, d_params, d_state, seen(d), labels,
                                         batch)) for d in range(draws if p > 0 else 1)]))


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
  """P(a positive scores above a negative), ties counting half (the Mann-Whitney U / n m)."""
  positive, negative = np.asarray(positive, np.float64), np.asarray(negative, np.float64)
  negative = np.sort(negative)
  below = np.searchsorted(negative, positive, side="left")
  not_above = np.searchsorted(negative, positive, side="right")
  return float(np.sum(below + not_above) / (2.0 * len(positive) * len(negative)))


def summarise(train: np.ndarray, held: np.ndarray, fake: np.ndarray) -> dict[str, float]:
  """Returns the probe's numbers from D's logits on training, held-out and generated images."""
  return {"overfit_train_logit": float(np.mean(train)),
          "overfit_held_logit": float(np.mean(held)),
          "overfit_fake_logit": float(np.mean(fake)),
          "overfit_rt": float(np.mean(np.sign(train))),
          "overfit_rv": float(np.mean(np.sign(held))),
          "overfit_auc_train_held": auc(train, held),
          "overfit_auc_held_fake": auc(held, fake)}


def copying(fake: np.ndarray, train: np.ndarray, held: np.ndarray) -> dict[str, float]:
  """Returns, for images in [-1, 1] (or pixels: each set is scaled alike), the share of
  `fake` whose nearest image (L2) among `train` is nearer than any among `held` (ties
  counting half; the two sets must be of one size), and the mean distances to the nearest
  of each set as a root-mean-square per pixel value (0: an exact copy)."""
  if len(train) != len(held) or not len(train) or not len(fake):
    raise ValueError(f"copying needs as many training as held-out images and some "
                     f"generated ones; got {len(train)}, {len(held)} and {len(fake)}")
  flat = lambda x: np.asarray(scale_pixels(np.asarray(x)), np.float64).reshape(len(x), -1)
  fake, train, held = flat(fake), flat(train), flat(held)

  def nearest(real):  # squared distance of each fake image to its nearest in `real`
    d = (np.sum(fake ** 2, 1)[:, None] - 2 * fake @ real.T + np.sum(real ** 2, 1)[None])
    return np.maximum(np.min(d, axis=1), 0.0)
  d_train, d_held = nearest(train), nearest(held)
  pixels = fake.shape[1]
  return {"copy_share": float(np.mean((d_train < d_held) + 0.5 * (d_train == d_held))),
          "copy_d_train": float(np.mean(np.sqrt(d_train / pixels))),
          "copy_d_held": float(np.mean(np.sqrt(d_held / pixels))),
          "copy_images": len(fake)}


class OverfitEvaluation:
  """The probe as one of a run's evaluations (a scorer of
  `jaxgan.runner.evaluation.SampleEvaluator`): the same `num` training and held-out images every
  time (`num` rounded down to a multiple of `batch`, D's batch in training), and `num` samples of
  the raw generator from `key` (`jaxgan.sample.sample_batches`: a conditional one's labels uniform
  over its classes)."""

  def __init__(self, generator, discriminator, data, held, num: int, batch: int,
               key: jax.Array):
    n = min(num, data.num_examples, held.num_examples) // batch * batch
    if n == 0:
      raise ValueError(f"the probe of D's memorising needs a batch ({batch}) of training and "
                       f"of held-out images; there are {data.num_examples} and "
                       f"{held.num_examples}")
    self.discriminator, self.batch, self.num, self.key = discriminator, batch, n, key
    self.train, self.held = data.read(range(n)), held.read(range(n))
    self.sample = make_sample_fn(generator)
    self.num_classes = as_player(generator).num_classes

  def __call__(self, state) -> dict[str, float]:
    fakes = list(sample_batches(self.sample, state, self.key, self.num, self.batch,
                                self.num_classes, use_ema=False))
    fake = (np.concatenate([np.asarray(x) for x, _ in fakes]),
            np.concatenate([y for _, y in fakes]) if self.num_classes else None)
    scores = [d_logits(self.discriminator, state.d_params, state.d_state, x, y, self.batch)
              for x, y in (self.train, self.held, fake)]
    return {"overfit_images": self.num, **summarise(*scores)}

  @staticmethod
  def describe(scores: dict[str, float]) -> str:
    return (f"D on training / held-out / generated images {scores['overfit_train_logit']:.2f}"
            f" / {scores['overfit_held_logit']:.2f} / {scores['overfit_fake_logit']:.2f}, "
            f"r_t {scores['overfit_rt']:.2f}, r_v {scores['overfit_rv']:.2f}, AUC "
            f"train/held {scores['overfit_auc_train_held']:.3f}")


FILE = "overfit.json"
_COLUMNS = (("D(train)", "overfit_train_logit"), ("D(held out)", "overfit_held_logit"),
            ("D(G(z))", "overfit_fake_logit"), ("r_t", "overfit_rt"), ("r_v", "overfit_rv"),
            ("AUC train/held", "overfit_auc_train_held"),
            ("AUC held/fake", "overfit_auc_held_fake"))


def load(workdir: str) -> list[dict]:
  """Returns the probe's records saved in `workdir` by step (none: an empty list)."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def save(workdir: str, records: list[dict]) -> str:
  """Merges `records` into `<workdir>/overfit.json` by step (a new record replaces the old
  one of its step); written beside it and moved into place. Returns the path."""
  merged = {r["step"]: r for r in load(workdir)}
  merged.update({r["step"]: r for r in records})
  path = os.path.join(workdir, FILE)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    json.dump([merged[s] for s in sorted(merged)], f, indent=1)
  os.replace(path + ".tmp", path)
  return path


def table(records: list[dict]) -> str:
  """Returns the records as a markdown table, a row per step."""
  lines = ["| step | " + " | ".join(name for name, _ in _COLUMNS) + " |",
           "|---" * (len(_COLUMNS) + 1) + "|"]
  for r in records:
    lines.append(f"| {r['step']} | " + " | ".join(f"{r[key]:.3f}" for _, key in _COLUMNS)
                 + " |")
  return "\n".join(lines)


def copying_table(records: list[dict]) -> str:
  """Returns the records' copying numbers as a markdown table, a row per step."""
  lines = ["| step | share nearer a training image | RMS to nearest training | RMS to "
           "nearest held-out |", "|---|---|---|---|"]
  lines += [f"| {r['step']} | {r['copy_share']:.3f} | {r['copy_d_train']:.4f} | "
            f"{r['copy_d_held']:.4f} |" for r in records if "copy_share" in r]
  return "\n".join(lines)


def augmented_table(records: list[dict]) -> str:
  """Returns the records' `overfit_augmented` as a markdown table, a row per step and p."""
  lines = ["| step | p | r_t | r_v |", "|---|---|---|---|"]
  for r in records:
    lines += [f"| {r['step']} | {a['p']:.3f} | {a['rt']:.3f} | {a['rv']:.3f} |"
              for a in r.get("overfit_augmented", [])]
  return "\n".join(lines)
