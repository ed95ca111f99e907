"""A network trained by its authors' code, written as a jaxgan run directory.

`convert(network, workdir)` is `python -m experiments.convert` (which documents it): it reads
an official StyleGAN2-ADA or R3GAN network pickle as data (`jaxgan.convert.network_pickle`), builds
the jaxgan config and state it describes, and writes `config.json`, `checkpoints/0` and
`converted.flags` into `workdir`, all at once or not at all.
"""

import os
import shutil
import tempfile
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.runner import factories
from jaxgan.runner.checkpoint import Checkpointer
from jaxgan.runner.config import Config
from jaxgan.convert import biggan, network_pickle, r3gan, stylegan2
from jaxgan.convert.state_dict import ConvertError
from jaxgan.state import create_state
from jaxgan.runner.workdir import write_config
from jaxgan.runner.writers import umask, write_text_atomically

CONVERTED_FLAGS = "converted.flags"


def convert(network: str, workdir: str, data_path: str | None = None, batch_size: int = 32,
            without_augment_pipe: bool = False) -> dict:
  """Writes the run directory `workdir` from the pickle `network`; returns its settings.

  `without_augment_pipe` leaves ADA's pipeline out (its p and operations), for a file whose
  pipeline has operations jaxgan's does not implement (R3GAN's CIFAR-10 cutout, …)."""
  workdir = os.path.abspath(workdir)
  if os.path.exists(workdir) and (not os.path.isdir(workdir) or os.listdir(workdir)):
    raise ValueError(f"--workdir={workdir} exists and is not empty; give a new folder")
  if not os.path.exists(network):
    raise ValueError(f"--network={network}: no such file or folder")
  if os.path.isdir(network) or network.endswith(".pth"):
    source = _biggan_source(network)
  else:
    source = _pickle_source(network, without_augment_pipe)
  family, settings, objective, trained_on = (source.family, source.settings, source.objective,
                                             source.trained_on)
  pipe, p = source.pipe, source.p
  image_shape, num_classes = settings.pop("image_shape"), settings.pop("num_classes")
  batch = max(batch_size, settings.get("mbstd_group", 1))
  config = Config(
      dataset="image_folder", data_path=data_path or str(trained_on.get("path", "")),
      image_size=image_shape[0], image_channels=image_shape[2], batch_size=batch,
      ema_debias=False,  # G_ema is the file's trained EMA: keep it, do not restart it
      **objective, **settings).validate()
  generator, discriminator, g_tx, d_tx = factories.players_and_optimizers(
      config, image_shape, num_classes, True)
  state = create_state(config.run.seed, generator, discriminator, g_tx, d_tx,
                       np.zeros((batch, *image_shape), np.float32),
                       factories.objective_of(config.objective, config.horizon))
  g_shapes = {"params": state.g_params, **state.g_state}
  d_shapes = {"params": state.d_params, **state.d_state}
  g = family.generator_variables(source.g, g_shapes)
  g_ema = family.generator_variables(source.g_ema, g_shapes)
  d = family.discriminator_variables(source.d, d_shapes)
  as_jax = lambda tree: jax.tree.map(jnp.asarray, tree)
  g_params, d_params = as_jax(g.pop("params")), as_jax(d.pop("params"))
  parts = dict(state.objective)
  if pipe is not None:
    parts = jax.tree.map(lambda x: x, parts)  # new containers: the state's are not touched
    parts["view"]["ada"]["p"] = jnp.asarray(p, jnp.float32)
  state = state.replace(g_params=g_params, g_ema=as_jax(g_ema.pop("params")),
                        g_state=as_jax(g_ema), d_params=d_params, d_state=as_jax(d),
                        g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
                        objective=parts)
  # Written beside the target and moved into place whole: a failure leaves no run behind.
  parent = os.path.dirname(workdir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".convert-", dir=parent)
  try:
    Checkpointer(os.path.join(staging, "checkpoints")).save(
        state, {"config": config.to_dict(), "converted_from": os.path.abspath(network)})
    write_config(staging, config, {
        "converted_from": {"network": os.path.abspath(network),
                           "training_set_kwargs": trained_on},
        "image_shape": list(image_shape), "num_classes": num_classes, "pixels": True})
    write_text_atomically(os.path.join(staging, CONVERTED_FLAGS), config_flags(config))
    for folder in (staging, os.path.join(staging, "checkpoints")):
      os.chmod(folder, 0o777 & ~umask())  # mkdtemp's 0700 otherwise
    if os.path.isdir(workdir):
      os.rmdir(workdir)  # empty (checked above)
    os.replace(staging, workdir)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return {"image_shape": image_shape, "num_classes": num_classes,
          "ada_p": p if pipe is not None else None, **settings}


