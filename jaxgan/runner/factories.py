"""Factories: a config's settings turned into the objects of a run.

Each function is one stage of `jaxgan.runner.train.train_and_evaluate`: the devices, the data, the
players with their optimizers, objective, state and compiled step, and the evaluator. Each
vocabulary is checked by the registry that owns it (models, losses, penalties, views), so a
typo stops the run with a named `ConfigError` before anything is written.
"""

import dataclasses
import os
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from absl import logging

from jaxgan import objective as objective_lib
from jaxgan import optim, parallel, schedules
from jaxgan.runner import config as config_lib
from jaxgan.runner.config import Config
from jaxgan.errors import ConfigError
from jaxgan.data import images, mixtures, stacked, transforms
from jaxgan.runner.evaluation import (DomainEvaluation, InceptionEvaluation, MixtureEvaluator,
                             SampleEvaluator)
from jaxgan.metrics.classifier import WEIGHTS_DIR
from jaxgan.metrics import overfit
from jaxgan.metrics.inception_eval import InceptionMetrics
from jaxgan.models.registry import build_players
from jaxgan.objective import Objective
from jaxgan.state import GANState, create_state
from jaxgan.step import make_train_step


def optimizers(section: config_lib.OptimisersSettings, horizon: int,
               step: config_lib.StepSettings) -> tuple[optax.GradientTransformation, ...]:
  """Returns `(g_tx, d_tx)`: each player's optimizer, its learning rate and β2 on the
  section's schedules over `horizon` steps (D's over its `d_steps * horizon` updates)."""
  lr = optim.LR_SCHEDULES[section.lr_schedule]

  def beta2(start: float, updates: int):
    return schedules.cosine(start, section.beta2_to, updates) if section.beta2_to else start

  g_tx = optim.optimizer(section.optimizer, lr(section.g_lr, horizon, section.lr_decay_to),
                         b1=section.g_beta1, b2=beta2(section.g_beta2, horizon))
  # The unrolled GAN differentiates through D's updates, where Adam's √v needs eps_root > 0.
  d_updates = horizon * step.d_steps
  d_tx = optim.optimizer(section.optimizer, lr(section.d_lr, d_updates, section.lr_decay_to),
                         b1=section.d_beta1, b2=beta2(section.d_beta2, d_updates),
                         clip=section.d_clip, eps_root=1e-16 if step.unroll_steps else 0.0)
  return g_tx, d_tx


def players_of(section: config_lib.PlayersSettings, settings,
               data_shape: tuple[int, ...] = (2,), num_classes: int = 0, pixels: bool = False,
               bn_axis: str | None = None, seed: int = 0):
  """Returns `(generator, discriminator)` of the section for the data's shape; `settings`:
  the model's own section (`Config.model_settings`; None: its defaults)."""
  return build_players(
      section.model, data_shape, num_classes=num_classes, latent_dim=section.latent_dim,
      g_conditioning=section.g_conditioning, d_conditioning=section.d_conditioning,
      d_norm=section.d_norm, pixels=pixels,
      bn_axis=bn_axis if section.sync_batch_norm else None, packing=section.packing,
      seed=seed, settings=settings)


def players_and_optimizers(config: Config, data_shape: tuple[int, ...] = (2,), num_classes: int = 0,
          pixels: bool = False, bn_axis: str | None = None):
  """Returns `(generator, discriminator, g_tx, d_tx)` for the config and the data's shape."""
  generator, discriminator = players_of(config.players, config.model_settings, data_shape,
                                        num_classes, pixels, bn_axis, config.run.seed)
  return (generator, discriminator,
          *optimizers(config.optimisers, config.horizon, config.step))


def objective_of(section: config_lib.ObjectiveSettings, horizon: int = 1) -> Objective:
  """Returns the objective the section names (loss, penalties, LeCam, D's view, class term);
  its schedules span `horizon` steps."""
  return objective_lib.build(**dataclasses.asdict(section), horizon=horizon)


def _open(section: config_lib.DataSettings, split: str = "train") -> images.ImageData:
  return images.load(section.dataset, split=split, data_dir=section.data_dir or None,
                     manual_dir=section.manual_dir or None, path=section.data_path or None,
                     image_size=section.image_size, channels=section.image_channels,
                     fit=section.image_fit, bad_images=section.bad_images,
                     workers=section.workers)


