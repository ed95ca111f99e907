"""The training loop for 2D mixtures: config in, metrics, summary and picture out."""

import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from jaxgan import viz
from jaxgan.config import Config
from jaxgan.data import mixtures
from jaxgan.metrics.modes import mode_coverage
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.sample import make_sample_fn
from jaxgan.state import GANState, create_state
from jaxgan.step import make_train_step

PLOT_EXTENT = {"ring8": 1.6, "grid25": 6.0}


def schedule(lr: float, config: Config, updates_per_step: int = 1) -> optax.Schedule:
  """Returns the learning-rate schedule `config.lr_schedule` over the whole run."""
  total = config.num_steps * updates_per_step
  if config.lr_schedule == "cosine":
    return optax.cosine_decay_schedule(lr, total)
  if config.lr_schedule == "linear":
    return optax.linear_schedule(lr, 0.0, total)
  return optax.constant_schedule(lr)


def build(config: Config):
  """Returns `(generator, discriminator, g_tx, d_tx)` for the config."""
  generator = MLPGenerator(latent_dim=config.latent_dim, data_dim=2, width=config.g_width,
                           depth=config.g_depth, act=config.activation)
  discriminator = MLPDiscriminator(width=config.d_width, depth=config.d_depth,
                                   act=config.activation)
  g_tx = optax.adam(schedule(config.g_lr, config), b1=config.g_beta1, b2=config.g_beta2)
  # D's optimizer counts D updates: its schedule spans d_steps * num_steps of them.
  d_tx = optax.adam(schedule(config.d_lr, config, config.d_steps), b1=config.d_beta1,
                    b2=config.d_beta2)
  return generator, discriminator, g_tx, d_tx


def make_mixture_train_fn(train_step, mixture: mixtures.Mixture, data_key: jax.Array,
                          d_steps: int, batch_size: int):
  """Returns a jitted `train_fn(state) -> (state, metrics)` that draws its batch on the device.

  The batch is sampled inside the same compiled program as the step, and depends only on
  (data_key, state.step): a resumed run sees the same minibatches.
  """

  @jax.jit
  def train_fn(state: GANState):
    x = mixture.sample(jax.random.fold_in(data_key, state.step), (d_steps, batch_size))
    return train_step(state, {"x": x})

  return train_fn


class JsonlWriter:
  """Appends one JSON object per line to a file, flushing each write."""

  def __init__(self, path: str):
    self._file = open(path, "a", encoding="utf-8")

  def write(self, record: dict[str, Any]) -> None:
    self._file.write(json.dumps(record) + "\n")
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def train_and_evaluate(config: Config, workdir: str) -> dict[str, Any]:
  """Trains a GAN on a 2D mixture; returns the final evaluation (also in summary.json)."""
  config.validate()
  os.makedirs(workdir, exist_ok=True)

  # --- Data, players, optimizers ---------------------------------------------------
  mixture = mixtures.get(config.dataset)
  generator, discriminator, g_tx, d_tx = build(config)
  init_key, data_key, eval_key = jax.random.split(jax.random.key(config.seed), 3)

  # --- State --------------------------------------------------------------------------
  state = create_state(init_key, generator, discriminator, g_tx, d_tx,
                       jnp.zeros((config.batch_size, 2), jnp.float32))

  # --- The update, with the data drawn inside the same compiled program ----------
  train_step = make_train_step(generator, discriminator, g_tx, d_tx, loss=config.loss,
                               d_steps=config.d_steps, reuse_fake=config.reuse_fake,
                               ema_decay=config.ema_decay)

  train_fn = make_mixture_train_fn(train_step, mixture, data_key, config.d_steps,
                                   config.batch_size)

  sample = make_sample_fn(generator)
  logits_fn = jax.jit(lambda d_params, x: discriminator.apply({"params": d_params}, x,
                                                              train=False))

  def evaluate(state: GANState) -> tuple[dict[str, Any], np.ndarray]:
    fake = sample(state, eval_key, config.eval_samples)
    result = mode_coverage(fake, mixture)
    raw = mode_coverage(sample(state, eval_key, config.eval_samples, use_ema=False), mixture)
    result.update({f"raw_{k}": v for k, v in raw.items() if k != "hq_counts"})
    return result, np.asarray(fake)

  def picture(state: GANState, fake: np.ndarray, title: str, name: str) -> None:
    real = np.asarray(mixture.sample(eval_key, (500,)))
    image = viz.plot_2d(real, fake[:1000], lambda p: logits_fn(state.d_params, p),
                        PLOT_EXTENT[config.dataset], title=title)
    image.save(os.path.join(workdir, name))

  # --- Train loop ----------------------------------------------------------------------
  metrics_log = JsonlWriter(os.path.join(workdir, "metrics.jsonl"))
  logging.info("training %s on %s for %d steps (batch %d, d_steps %d) in %s",
               config.loss, config.dataset, config.num_steps, config.batch_size,
               config.d_steps, workdir)
  start = time.perf_counter()
  window_start, window_step = start, 0
  for step in range(1, config.num_steps + 1):
    state, metrics = train_fn(state)
    if step % config.log_every == 0 or step == config.num_steps:
      metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
      now = time.perf_counter()
      rate = (step - window_step) / (now - window_start)
      window_start, window_step = now, step
      metrics_log.write({"step": step, **metrics, "steps_per_sec": rate})
      logging.info("step %d/%d | %.0f steps/s | ETA %s | d/loss %.4f | g/loss %.4f",
                   step, config.num_steps, rate,
                   _format_eta((config.num_steps - step) / rate),
                   metrics["d/loss"], metrics["g/loss"])
      if not all(np.isfinite(v) for v in metrics.values()):
        raise FloatingPointError(f"non-finite metrics at step {step}: {metrics}")
    if step % config.eval_every == 0 and step != config.num_steps:
      result, fake = evaluate(state)
      metrics_log.write({"step": step, **{f"eval/{k}": v for k, v in result.items()}})
      logging.info("eval at step %d: %d/%d modes, HQ %.1f%%, reverse KL %s", step,
                   result["modes"], mixture.num_modes, 100 * result["hq_fraction"],
                   result["reverse_kl"])
      picture(state, fake, f"step {step}  {result['modes']} modes", f"samples_{step:07d}.png")
      window_start = time.perf_counter()

  # --- Final evaluation ------------------------------------------------------------------
  wall = time.perf_counter() - start
  result, fake = evaluate(state)
  metrics_log.write({"step": config.num_steps, **{f"eval/{k}": v for k, v in result.items()}})
  metrics_log.close()
  picture(state, fake, f"{config.dataset} {config.loss} step {config.num_steps}: "
          f"{result['modes']}/{mixture.num_modes} modes, HQ {100 * result['hq_fraction']:.1f}%",
          "samples.png")
  summary = {**result, "num_modes": mixture.num_modes, "steps": config.num_steps,
             "train_seconds": wall, "config": config.to_dict()}
  with open(os.path.join(workdir, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=2)
  logging.info("done in %.0fs: %d/%d modes, HQ %.1f%%, reverse KL %s", wall, result["modes"],
               mixture.num_modes, 100 * result["hq_fraction"], result["reverse_kl"])
  return summary