class Source(NamedTuple):
  """What a file of official weights gives a run: the family that names its arrays, the
  settings (with `image_shape` and `num_classes`), the objective's defaults, the state dicts,
  ADA's pipeline (or None) and its p, and what it was trained on."""
  family: Any
  settings: dict
  objective: dict
  g: dict
  g_ema: dict
  d: dict
  pipe: Any = None
  p: float | None = None
  trained_on: dict = {}


def _pickle_source(network: str, without_augment_pipe: bool) -> Source:
  """A StyleGAN2-ADA or R3GAN network pickle."""
  data = network_pickle.read(network)
  if "G" not in data or "D" not in data:
    raise ConvertError(f"{network} has {sorted(data)}; a network pickle with G and D is needed")
  family = r3gan if "Model" in (data["G"].state.get("_modules") or {}) else stylegan2
  try:
    settings = family.settings(data["G"], data["D"])
  except (KeyError, TypeError, AttributeError, IndexError) as e:  # records missing a part
    raise ConvertError(f"{network}: its networks lack what their class keeps "
                       f"({type(e).__name__}: {e}); not a network this converter reads") from e
  # Training options are not in the file; the family's own objective stands in for them
  # (give the fine-tuning flags wanted beside converted.flags).
  objective = ({"loss": "rpgan", "penalty": "r1,r2"} if family is r3gan else
               {"loss": "non_saturating", "penalty": "r1"})
  pipe, p = data.get("augment_pipe"), None
  if pipe is not None and not without_augment_pipe:
    ops, p = stylegan2.augment_settings(pipe)
    objective.update(augment="ada", ada_pipeline=ops or "xflip")
  else:
    pipe = None
  return Source(family, settings, objective, network_pickle.state_dict(data["G"]),
                network_pickle.state_dict(data.get("G_ema") or data["G"]),
                network_pickle.state_dict(data["D"]), pipe, p,
                dict(data.get("training_set_kwargs") or {}))


def _biggan_source(network: str) -> Source:
  """BigGAN-PyTorch's weights: a folder of G.pth, D.pth, G_ema.pth (and state_dict.pth)."""
  g, d, g_ema, official = biggan.read(network)
  settings = biggan.settings(g, d, official)
  # The paper's objective; the official options, where the folder has them, override it.
  objective = {"loss": "hinge", "d_steps": 2, "g_beta1": 0.0, "d_beta1": 0.0,
               "ortho_weight": 1e-4}
  for name in list(objective):
    if name in settings:
      objective[name] = settings.pop(name)
  return Source(biggan, settings, objective, g, g_ema, d,
                trained_on={k: official[k] for k in ("dataset", "data_root") if k in official})


def config_flags(config) -> str:
  """The flags that rebuild `config` (those that differ from the defaults), one a line."""
  defaults, now = Config().to_dict(), config.to_dict()
  lines = []
  for name, value in now.items():
    if value != defaults.get(name):
      lines.append(f"--{name}={str(value).lower() if isinstance(value, bool) else value}")
  return "\n".join(lines) + "\n"
