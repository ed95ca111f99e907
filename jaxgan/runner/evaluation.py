"""What a run looks at during training: mode coverage for 2D mixtures, sample grids for images.

An evaluator is called as `evaluator(state, step, final)` and returns `(record, message)`:
numbers for metrics.jsonl and summary.json, and a line for the log. It writes its pictures
into the workdir; `finish()` writes what needs the whole run (the GIF).
"""

import math
import os
from typing import Any

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.runner import pictures
from jaxgan.runner.pictures import GRID_FILE, grid_name  # pylint: disable=unused-import
from jaxgan.data import mixtures
from jaxgan.metrics.modes import mode_coverage
from jaxgan.models.layers import is_conditional
from jaxgan.players import as_player
from jaxgan.sample import make_sample_fn, sample_batches
from jaxgan.state import GANState

PLOT_EXTENT = {"ring8": 1.6, "grid25": 6.0}


MAX_CLASS_ROWS = 20  # conditional grids show at most this many classes, one per row


def map_logits(discriminator, d_params, d_state, x):
  """Returns D's logit at each point of x, for the picture of D over the plane.

  A packed D (PacGAN) scores a pack of m copies of each point; a D with feature outputs
  (the MMD losses) is shown by its first feature.
  """
  m = getattr(discriminator, "packing", 1)
  out, _ = as_player(discriminator).apply(d_params, d_state, jnp.repeat(x, m, axis=0), None,
                                          False)
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
    image = pictures.plot_2d(self.real, fake[:1000],
                             lambda p: self.logits(state.d_params, state.d_state, p),
                             PLOT_EXTENT[self.name], title=title)
    if self.workdir:
      image.save(os.path.join(self.workdir, "samples.png" if final else
                              grid_name(step)))
    if self.tensorboard:
      self.tensorboard.image(step, "samples", np.asarray(image))
    kl = result["reverse_kl"]
    message = (f"{result['modes']}/{self.mixture.num_modes} modes, HQ "
               f"{100 * result['hq_fraction']:.1f}%, reverse KL "
               f"{'n/a (no sample near a mode)' if kl is None else format(kl, '.3g')}")
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
               cache_dir: str, batch_size: int = 100, truncation: float | None = None):
    self.sample = make_sample_fn(generator, truncation)
    self.metrics, self.reason = metrics, reason
    self.data, self.num, self.key, self.batch_size = data, num, key, batch_size
    self.cache_dir = cache_dir
    self.num_classes = generator.num_classes if is_conditional(generator) else 0
    self.reference = None

  def _real(self, start: int, stop: int) -> np.ndarray:
    from jaxgan.data import images  # the image pipeline is needed only here
    rows = [i % self.data.num_examples for i in range(start, stop)]
    return np.asarray(images.scale_pixels(self.data.read(rows)[0]))

  def _fake(self, state):
    for images, _ in sample_batches(self.sample, state, self.key, self.num, self.batch_size,
                                    self.num_classes):
      yield images

  def __call__(self, state: GANState) -> dict[str, Any]:
    if self.metrics is None:
      return {"inception": f"unavailable: {self.reason}"}
    if self.reference is None:
      self.reference = self.metrics.reference(f"{self.data.key}-train", self.num, self._real,
                                              self.cache_dir)
    result = self.metrics.evaluate(self._fake(state), self.reference, self.key)
    return {**result, "inception_protocol": self.protocol()}

  def protocol(self) -> dict[str, Any]:
    """How the scores were made: what a reader needs to compare them with another's."""
    from jaxgan.metrics.inception_eval import FEATURES_KEPT  # pylint: disable=g-import-not-at-top
    distinct = min(self.num, self.data.num_examples)
    return {
        "generated": f"{self.num} images of the EMA generator, one fixed noise batch per "
                     f"evaluation" + (", classes uniform" if self.num_classes else ""),
        "reference": f"{self.data.key}, split train: its first {distinct} images"
                     + (f", repeated to {self.num}" if distinct < self.num else ""),
        "resize": "bilinear to 299x299 (half-pixel centres, no antialiasing) from [-1, 1]; "
                  "grey repeated to RGB",
        "network": "Inception-v3 of FID (TF graph layout): pool3 2048-d, 1008 logits for IS",
        "weights_file": self.metrics.weights_file,
        "weights_sha256": self.metrics.weights_sha256,
        "kid": f"100 subsets of min(1000, n), n of the first {FEATURES_KEPT} features each "
               f"side",
        "precision_recall": f"k = 3 nearest neighbours (Kynkaanniemi et al. 2019), the first "
                            f"{FEATURES_KEPT} features each side",
        "inception_score": f"{min(10, self.num)} splits"}

  @staticmethod
  def describe(scores: dict[str, Any]) -> str:
    if "fid" not in scores:
      return f"Inception metrics {scores['inception']}"
    return (f"FID {scores['fid']:.2f}, KID {scores['kid']:.4f} ± {scores['kid_std']:.4f}, IS "
            f"{scores['inception_score']:.2f}, precision {scores['precision']:.3f}, recall "
            f"{scores['recall']:.3f} ({scores['inception_samples']} samples)")