def run_keys(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Returns a run's (init, data, evaluation) keys from its seed, as training draws them."""
  init_key, data_key, eval_key = jax.random.split(jax.random.key(seed), 3)
  return init_key, data_key, eval_key


def load_images(section: config_lib.DataSettings) -> images.ImageData:
  """Returns the training images as the run sees them (`train_subset`, `mirror`, `pad_to`)."""
  data = _open(section)
  if section.train_subset:
    data = transforms.subset(data, section.train_subset)
  if section.mirror:
    data = transforms.mirrored(data)
  return transforms.padded(data, section.pad_to) if section.pad_to else data


def load_held_out(section: config_lib.DataSettings, m: int) -> images.ImageData:
  """Returns at most `m` real images the run never trains on, padded as its own: those its
  `train_subset` leaves out, or without a subset `m` of the test split."""
  if section.train_subset:
    data = _open(section)
    data = transforms.held_out(data, section.train_subset,
                               min(m, data.num_examples - section.train_subset))
  else:
    data = _open(section, "test")
    data = transforms.held_out(data, 0, min(m, data.num_examples))
  return transforms.padded(data, section.pad_to) if section.pad_to else data


def scorers(section: config_lib.EvaluationSettings, data_section: config_lib.DataSettings,
            generator, data: images.ImageData, eval_key: jax.Array,
            truncation: float | None = None) -> tuple:
  """Returns the sample scorers of an image run: Inception metrics, and the domain
  classifier's (`domain_scorer`) for the datasets it was trained on; their samples' z
  truncated to |z| ≤ `truncation` where given (`jaxgan.sample.make_sample_fn`)."""
  if len(data.image_shape) != 3:
    return ()
  metrics, reason = InceptionMetrics.from_path(section.inception_weights)
  if metrics is None:
    logging.info("Inception metrics unavailable: %s", reason)
  found = [InceptionEvaluation(
      generator, metrics, reason, data, section.fid_samples, jax.random.fold_in(eval_key, 1),
      section.fid_cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "jaxgan"),
      truncation=truncation)]
  domain = domain_scorer(section, data_section, generator, data, eval_key, truncation)
  if domain and domain.reason:
    logging.info("domain metrics unavailable: %s", domain.reason)
  return tuple(found + ([domain] if domain else []))


def domain_scorer(section: config_lib.EvaluationSettings,
                  data_section: config_lib.DataSettings, generator,
                  data: images.ImageData, eval_key: jax.Array,
                  truncation: float | None = None) -> DomainEvaluation | None:
  """Returns the domain classifier's scorer of a Fashion-MNIST or MNIST run (plain or
  stacked; None for other data), against the training images as the run sees them, or
  with `domain_reference="test"` the base set's whole test split. `generator` None gives
  one that only rates images made elsewhere (`DomainEvaluation.score`)."""
  dataset = data_section.dataset
  base = stacked.NAMES.get(dataset, dataset)
  if base not in ("fashion_mnist", "mnist"):
    return None
  reference = data
  if section.domain_reference == "test" and base == dataset:
    reference = images.load(base, split="test", data_dir=data_section.data_dir or None,
                            manual_dir=data_section.manual_dir or None)
  return DomainEvaluation(generator, data, section.domain_samples,
                          jax.random.fold_in(eval_key, 2),
                          os.path.join(WEIGHTS_DIR, f"{base}_classifier.npz"),
                          reference=reference,
                          reference_split="test" if reference is not data else "train",
                          truncation=truncation)


def device_mesh(batch_size: int, packing: int):
  """Returns `(mesh, axis name)`: a data-parallel mesh over every device of every process, or
  `(None, None)` on one device; the batch must split evenly, packs included."""
  if jax.device_count() == 1:
    return None, None
  try:
    parallel.check_batch(batch_size, jax.device_count())
  except ValueError as e:
    raise ConfigError(str(e)) from e
  per_device = batch_size // jax.device_count()
  if per_device % packing:
    raise ConfigError(f"packing={packing} does not divide the {per_device} samples "
                      f"per device (batch_size={batch_size} on {jax.device_count()} devices)")
  logging.info("data parallel over %d devices (%d processes), %d samples per device",
               jax.device_count(), jax.process_count(), per_device)
  return parallel.data_mesh(), parallel.DATA_AXIS


