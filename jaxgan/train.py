"""The training loop: config in; metrics, pictures and a summary out.

`train_and_evaluate` reads top to bottom: data -> players and optimizers -> state -> the
compiled update (with its data feed) -> train loop -> final evaluation.
"""

import json
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from jaxgan import objective as objective_lib
from jaxgan import optim, parallel, viz
from jaxgan import workdir as workdir_lib
from jaxgan.checkpoint import state_digest
from jaxgan.config import Config, ConfigError
from jaxgan.data import images, mixtures, stacked
from jaxgan.evaluate import (DomainEvaluation, InceptionEvaluation, MixtureEvaluator,
                             SampleEvaluator)
from jaxgan.metrics.classifier import WEIGHTS_DIR
from jaxgan.metrics.inception_eval import InceptionMetrics
from jaxgan.models.registry import build_players
from jaxgan.objective import Objective
from jaxgan.preemption import Preempted, StopSignals
from jaxgan.state import GANState, create_state
from jaxgan.step import make_train_step, nonfinite_names
from jaxgan.writers import JsonlWriter, TensorBoardWriter, write_json_atomically

CURVE_PANELS = {"losses": ["d/loss", "g/loss", "d/penalty"],
                "mean D logit": ["d/real_logit", "d/fake_logit", "g/fake_logit"],
                "gradient norms": ["d/grad_norm", "g/grad_norm"]}


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


def make_mixture_train_fn(train_step, mixture: mixtures.Mixture, data_key: jax.Array,
                          d_steps: int, batch_size: int, steps_per_call: int = 1,
                          donate: bool = False):
  """Returns a jitted `train_fn(state) -> (state, metrics)` that draws its batch on the device.

  The batch is sampled inside the same compiled program as the step, and depends only on
  (data_key, state.step): a resumed run sees the same minibatches. With `steps_per_call`
  n > 1 one call takes n steps, written out one after another in the program (a `lax.scan`
  is slower on CPU; BUILD_NOTES.md), and each metric gains a leading axis of n, one value
  per step. XLA then fuses across steps, so the numbers match n calls of one step to
  rounding (~1e-8), not bit for bit. With `donate` the state passed in is donated (see
  `_jit`).
  """

  def one_step(state: GANState):
    x = mixture.sample(jax.random.fold_in(data_key, state.step), (d_steps, batch_size))
    return train_step(state, {"x": x})

  return _jit(donate)(_unrolled(one_step, steps_per_call))


def _unrolled(one_step, steps_per_call: int):
  """Returns `fn(state, *args)`: `steps_per_call` calls of `one_step(state, *args)` written
  out one after another, each metric stacked over them (as is, for one step)."""
  if steps_per_call == 1:
    return one_step

  def fn(state: GANState, *args):
    per_step = []
    for _ in range(steps_per_call):
      state, metrics = one_step(state, *args)
      per_step.append(metrics)
    return state, jax.tree.map(lambda *m: jnp.stack(m), *per_step)

  return fn


def _jit(donate: bool):
  """`jax.jit`, donating the state (argument 0) when `donate`: XLA then writes the new
  state into the old one's buffers instead of allocating a second copy, and the caller's
  old state is deleted (reading it raises). The runner donates; 1.24x (DCGAN-28) and
  1.79x (MLP) on an H100, inside the noise on CPU (BUILD_NOTES.md, speed)."""
  return lambda fn: jax.jit(fn, donate_argnums=(0,) if donate else ())


