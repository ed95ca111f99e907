"""A run restored from its workdir: the config it saved, its players and a checkpoint.

`restore_run(workdir, step)` is what `experiments.evaluate` and `experiments.sample` start
from; it reads and changes nothing but the checkpoint it restores (read only).
`probe_overfit(workdir, steps, num, augment_p=...)` measures D's memorising at the
checkpoints it keeps (`jaxgan.metrics.overfit`), also through ADA's pipeline at each p,
and whether G copies its training images.
`score_real_images(config)` scores real images as such a run scores its samples: the
references its FD and KID stand beside.
"""

import json
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxgan.views import ada_pipeline
from jaxgan.runner import factories
from jaxgan.runner.checkpoint import Checkpointer
from jaxgan.runner.config import Config, from_saved
from jaxgan.data import images
from jaxgan.sample import sample_batches
from jaxgan.metrics import overfit
from jaxgan.state import create_state
from jaxgan.runner.workdir import CONFIG_FILE, WorkdirError, check_data_facts


def saved_config(workdir: str) -> Config:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise WorkdirError(f"{workdir} holds no run: {CONFIG_FILE} is missing")
  with open(path, encoding="utf-8") as f:
    saved = json.load(f)
  return Config(**from_saved(saved)).validate()


class Run(NamedTuple):
  """A run's checkpoint restored with the players and data its config names."""
  config: Config
  data: Any              # the opened images (None for a 2D mixture)
  generator: Any
  discriminator: Any
  state: Any
  step: int
  path: str              # the checkpoint's folder


def restore_run(workdir: str, step: int | None = None, with_data: bool = True) -> Run:
  """Restores the latest checkpoint (or `step`) of the run in `workdir`, read only.

  `with_data=False` (sampling) does not open the training images where the run's record
  gives their shape and classes (image runs' and converted networks' records do); `data` is
  then None."""
  config = saved_config(workdir)
  with open(os.path.join(workdir, CONFIG_FILE), encoding="utf-8") as f:
    record = json.load(f)
  if config.data.is_mixture:
    data, data_shape, num_classes, pixels = None, (2,), 0, False
  elif not with_data and "image_shape" in record:
    data, data_shape, num_classes, pixels = (None, tuple(record["image_shape"]),
                                             int(record["num_classes"]),
                                             bool(record.get("pixels", True)))
  else:
    data = factories.load_images(config.data)
    data_shape, num_classes, pixels = data.image_shape, data.num_classes, data.dtype == np.uint8
    check_data_facts(workdir, {"image_shape": list(data_shape), "num_classes": num_classes},
                     config.data.dataset)
  generator, discriminator, g_tx, d_tx = factories.players_and_optimizers(
      config, data_shape, num_classes, pixels)
  target = create_state(0, generator, discriminator, g_tx, d_tx,
                        np.zeros((config.run.batch_size, *data_shape), np.float32),
                        factories.objective_of(config.objective, config.horizon))
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  restored = checkpoints.restore(target, step, move_corrupt=False)
  return Run(config, data, generator, discriminator, restored.state, restored.step,
             restored.path)


def probe_overfit(workdir: str, steps=None, num: int = 2000, seed: int = 0,
                  augment_p=(), copying: bool = False) -> list[dict]:
  """Returns D's memorising (`overfit.OverfitEvaluation`, generated images from `seed`) as
  `{"step": s, ...}` at each checkpoint step of the run in `workdir` (default: all it
  keeps), read only. With probabilities in `augment_p`, each record also holds
  `overfit_augmented`: `{"p", "rt", "rv"}` of the training and held-out images put through
  the run's ADA pipeline (`--ada_pipeline`) at each p (`overfit.augmented_signs`). With
  `copying`, it also holds whether G copies (`overfit.copying`: as many EMA samples from
  `seed` against as many training and held-out images, `num` or fewer, not rounded to a
  batch)."""
  if bad := [p for p in augment_p if not 0.0 <= p <= 1.0]:
    raise ValueError(f"augmentation probabilities must be in [0, 1], got {bad}")
  run = restore_run(workdir)
  if run.data is None:
    raise ValueError(f"{workdir} is a 2D mixture run: there are no images to hold out")
  held = factories.load_held_out(run.config.data, num)
  probe = overfit.OverfitEvaluation(run.generator, run.discriminator, run.data, held, num,
                                    run.config.run.batch_size, jax.random.key(seed))
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  restored = lambda step: (run.state if step == run.step else  # the latest: restored above
                           checkpoints.restore(run.state, step, move_corrupt=False).state)
  ops, batch = ada_pipeline.parse_ops(run.config.objective.ada_pipeline), run.config.run.batch_size
  key = jax.random.fold_in(jax.random.key(seed), 7)

  def augmented(state):
    signs = lambda images, p: overfit.augmented_signs(
        run.discriminator, state.d_params, state.d_state, *images, p, ops, key, batch)
    return [{"p": float(p), "rt": signs(probe.train, p), "rv": signs(probe.held, p)}
            for p in augment_p]

  if copying:  # images not rounded to a batch, unlike the probe's
    n = min(num, run.data.num_examples, held.num_examples)
    real = run.data.read(range(n))[0], held.read(range(n))[0]

  def copies(state):
    fake = [np.asarray(x) for x, _ in sample_batches(
        probe.sample, state, jax.random.fold_in(jax.random.key(seed), 8), n, batch,
        probe.num_classes)]
    return overfit.copying(np.concatenate(fake), *real)

  def record(step):
    state = restored(step)
    return {"step": int(step), **probe(state),
            **({"overfit_augmented": augmented(state)} if augment_p else {}),
            **(copies(state) if copying else {})}
  return [record(step) for step in steps or checkpoints.steps()]


def score_real_images(config: Config) -> dict[str, dict]:
  """Returns the domain metrics of real images scored as the run of `config` scores its
  samples (its `domain_samples` of them, against its reference, `factories.domain_scorer`):

  - "training": the run's training images as it sees them, repeated in order up to that
    number: what a generator that reproduced exactly the images it trains on would score;
  - "held_out" (runs on a `train_subset` only): as many real images the run never trains
    on, the score a generator of the data's own distribution would reach.
  """
  if config.data.is_mixture:
    raise ValueError(f"{config.data.dataset} is a 2D mixture: there are no images to score")
  data = factories.load_images(config.data)
  scorer = factories.domain_scorer(config.evaluation, config.data, None, data,
                                   factories.run_keys(config.run.seed)[2])
  if scorer is None:
    raise ValueError(f"{config.data.dataset} has no domain classifier (Fashion-MNIST and "
                     "MNIST, plain or stacked, have)")
  num = config.evaluation.domain_samples

  def pixels(images_data):  # its first `num` images, repeated in order up to `num`
    x = np.asarray(images_data.read(range(min(num, images_data.num_examples)))[0])
    return np.asarray(images.scale_pixels(x[np.arange(num) % len(x)]))

  scores = {"training": scorer.score(pixels(data))}
  if config.data.train_subset:
    scores["held_out"] = scorer.score(pixels(factories.load_held_out(config.data, num)))
  return scores