class RunData(NamedTuple):
  """The run's data: a 2D mixture or an image set, and what the players need of it."""
  source: Any  # mixtures.Mixture or images.ImageData
  shape: tuple[int, ...]
  num_classes: int
  pixels: bool  # uint8 images, scaled to [-1, 1] in the step
  info: dict    # for summary.json and the checkpoints' metadata


def open_data(section: config_lib.DataSettings, examples_per_step: int) -> RunData:
  """Returns the section's dataset, opened (images: read from prepared files), checked to
  hold the `examples_per_step` real samples a step takes."""
  if section.is_mixture:
    mixture = mixtures.get(section.dataset)
    return RunData(mixture, (2,), 0, False, {"name": section.dataset, "modes": mixture.num_modes})
  data = load_images(section)
  images.steps_per_epoch(data.num_examples, examples_per_step)
  logging.info("data: %s, %d examples of shape %s, %d classes", section.dataset,
               data.num_examples, data.image_shape, data.num_classes)
  return RunData(data, data.image_shape, data.num_classes, data.dtype == np.uint8,
              {"name": section.dataset, "examples": data.num_examples,
               "shape": list(data.image_shape), "classes": list(data.class_names)})


class RunPlayers(NamedTuple):
  generator: Any
  discriminator: Any
  objective: Objective
  state: GANState      # fresh (replicated over the mesh, if any)
  train_step: Any      # `(state, batch) -> (state, metrics)`, mapped over the mesh


def players(config: Config, data: RunData, key: jax.Array, mesh=None, axis=None) -> RunPlayers:
  """Returns the players, optimizers, objective, fresh state and step of the config."""
  try:
    generator, discriminator, g_tx, d_tx = players_and_optimizers(config, data.shape,
                                                                  data.num_classes,
                                                 data.pixels, bn_axis=axis)
  except ValueError as e:
    raise ConfigError(f"{e} (dataset {config.data.dataset})") from e
  sample_batch = {"x": np.zeros((config.run.batch_size, *data.shape), np.float32)}
  objective = objective_of(config.objective, config.horizon)
  state = create_state(key, generator, discriminator, g_tx, d_tx, sample_batch, objective)
  train_step = make_train_step(generator, discriminator, g_tx, d_tx, objective, axis_name=axis,
                               **config.step.settings(config.horizon, config.run.batch_size))
  if mesh is not None:
    train_step = parallel.shard_step(train_step, mesh)
    state = parallel.replicate_on_mesh(state, mesh)
  return RunPlayers(generator, discriminator, objective, state, train_step)


def evaluator(section: config_lib.EvaluationSettings, data_section: config_lib.DataSettings,
              data: RunData, made: RunPlayers, key: jax.Array, stats, out_dir, tensorboard,
              batch_size: int):
  """Returns the run's evaluator: mode coverage for mixtures, sample grids and scores for
  images (`stats`: the real images' (mean, std)), with D's memorising measured in batches
  of `batch_size` where `section.overfit_images` asks for it."""
  name = data.info["name"]
  if isinstance(data.source, mixtures.Mixture):
    return MixtureEvaluator(made.generator, made.discriminator, data.source, name, key,
                            section.eval_samples, out_dir, tensorboard)
  found = scorers(section, data_section, made.generator, data.source, key)
  if section.overfit_images:
    try:
      found += (overfit.OverfitEvaluation(
          made.generator, made.discriminator, data.source,
          load_held_out(data_section, section.overfit_images), section.overfit_images,
          batch_size, jax.random.fold_in(key, 3)),)
    except ValueError as e:  # too few images, or no held-out split (a DataError)
      raise ConfigError(f"overfit_images={section.overfit_images}: {e}") from e
  return SampleEvaluator(made.generator, data.shape, stats, key, section.grid_size, out_dir,
                         tensorboard, found)
