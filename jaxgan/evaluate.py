"""What a run looks at during training: mode coverage for 2D mixtures, sample grids for images.

An evaluator is called as `evaluator(state, step, final)` and returns `(record, message)`:
numbers for metrics.jsonl and summary.json, and a line for the log. It writes its pictures
into the workdir; `finish()` writes what needs the whole run (the GIF).
"""

import math
import os
import re
from typing import Any

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import penalties, viz
from jaxgan.data import mixtures
from jaxgan.metrics.modes import mode_coverage
from jaxgan.models.layers import is_conditional
from jaxgan.sample import make_sample_fn
from jaxgan.state import GANState

PLOT_EXTENT = {"ring8": 1.6, "grid25": 6.0}
GRID_FILE = re.compile(r"samples_(\d+)\.png")  # the grid of one evaluation step


def grid_name(step: int) -> str:
  return f"samples_{step:07d}.png"


MAX_CLASS_ROWS = 20  # conditional grids show at most this many classes, one per row


def map_logits(discriminator, d_params, d_state, x):
  """Returns D's logit at each point of x, for the picture of D over the plane.

  A packed D (PacGAN) scores a pack of m copies of each point; a D with feature outputs
  (the MMD losses) is shown by its first feature.
  """
  m = getattr(discriminator, "packing", 1)
  model_state = {k: v for k, v in d_state.items() if k != penalties.LECAM}
  out = discriminator.apply({"params": d_params, **model_state}, jnp.repeat(x, m, axis=0),
                            train=False)
  return out.reshape(out.shape[0], -1)[:, 0]


class MixtureEvaluator:
  """Mode coverage (PROTOCOLS.md section 1) and the 2D picture with D's contours."""

  def __init__(self, generator, discriminator, mixture: mixtures.Mixture, name: str,
               eval_key: jax.Array, num_samples: int, workdir: str, tensorboard=None):
    self.mixture, self.name, self.key = mixture, name, eval_key
    self.num_samples, self.workdir, self.tensorboard = num_samples, workdir, tensorboard
    self.sample = make_sample_fn(generator)
    self.real = np.asarray(mixture.sample(eval_key, (500,)))  # the same points every picture
    self.logits = jax.jit(functools.partial(map_logits, discriminator))

  def __call__(self, state: GANState, step: int, final: bool) -> tuple[dict[str, Any], str]:
    fake = np.asarray(self.sample(state, self.key, self.num_samples))
    result = mode_coverage(fake, self.mixture)
    raw = mode_coverage(self.sample(state, self.key, self.num_samples, use_ema=False),
                        self.mixture)
    result.update({f"raw_{k}": v for k, v in raw.items() if k != "hq_counts"})
    title = (f"{self.name} step {step}: {result['modes']}/{self.mixture.num_modes} modes, "
             f"HQ {100 * result['hq_fraction']:.1f}%")
    image = viz.plot_2d(self.real, fake[:1000],
                        lambda p: self.logits(state.d_params, state.d_state, p),
                        PLOT_EXTENT[self.name], title=title)
    if self.workdir:
      image.save(os.path.join(self.workdir, "samples.png" if final else
                              grid_name(step)))
    if self.tensorboard:
      self.tensorboard.image(step, "samples", np.asarray(image))
    message = (f"{result['modes']}/{self.mixture.num_modes} modes, HQ "
               f"{100 * result['hq_fraction']:.1f}%, reverse KL {result['reverse_kl']}")
    return result, message

  def finish(self) -> None:
    pass


