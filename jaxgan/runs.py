"""A run restored from its workdir: the config it saved, its players and a checkpoint.

`restore_run(workdir, step)` is what `experiments.evaluate` and `experiments.sample` start
from; it reads and changes nothing but the checkpoint it restores (read only).
`probe_overfit(workdir, steps, num, augment_p=...)` measures D's memorising at the
checkpoints it keeps (`jaxgan.metrics.overfit`), also through ADA's pipeline at each p.
"""

import json
import os
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxgan import ada, wiring
from jaxgan.checkpoint import Checkpointer
from jaxgan.config import SECTION_OF, Config
from jaxgan.metrics import overfit
from jaxgan.state import create_state
from jaxgan.workdir import CONFIG_FILE, WorkdirError


def saved_config(workdir: str) -> Config:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise WorkdirError(f"{workdir} holds no run: {CONFIG_FILE} is missing")
  with open(path, encoding="utf-8") as f:
    saved = json.load(f)
  return Config(**{k: v for k, v in saved.items() if k in SECTION_OF}).validate()


class Run(NamedTuple):
  """A run's checkpoint restored with the players and data its config names."""
  config: Config
  data: Any              # the opened images (None for a 2D mixture)
  generator: Any
  discriminator: Any
  state: Any
  step: int
  path: str              # the checkpoint's folder


def restore_run(workdir: str, step: int | None = None) -> Run:
  """Restores the latest checkpoint (or `step`) of the run in `workdir`, read only."""
  config = saved_config(workdir)
  if config.data.is_mixture:
    data, data_shape, num_classes, pixels = None, (2,), 0, False
  else:
    data = wiring.load_images(config.data)
    data_shape, num_classes, pixels = data.image_shape, data.num_classes, data.dtype == np.uint8
  generator, discriminator, g_tx, d_tx = wiring.build(config, data_shape, num_classes, pixels)
  target = create_state(0, generator, discriminator, g_tx, d_tx,
                        np.zeros((config.run.batch_size, *data_shape), np.float32),
                        wiring.objective_of(config.objective, config.horizon))
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  restored = checkpoints.restore(target, step, move_corrupt=False)
  return Run(config, data, generator, discriminator, restored.state, restored.step,
             restored.path)


def probe_overfit(workdir: str, steps=None, num: int = 2000, seed: int = 0,
                  augment_p=()) -> list[dict]:
  """Returns D's memorising (`overfit.OverfitEvaluation`, generated images from `seed`) as
  `{"step": s, ...}` at each checkpoint step of the run in `workdir` (default: all it
  keeps), read only. With probabilities in `augment_p`, each record also holds
  `overfit_augmented`: `{"p", "rt", "rv"}` of the training and held-out images put through
  the run's ADA pipeline (`--ada_pipeline`) at each p (`overfit.augmented_signs`)."""
  if bad := [p for p in augment_p if not 0.0 <= p <= 1.0]:
    raise ValueError(f"augmentation probabilities must be in [0, 1], got {bad}")
  run = restore_run(workdir)
  if run.data is None:
    raise ValueError(f"{workdir} is a 2D mixture run: there are no images to hold out")
  probe = overfit.OverfitEvaluation(run.generator, run.discriminator, run.data,
                                    wiring.load_held_out(run.config.data, num), num,
                                    run.config.run.batch_size, jax.random.key(seed))
  checkpoints = Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
  restored = lambda step: (run.state if step == run.step else  # the latest: restored above
                           checkpoints.restore(run.state, step, move_corrupt=False).state)
  ops, batch = ada.parse_ops(run.config.objective.ada_pipeline), run.config.run.batch_size
  key = jax.random.fold_in(jax.random.key(seed), 7)

  def augmented(state):
    signs = lambda images, p: overfit.augmented_signs(
        run.discriminator, state.d_params, state.d_state, *images, p, ops, key, batch)
    return [{"p": float(p), "rt": signs(probe.train, p), "rv": signs(probe.held, p)}
            for p in augment_p]

  def record(step):
    state = restored(step)
    return {"step": int(step), **probe(state),
            **({"overfit_augmented": augmented(state)} if augment_p else {})}
  return [record(step) for step in steps or checkpoints.steps()]