def _prepare(batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
  return {**batch, "x": images.scale_pixels(batch["x"])}


def make_device_train_fn(train_step, data: images.DeviceData, donate: bool = False,
                         steps_per_call: int = 1):
  """Returns a jitted `train_fn(state, perm)` gathering its batch from device-resident data
  (`donate`: see `_jit`).

  `perm` is `data.permutation(step)`, the order of the epoch of the step. With
  `steps_per_call` n > 1 one call takes n steps (as `make_mixture_train_fn` does, metrics
  stacked), and `perm` is `data.permutations(step, n)`: the orders of the epochs of the
  call's first and last steps, so a call may cross one epoch's end. An n over the steps of
  one epoch raises `ConfigError` (a `ValueError`).
  """
  if not 1 <= steps_per_call <= data.per_epoch:
    raise ConfigError(f"steps_per_call={steps_per_call} is not accepted: one epoch of this "
                      f"dataset holds {data.per_epoch} steps, and a call may span two epochs "
                      f"at most; give at most {data.per_epoch}")

  def one_step(state: GANState, perm: jax.Array):
    return train_step(state, _prepare(data.batch(state.step, perm)))

  if steps_per_call == 1:
    return _jit(donate)(one_step)

  @_jit(donate)
  def train_fn(state: GANState, perms: jax.Array):
    first_epoch = state.step // data.per_epoch
    in_call = lambda state, perms: one_step(
        state, perms[state.step // data.per_epoch - first_epoch])
    return _unrolled(in_call, steps_per_call)(state, perms)

  return train_fn


def device_advance(train_fn, data: images.DeviceData, steps_per_call: int = 1):
  """Returns `advance(state, step)`: the call of `train_fn` (`make_device_train_fn`'s, with
  the same `steps_per_call`) that takes the steps from `step` (counted from 0) on."""
  if steps_per_call == 1:
    return lambda state, step: train_fn(state, data.permutation(step))
  return lambda state, step: train_fn(state, data.permutations(step, steps_per_call))


def make_host_train_fn(train_step, donate: bool = False):
  """Returns a jitted `train_fn(state, batch)` for batches fed from the host (uint8 pixels;
  `donate`: see `_jit`)."""
  return _jit(donate)(lambda state, batch: train_step(state, _prepare(batch)))


class NonFiniteError(FloatingPointError):
  """A step produced a NaN or Inf and the config says to stop (`on_nonfinite="stop"`)."""


class RecordWriteError(RuntimeError):
  """A record, picture or evaluation of the run could not be written (a full disk, say)."""


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _load_images(config: Config) -> images.ImageData:
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


def train_and_evaluate(config: Config, workdir: str, *, resume_from: str | None = None,
                       start_over: bool = False) -> dict[str, Any]:
  """Trains a GAN as the config says; returns the final evaluation (also in summary.json).

  A workdir holding checkpoints of the same configuration is continued from its latest
  (`resume_from`: from that checkpoint instead); `start_over` moves a previous run aside.
  Raises `Preempted` after saving a checkpoint when SIGTERM or SIGINT arrives,
  `NonFiniteError` on a NaN/Inf (with `on_nonfinite="stop"`), `ConfigError` (and its
  `WorkdirError`) and `DataError` on bad input before anything is written.
  """
  config.validate()
  init_key, data_key, eval_key = jax.random.split(jax.random.key(config.seed), 3)
  k, batch_size = config.d_steps, config.batch_size

  # --- Devices: one, or a data-parallel mesh over every device of every process --------
  mesh = parallel.data_mesh() if jax.device_count() > 1 else None
  axis = parallel.DATA_AXIS if mesh is not None else None
  multi_process, is_writer = jax.process_count() > 1, jax.process_index() == 0
  if mesh is not None:
    try:
      parallel.check_batch(batch_size, jax.device_count())
    except ValueError as e:
      raise ConfigError(str(e)) from e
    per_device = batch_size // jax.device_count()
    if per_device % config.packing:
      raise ConfigError(f"packing={config.packing} does not divide the {per_device} samples "
                        f"per device (batch_size={batch_size} on {jax.device_count()} devices)")
    logging.info("data parallel over %d devices (%d processes), %d samples per device",
                 jax.device_count(), jax.process_count(), batch_size // jax.device_count())

  # --- The workdir: a fresh start, or the run to continue (this only reads) ------------
  plan = workdir_lib.plan(workdir, config, resume_from, start_over)

  # --- Data --------------------------------------------------------------------------
  if config.is_mixture:
    mixture = mixtures.get(config.dataset)
    data_shape, num_classes, pixels = (2,), 0, False
    dataset_info = {"name": config.dataset, "modes": mixture.num_modes}
  else:
    data = _load_images(config)
    data_shape, num_classes = data.image_shape, data.num_classes
    pixels = data.dtype == np.uint8
    images.steps_per_epoch(data.num_examples, k * batch_size)
    dataset_info = {"name": config.dataset, "examples": data.num_examples,
                    "shape": list(data_shape), "classes": list(data.class_names)}
    logging.info("data: %s, %d examples of shape %s, %d classes", config.dataset,
                 data.num_examples, data_shape, num_classes)

  # --- Players, optimizers, state: fresh, or restored from a checkpoint --------------
  try:
    generator, discriminator, g_tx, d_tx = build(
        config, data_shape, num_classes, pixels,
        bn_axis=axis if config.sync_batch_norm else None)
  except ValueError as e:
    raise ConfigError(f"{e} (dataset {config.dataset})") from e
  sample_batch = {"x": np.zeros((batch_size, *data_shape), np.float32)}
  objective = objective_of(config)
  state = create_state(init_key, generator, discriminator, g_tx, d_tx, sample_batch, objective)
  train_step = make_train_step(generator, discriminator, g_tx, d_tx, objective, axis_name=axis,
                               **step_settings(config))
  if mesh is not None:
    train_step = parallel.shard_step(train_step, mesh)
    state = parallel.replicate_on_mesh(state, mesh)
  checkpoints = plan.checkpoints
  if plan.archive_all and (moved := plan.start_over()):
    logging.info("--start_over: the previous run in %s was moved to %s", workdir, moved)
  if plan.source is not None:
    restored = plan.source.restore(state, plan.source_step, move_corrupt=plan.own_source)
    state = restored.state
    logging.info("resuming from step %d (%s)", restored.step, restored.path)
    if plan.own_source and (moved := plan.after_restore(restored.step)):
      logging.info("the checkpoints and grids after step %d were moved to %s", restored.step,
                   moved)
  start_step = int(parallel.to_host(state.step))
  # Steps per call of the compiled update; the loop moves by n. Every checkpoint of a run
  # lies on a multiple of n (Config checks it), and n may not change on resume (workdir).
  n = config.steps_per_call
  summary_path = os.path.join(workdir, workdir_lib.SUMMARY_FILE)
  if start_step > config.num_steps:
    raise ConfigError(f"num_steps={config.num_steps} is below the step of the checkpoint to "
                      f"continue, {start_step}; give num_steps >= {start_step}")
  if removed := checkpoints.remove_partial_writes():
    logging.info("removed what killed checkpoint writes left in %s: %s", checkpoints.directory,
                 ", ".join(removed))
  if start_step == config.num_steps and os.path.exists(summary_path):
    logging.info("the run in %s is complete at step %d; nothing to do", workdir, start_step)
    with open(summary_path, encoding="utf-8") as f:
      return json.load(f)
  # Only process 0 writes; every process computes the same evaluations.
  out_dir = workdir if is_writer else None
  if is_writer:
    os.makedirs(workdir, exist_ok=True)
    workdir_lib.write_config(workdir, config)
  history = [r for r in workdir_lib.truncate_metrics(
      workdir, start_step, redo_final_eval=start_step == config.num_steps) if "d/loss" in r]
  tensorboard = TensorBoardWriter(workdir) if config.tensorboard and is_writer else None
  if tensorboard and start_step:
    tensorboard.restart(start_step + 1)

  # --- The compiled update with its data feed, and the evaluator ---------------------
  feed = None
  if config.is_mixture:
    train_fn = make_mixture_train_fn(train_step, mixture, data_key, k, batch_size,
                                     config.steps_per_call, donate=True)
    advance: Callable = lambda state, step: train_fn(state)
    evaluator = MixtureEvaluator(generator, discriminator, mixture, config.dataset, eval_key,
                                 config.eval_samples, out_dir, tensorboard)
  elif config.data_placement == "device" and not multi_process:
    device_data = images.DeviceData(
        data, data_key, k, batch_size,
        sharding=parallel.replicated(mesh) if mesh is not None else None)
    advance = device_advance(
        make_device_train_fn(train_step, device_data, donate=True, steps_per_call=n),
        device_data, n)
    stats = images.scale_pixels(device_data.images[:10_000])
  else:
    if multi_process and config.data_placement == "device":
      logging.info("several processes: each reads its own rows of every batch from the host")
    if n > 1:
      raise ConfigError(f"steps_per_call={n} needs the batches on the device: one process "
                        f"with --data_placement=device (the host feed gives one batch per "
                        f"call); give steps_per_call=1")
    place = jax.device_put
    if mesh is not None:
      place = lambda batch: parallel.global_batch(batch, mesh, batch_size)
    feed = images.HostBatches(data, data_key, k, batch_size, start_step=start_step,
                              rows=parallel.process_rows(batch_size), place=place)
    train_fn = make_host_train_fn(train_step, donate=True)

    def advance(state, step):
      feed_step, batch = next(feed)
      if feed_step != step:  # the feed and the loop must agree on the batch order
        raise RuntimeError(f"the host feed gave the batch of step {feed_step} at step {step}")
      return train_fn(state, batch)

    stats = images.scale_pixels(data.read(range(min(10_000, data.num_examples)))[0])
  if not config.is_mixture:
    evaluator = SampleEvaluator(generator, data_shape, (float(stats.mean()), float(stats.std())),
                                eval_key, config.grid_size, out_dir, tensorboard,
                                scorers(config, generator, data, eval_key))
    evaluator.load_frames(start_step)

  # --- Train loop ----------------------------------------------------------------------
  metrics_log = JsonlWriter(os.path.join(workdir, "metrics.jsonl") if is_writer else None)
  logging.info("training %s (%s) on %s for %d steps (batch %d, d_steps %d) in %s",
               config.loss, config.model, config.dataset, config.num_steps, batch_size, k,
               workdir)
  meta = {"config": config.to_dict(), "dataset": dataset_info}
  last_saved = start_step if plan.source is not None else None
  stop_on_nonfinite = config.on_nonfinite == "stop"

  def log_eval(state, step, final):
    result, message = evaluator(parallel.to_host(state) if mesh is not None else state, step,
                                final)
    record = {"step": step, **{f"eval/{key}": v for key, v in result.items()}}
    metrics_log.write(record)
    if tensorboard:
      tensorboard.scalars(step, {key: v for key, v in record.items() if key != "step"})
    if is_writer:
      viz.plot_curves(history, CURVE_PANELS).save(os.path.join(workdir, "losses.png"))
    logging.info("eval at step %d: %s", step, message)
    return result

  def check_finite(step, metrics):
    """Raises NonFiniteError if a `nonfinite` metric of the call ending at `step` names a
    failed check (the message names the first such step of the call)."""
    codes = np.atleast_1d(parallel.to_host(metrics["nonfinite"]))
    if bad := np.flatnonzero(codes).tolist():
      code, step = int(codes[bad[0]]), step - len(codes) + 1 + bad[0]
      raise NonFiniteError(
          f"non-finite {', '.join(nonfinite_names(code))} at step {step}; {last_good()}. "
          f"Lower the learning rates, or run with --on_nonfinite=skip to drop such updates")

  def last_good() -> str:
    return (f"the checkpoint of step {last_saved} in {checkpoints.directory} is the last good "
            f"one" if last_saved is not None else "no checkpoint was written yet")

  def write_failed(what: str, e: OSError) -> RecordWriteError:
    # A rerun resumes from the last checkpoint; after the final one it only evaluates again.
    return RecordWriteError(f"could not write {what} in {workdir}: {e.strerror or e}; "
                            f"{last_good()}. Free space and run the same command to resume")

  start = time.perf_counter()
  window_start, window_step = start, start_step
  pending = None  # (step, metrics) not yet checked for NaN/Inf: checked one step late
  try:
    with StopSignals() as stop:
      for step in range(start_step + n, config.num_steps + 1, n):
        state, metrics = advance(state, step - n)
        if stop_on_nonfinite and pending is not None:
          check_finite(*pending)  # the previous step's; this one runs meanwhile
        pending = (step, metrics)
        stopping = stop.should_stop(step)
        save = step % config.checkpoint_every == 0 or step == config.num_steps or stopping
        log = step % config.log_every == 0 or step == config.num_steps
        evaluate = step % config.eval_every == 0 and step != config.num_steps
        if stop_on_nonfinite and (save or log or evaluate):
          check_finite(*pending)  # at once: nothing non-finite is saved, logged or drawn
          pending = None
        try:
          if log:
            metrics = {key: float(np.asarray(v).reshape(-1)[-1])  # the call's last step
                       for key, v in parallel.to_host(metrics).items()}
            now = time.perf_counter()
            rate = (step - window_step) / (now - window_start)
            window_start, window_step = now, step
            record = {"step": step, **metrics, "steps_per_sec": rate}
            metrics_log.write(record)
            history.append(record)
            if tensorboard:
              tensorboard.scalars(step, {key: v for key, v in record.items() if key != "step"})
            logging.info("step %d/%d | %.2f steps/s | ETA %s | d/loss %.4f | g/loss %.4f%s",
                         step, config.num_steps, rate,
                         _format_eta((config.num_steps - step) / rate),
                         metrics["d/loss"], metrics["g/loss"],
                         f" | {int(metrics['skipped'])} updates skipped (non-finite)"
                         if metrics["skipped"] else "")
          if evaluate and not stopping:
            log_eval(state, step, final=False)
            window_start = time.perf_counter()
        except OSError as e:  # the records of this step, before its checkpoint
          raise write_failed(f"the records of step {step}", e) from e
        # The checkpoint last: it is the commit point of the steps up to it. A process
        # killed after it has written every record up to its step; one killed before it
        # resumes from the previous checkpoint and writes those records again.
        if save:
          checkpoint_path = checkpoints.save(state, meta)
          last_saved = step
        if stopping:
          raise Preempted(stop.signum, step, checkpoint_path)

    # --- Final evaluation ----------------------------------------------------------------
    wall = time.perf_counter() - start
    try:
      result = log_eval(state, config.num_steps, final=True)
      evaluator.finish()
    except OSError as e:
      raise write_failed(f"the final evaluation of step {config.num_steps}", e) from e
  finally:
    metrics_log.close()
    if feed is not None:
      feed.close()
    if tensorboard:
      tensorboard.close()
  summary = {**result, "steps": config.num_steps, "train_seconds": wall,
             "resumed_from_step": start_step, "state_sha256": state_digest(state),
             "final_metrics": history[-1] if history else {}, "dataset": dataset_info,
             "config": config.to_dict()}
  if config.is_mixture:
    summary["num_modes"] = mixture.num_modes
  if is_writer:
    try:  # atomically: a rerun takes a summary.json as the mark of a complete run
      write_json_atomically(summary_path, summary)
    except OSError as e:
      raise write_failed("summary.json", e) from e
  logging.info("done in %.0fs: %s", wall, {key: v for key, v in result.items()
                                           if not isinstance(v, (list, dict))})
  return summary