class InceptionEvaluation:
  """FID, KID, IS and precision/recall of `num` EMA samples against the training data.

  With no usable weights every evaluation records `inception: "unavailable: <reason>"` and
  no number. The generated samples come from a fixed key, so evaluations differ only by the
  generator; conditional generators draw labels uniformly over the classes.
  """

  def __init__(self, generator, metrics, reason: str, data, num: int, key: jax.Array,
               cache_dir: str, batch_size: int = 100):
    self.sample, self.metrics, self.reason = make_sample_fn(generator), metrics, reason
    self.data, self.num, self.key, self.batch_size = data, num, key, batch_size
    self.cache_dir = cache_dir
    self.num_classes = generator.num_classes if is_conditional(generator) else 0
    self.reference = None

  def _real(self, start: int, stop: int) -> np.ndarray:
    from jaxgan.data import images  # the image pipeline is needed only here
    rows = [i % self.data.num_examples for i in range(start, stop)]
    return np.asarray(images.scale_pixels(self.data.read(rows)[0]))

  def _fake(self, state):
    for start in range(0, self.num, self.batch_size):
      n = min(self.batch_size, self.num - start)
      key = jax.random.fold_in(self.key, start)
      labels = (jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, self.num_classes)
                if self.num_classes else None)
      yield self.sample(state, key, n, labels=labels)

  def __call__(self, state: GANState) -> dict[str, Any]:
    if self.metrics is None:
      return {"inception": f"unavailable: {self.reason}"}
    if self.reference is None:
      self.reference = self.metrics.reference(f"{self.data.name}-train", self.num, self._real,
                                              self.cache_dir)
    return self.metrics.evaluate(self._fake(state), self.reference, self.key)

  @staticmethod
  def describe(scores: dict[str, Any]) -> str:
    if "fid" not in scores:
      return f"Inception metrics {scores['inception']}"
    return (f"FID {scores['fid']:.2f}, KID {scores['kid']:.4f} ± {scores['kid_std']:.4f}, IS "
            f"{scores['inception_score']:.2f}, precision {scores['precision']:.3f}, recall "
            f"{scores['recall']:.3f} ({scores['inception_samples']} samples)")


class SampleEvaluator:
  """A grid of samples from one fixed noise batch at every evaluation, and their GIF.

  Conditional generators get one row per class (up to `MAX_CLASS_ROWS`), ten samples each.
  The record holds the mean and standard deviation of the generated values beside the
  data's, a cheap check that the samples have the data's range.
  """

  def __init__(self, generator, image_shape: tuple[int, ...], data_stats: tuple[float, float],
               eval_key: jax.Array, grid_size: int, workdir: str, tensorboard=None,
               inception: "InceptionEvaluation | None" = None):
    self.sample, self.key = make_sample_fn(generator), eval_key
    self.inception = inception
    self.workdir, self.tensorboard, self.data_stats = workdir, tensorboard, data_stats
    self.is_image = len(image_shape) == 3 and image_shape[-1] in (1, 3)
    if is_conditional(generator):
      rows = min(generator.num_classes, MAX_CLASS_ROWS)
      self.labels = np.repeat(np.arange(rows), 10)
      self.rows = rows
    else:
      self.labels = None
      self.rows = max(1, int(math.sqrt(grid_size)))
    self.num = len(self.labels) if self.labels is not None else grid_size
    self.scale = max(1, 64 // image_shape[0]) if self.is_image else 1
    self.frames: list[np.ndarray] = []

  def __call__(self, state: GANState, step: int, final: bool) -> tuple[dict[str, Any], str]:
    fake = np.asarray(self.sample(state, self.key, self.num, labels=self.labels))
    result = {"sample_mean": float(fake.mean()), "sample_std": float(fake.std()),
              "data_mean": self.data_stats[0], "data_std": self.data_stats[1]}
    message = (f"samples mean {result['sample_mean']:.3f} std {result['sample_std']:.3f} "
               f"(data {self.data_stats[0]:.3f}, {self.data_stats[1]:.3f})")
    if self.is_image:
      grid = viz.image_grid(fake, self.rows, scale=self.scale)
      self.frames.append(grid)
      name = grid_name(step)
      if self.workdir:
        viz.Image.fromarray(grid).save(os.path.join(self.workdir, name))
        if final:
          viz.Image.fromarray(grid).save(os.path.join(self.workdir, "samples.png"))
      if self.tensorboard:
        self.tensorboard.image(step, "samples", grid)
      message += f"; grid {name}"
    if self.inception is not None:
      scores = self.inception(state)
      result.update(scores)
      message += "; " + self.inception.describe(scores)
    return result, message

  def load_frames(self, upto_step: int) -> None:
    """Reads back the grids an interrupted run saved up to `upto_step`, for the GIF."""
    if not (self.is_image and self.workdir and os.path.isdir(self.workdir)):
      return
    grids = [(int(m.group(1)), m.group(0)) for n in os.listdir(self.workdir)
             if (m := GRID_FILE.fullmatch(n))]
    for _, name in sorted(g for g in grids if g[0] <= upto_step):
      with viz.Image.open(os.path.join(self.workdir, name)) as image:
        self.frames.append(np.asarray(image))

  def finish(self) -> None:
    if self.frames and self.workdir:
      viz.save_gif(self.frames, os.path.join(self.workdir, "samples.gif"))
