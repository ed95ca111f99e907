"""Wiring: a config's names turned into the objects of a run.

Each function is one stage of `jaxgan.train.train_and_evaluate`: the devices, the data, the
players with their optimizers, objective, state and compiled step, and the evaluator. Each
vocabulary is checked by the registry that owns it (models, losses, penalties, views), so a
typo stops the run with a named `ConfigError` before anything is written.
"""

import os
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from absl import logging

from jaxgan import objective as objective_lib
from jaxgan import optim, parallel
from jaxgan.config import Config, ConfigError
from jaxgan.data import images, mixtures, stacked
from jaxgan.evaluate import (DomainEvaluation, InceptionEvaluation, MixtureEvaluator,
                             SampleEvaluator)
from jaxgan.metrics.classifier import WEIGHTS_DIR
from jaxgan.metrics.inception_eval import InceptionMetrics
from jaxgan.models.registry import build_players
from jaxgan.objective import Objective
from jaxgan.state import GANState, create_state
from jaxgan.step import make_train_step


def schedule(lr: float, config: Config, updates_per_step: int = 1) -> optax.Schedule:
  """Returns the learning-rate schedule `config.lr_schedule` over the whole run."""
  total = config.num_steps * updates_per_step
  if config.lr_schedule == "cosine":
    return optax.cosine_decay_schedule(lr, total)
  if config.lr_schedule == "linear":
    return optax.linear_schedule(lr, 0.0, total)
  return optax.constant_schedule(lr)


def build(config: Config, data_shape: tuple[int, ...] = (2,), num_classes: int = 0,
          pixels: bool = False, bn_axis: str | None = None):
  """Returns `(generator, discriminator, g_tx, d_tx)` for the config and the data's shape."""
  generator, discriminator = build_players(
      config.model, data_shape, num_classes=num_classes, latent_dim=config.latent_dim,
      g_conditioning=config.g_conditioning, d_conditioning=config.d_conditioning,
      d_norm=config.d_norm, mlp_width=(config.g_width, config.d_width),
      mlp_depth=(config.g_depth, config.d_depth), activation=config.activation, pixels=pixels,
      bn_axis=bn_axis, d_features=config.d_features, packing=config.packing, seed=config.seed)
  g_tx = optim.optimizer(config.optimizer, schedule(config.g_lr, config), b1=config.g_beta1,
                         b2=config.g_beta2)
  # D's optimizer counts D updates: its schedule spans d_steps * num_steps of them. The
  # unrolled GAN differentiates through D's updates, where Adam's √v needs eps_root > 0.
  d_tx = optim.optimizer(config.optimizer, schedule(config.d_lr, config, config.d_steps),
                         b1=config.d_beta1, b2=config.d_beta2, clip=config.d_clip,
                         eps_root=1e-16 if config.unroll_steps else 0.0)
  return generator, discriminator, g_tx, d_tx


def objective_of(config: Config) -> Objective:
  """Returns the objective the config names (loss, penalty, LeCam, D's view, class term)."""
  return objective_lib.build(
      config.loss, penalty=config.penalty, penalty_weight=config.penalty_weight,
      penalty_every=config.penalty_every, lecam_weight=config.lecam_weight,
      lecam_decay=config.lecam_decay, instance_noise=config.instance_noise,
      instance_noise_steps=config.instance_noise_steps, augment=config.augment,
      ac_weight=config.ac_weight)


def step_settings(config: Config) -> dict[str, Any]:
  """Returns the `make_train_step` keyword arguments of the algorithm and its policies."""
  return dict(d_steps=config.d_steps, reuse_fake=config.reuse_fake, ema_decay=config.ema_decay,
              unroll_steps=config.unroll_steps, update_rule=config.update_rule,
              consensus_weight=config.consensus_weight, compute_dtype=config.compute_dtype,
              skip_nonfinite=config.on_nonfinite == "skip")


def load_images(config: Config) -> images.ImageData:
  return images.load(config.dataset, data_dir=config.data_dir or None,
                     manual_dir=config.manual_dir or None, path=config.data_path or None,
                     image_size=config.image_size, channels=config.image_channels)