class DomainEvaluation:
  """The domain classifier's metrics (`jaxgan.metrics.domain`) of `num` EMA samples.

  For a stacked dataset each channel is classified and the 1000-mode count of PROTOCOLS.md §2
  is reported instead of the class metrics. Without the classifier's weights every
  evaluation records `domain: "unavailable: <reason>"`.
  """

  def __init__(self, generator, data, num: int, key: jax.Array, weights_path: str,
               batch_size: int = 500, reference=None, reference_split: str = "train",
               truncation: float | None = None):
    from jaxgan.data import stacked  # the image pipeline is needed only here
    from jaxgan.metrics import classifier
    # Without a generator, `score` rates images made elsewhere (another framework's G).
    self.sample = make_sample_fn(generator, truncation) if generator is not None else None
    self.data, self.num, self.key = data, num, key
    self.batch_size, self.classifier = batch_size, classifier
    self.stacked = data.name in stacked.NAMES
    self.num_classes = (generator.num_classes
                        if generator is not None and is_conditional(generator) else 0)
    self.name = os.path.basename(weights_path).removesuffix(".npz")
    self.weights_path, self.reference_split = os.path.abspath(weights_path), reference_split
    try:
      self.params, self.meta = classifier.load(weights_path)
      self.reason = ""
    except (FileNotFoundError, ValueError) as e:
      self.params, self.reason = None, str(e)
    self.reference = None
    self.reference_data = data if reference is None else reference  # the real images compared

  def _classify(self, images: np.ndarray):
    from jaxgan.data import transforms
    if images.shape[1] > self.classifier.SIZE:  # padded images (pad_to): their centre
      images = transforms.centre_crop(images, self.classifier.SIZE)
    if self.stacked:  # (N, 28, 28, 3) -> 3N grey images, channel by channel
      grey = np.moveaxis(images, -1, 1).reshape(-1, *images.shape[1:3], 1)
      _, probs = self.classifier.predict(self.params, grey)
      return None, np.argmax(probs, axis=1).reshape(-1, 3)
    return self.classifier.predict(self.params, images)

  def stacked_classes(self, images: np.ndarray) -> np.ndarray:
    """Returns the classifier's class of each channel of stacked images: (N, 3)."""
    return self._classify(images)[1]

  def _fake(self, state):
    parts, requested = [], []
    for images, labels in sample_batches(self.sample, state, self.key, self.num,
                                         self.batch_size, self.num_classes):
      parts.append(np.asarray(images))
      requested.append(labels)
    return np.concatenate(parts), (np.concatenate(requested) if self.num_classes else None)

  def __call__(self, state: GANState) -> dict[str, Any]:
    if self.params is None:
      return {"domain": f"unavailable: {self.reason}"}
    return self.score(*self._fake(state))

  def score(self, fake: np.ndarray, requested: np.ndarray | None = None) -> dict[str, Any]:
    """Returns the metrics of generated images `fake` (N, H, W, C) in [-1, 1].

    `requested`: the class each image was generated for (conditional models), else None.
    """
    from jaxgan.data import images, stacked
    from jaxgan.metrics import domain
    if self.params is None:
      return {"domain": f"unavailable: {self.reason}"}
    if self.stacked:
      return stacked.mode_counts(self.stacked_classes(fake))
    if self.reference is None:
      rows = np.arange(min(self.num, self.reference_data.num_examples))
      real, labels = self.reference_data.read(rows)
      shares = np.bincount(labels, minlength=self.reference_data.num_classes) / len(labels)
      self.reference = (self._classify(np.asarray(images.scale_pixels(real)))[0], shares,
                        np.asarray(labels))
    features, probs = self._classify(fake)
    result = domain.domain_metrics(self.name, self.reference[0], features, probs,
                                   self.reference[1], self.key, requested,
                                   real_labels=self.reference[2])
    return {**result, "domain_protocol": self.protocol(len(fake))}

  @functools.cached_property
  def weights_sha256(self) -> str:
    from jaxgan.metrics import inception_weights  # pylint: disable=g-import-not-at-top
    return inception_weights.sha256(self.weights_path)

  def protocol(self, generated: int) -> dict[str, Any]:
    """How the scores were made (see `InceptionEvaluation.protocol`)."""
    data = self.reference_data
    return {
        "generated": f"{generated} images" + (" of the EMA generator, one fixed noise batch "
                                              "per evaluation" if self.sample else ""),
        "reference": f"{data.key}, split {self.reference_split}: its first "
                     f"{min(self.num, data.num_examples)} images",
        "resize": f"none: {self.classifier.SIZE}x{self.classifier.SIZE} grey, larger images "
                  f"centre-cropped to it",
        "network": f"{self.name}: the penultimate layer's features, its class probabilities",
        "weights_file": self.weights_path, "weights_sha256": self.weights_sha256,
        "kid": "50 subsets of min(1000, N)"}

  @staticmethod
  def describe(scores: dict[str, Any]) -> str:
    if "domain" in scores:
      return f"domain metrics {scores['domain']}"
    if "stacked_modes" in scores:
      return (f"{scores['stacked_modes']}/1000 stacked modes, KL {scores['stacked_kl']:.3f} "
              f"({scores['stacked_kl_channels']:.3f} of it the channels' marginals; "
              f"{scores['stacked_samples']} samples)")
    fd = next(k for k in scores if k.startswith("fd_"))
    text = (f"{fd} {scores[fd]:.3f}, class KL {scores['class_kl']:.4f}, "
            f"{scores['classes_covered']} classes covered")
    if "conditional_accuracy" in scores:
      text += f", conditional accuracy {scores['conditional_accuracy']:.3f}"
    if f"intra_{fd}" in scores:
      text += f", intra-class {fd} {scores[f'intra_{fd}']:.3f}"
    return text