def scorers(config: Config, generator, data: images.ImageData, eval_key: jax.Array) -> tuple:
  """Returns the sample scorers of an image run: Inception metrics, and the domain
  classifier's for the datasets it was trained on."""
  if len(data.image_shape) != 3:
    return ()
  metrics, reason = InceptionMetrics.from_path(config.inception_weights)
  if metrics is None:
    logging.info("Inception metrics unavailable: %s", reason)
  found = [InceptionEvaluation(
      generator, metrics, reason, data, config.fid_samples, jax.random.fold_in(eval_key, 1),
      config.fid_cache_dir or os.path.join(os.path.expanduser("~"), ".cache", "jaxgan"))]
  base = stacked.NAMES.get(config.dataset, config.dataset)
  if base in ("fashion_mnist", "mnist"):
    found.append(DomainEvaluation(generator, data, config.domain_samples,
                                  jax.random.fold_in(eval_key, 2),
                                  os.path.join(WEIGHTS_DIR, f"{base}_classifier.npz")))
  return tuple(found)


def device_mesh(config: Config):
  """Returns `(mesh, axis name)`: a data-parallel mesh over every device of every process, or
  `(None, None)` on one device; the batch must split evenly, packs included."""
  if jax.device_count() == 1:
    return None, None
  batch_size = config.batch_size
  try:
    parallel.check_batch(batch_size, jax.device_count())
  except ValueError as e:
    raise ConfigError(str(e)) from e
  per_device = batch_size // jax.device_count()
  if per_device % config.packing:
    raise ConfigError(f"packing={config.packing} does not divide the {per_device} samples "
                      f"per device (batch_size={batch_size} on {jax.device_count()} devices)")
  logging.info("data parallel over %d devices (%d processes), %d samples per device",
               jax.device_count(), jax.process_count(), per_device)
  return parallel.data_mesh(), parallel.DATA_AXIS


class Data(NamedTuple):
  """The run's data: a 2D mixture or an image set, and what the players need of it."""
  source: Any  # mixtures.Mixture or images.ImageData
  shape: tuple[int, ...]
  num_classes: int
  pixels: bool  # uint8 images, scaled to [-1, 1] in the step
  info: dict    # for summary.json and the checkpoints' metadata


def open_data(config: Config) -> Data:
  """Returns the config's dataset, opened (images: read from prepared files)."""
  if config.is_mixture:
    mixture = mixtures.get(config.dataset)
    return Data(mixture, (2,), 0, False, {"name": config.dataset, "modes": mixture.num_modes})
  data = load_images(config)
  images.steps_per_epoch(data.num_examples, config.d_steps * config.batch_size)
  logging.info("data: %s, %d examples of shape %s, %d classes", config.dataset,
               data.num_examples, data.image_shape, data.num_classes)
  return Data(data, data.image_shape, data.num_classes, data.dtype == np.uint8,
              {"name": config.dataset, "examples": data.num_examples,
               "shape": list(data.image_shape), "classes": list(data.class_names)})


class Players(NamedTuple):
  generator: Any
  discriminator: Any
  objective: Objective
  state: GANState      # fresh (replicated over the mesh, if any)
  train_step: Any      # `(state, batch) -> (state, metrics)`, mapped over the mesh


def players(config: Config, data: Data, key: jax.Array, mesh=None, axis=None) -> Players:
  """Returns the players, optimizers, objective, fresh state and step of the config."""
  try:
    generator, discriminator, g_tx, d_tx = build(
        config, data.shape, data.num_classes, data.pixels,
        bn_axis=axis if config.sync_batch_norm else None)
  except ValueError as e:
    raise ConfigError(f"{e} (dataset {config.dataset})") from e
  sample_batch = {"x": np.zeros((config.batch_size, *data.shape), np.float32)}
  objective = objective_of(config)
  state = create_state(key, generator, discriminator, g_tx, d_tx, sample_batch, objective)
  train_step = make_train_step(generator, discriminator, g_tx, d_tx, objective, axis_name=axis,
                               **step_settings(config))
  if mesh is not None:
    train_step = parallel.shard_step(train_step, mesh)
    state = parallel.replicate_on_mesh(state, mesh)
  return Players(generator, discriminator, objective, state, train_step)


def evaluator(config: Config, data: Data, made: Players, key: jax.Array, stats, out_dir,
              tensorboard):
  """Returns the run's evaluator: mode coverage for mixtures, sample grids and scores for
  images (`stats`: the real images' (mean, std))."""
  if config.is_mixture:
    return MixtureEvaluator(made.generator, made.discriminator, data.source, config.dataset,
                            key, config.eval_samples, out_dir, tensorboard)
  return SampleEvaluator(made.generator, data.shape, stats, key, config.grid_size, out_dir,
                         tensorboard, scorers(config, made.generator, data.source, key))