class SampleEvaluator:
  """A grid of samples from one fixed noise batch at every evaluation, and their GIF.

  Conditional generators get one row per class (up to `MAX_CLASS_ROWS`), ten samples each.
  The record holds the mean and standard deviation of the generated values beside the
  data's, a cheap check that the samples have the data's range.
  """

  def __init__(self, generator, image_shape: tuple[int, ...], data_stats: tuple[float, float],
               eval_key: jax.Array, grid_size: int, workdir: str, tensorboard=None,
               scorers: tuple = ()):
    self.sample, self.key = make_sample_fn(generator), eval_key
    self.scorers = scorers  # Inception, domain, overfit evaluations (`reason`: unavailable)
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
      grid = pictures.image_grid(fake, self.rows, scale=self.scale)
      self.frames.append(grid)
      name = grid_name(step)
      if self.workdir:
        pictures.Image.fromarray(grid).save(os.path.join(self.workdir, name))
        if final:
          pictures.Image.fromarray(grid).save(os.path.join(self.workdir, "samples.png"))
      if self.tensorboard:
        self.tensorboard.image(step, "samples", grid)
      message += f"; grid {name}"
    for scorer in self.scorers:
      scores = scorer(state)
      result.update(scores)
      if not getattr(scorer, "reason", ""):  # an unavailable one is named once, at the start
        message += "; " + scorer.describe(scores)
    return result, message

  def load_frames(self, upto_step: int) -> None:
    """Reads back the grids an interrupted run saved up to `upto_step`, for the GIF."""
    if not (self.is_image and self.workdir and os.path.isdir(self.workdir)):
      return
    grids = [(int(m.group(1)), m.group(0)) for n in os.listdir(self.workdir)
             if (m := GRID_FILE.fullmatch(n))]
    for _, name in sorted(g for g in grids if g[0] <= upto_step):
      with pictures.Image.open(os.path.join(self.workdir, name)) as image:
        self.frames.append(np.asarray(image))

  def finish(self) -> None:
    if self.frames and self.workdir:
      pictures.save_gif(self.frames, os.path.join(self.workdir, "samples.gif"))
