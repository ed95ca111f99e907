"""Players by name: each model file registers its pair, and this builds the one a run asks for.

A model file (`jaxgan.models.dcgan`, `r3gan`, `stylegan2`, ...) holds its modules, its settings
(a dataclass of `jaxgan.options.option` fields: the runner's config section and flags of that
model), its defaults, and a `register(Model(...))` line. Adding a model is adding its file:
`jaxgan.models` imports every module of its folder, so the registry, the config's vocabulary
and the flags see it. What is common to every model (the name, the data's shape, the
conditioning, PacGAN's packing) is checked here once.
"""

import dataclasses
from typing import Any, Callable, NamedTuple

import flax.linen as nn

from jaxgan.models.layers import is_conditional
from jaxgan.models.pack import Packed

D_NORMS = ("default", "spectral", "batch", "none")


class PairSpec(NamedTuple):
  """What a run asks of a model's pair; `latent_dim` and `d_norm` are resolved."""
  data_shape: tuple[int, ...]  # one sample's shape, (H, W, C) for images
  num_classes: int             # classes of the data (used only by conditional players)
  latent_dim: int              # dimension of z
  g_conditioning: str          # "none" or one of `jaxgan.models.layers.G_CONDITIONING`
  d_conditioning: str          # "none" or one of `jaxgan.models.layers.D_CONDITIONING`
  d_norm: str                  # "spectral", "batch" or "none"
  pixels: bool                 # the data are images in [-1, 1]
  bn_axis: str | None          # a data-parallel axis: batch norm over the global batch
  packing: int                 # PacGAN's pack size (1 = off)
  seed: int                    # initialises flax.nnx players, which hold their arrays

  @property
  def conditional(self) -> bool:
    return self.g_conditioning != "none" or self.d_conditioning != "none"

  @property
  def g_cond(self) -> dict:
    """G's conditioning as module attributes: `num_classes` (0 unless conditioned)."""
    return {"num_classes": self.num_classes if self.g_conditioning != "none" else 0,
            "conditioning": self.g_conditioning}

  @property
  def d_cond(self) -> dict:
    """D's conditioning as module attributes: `num_classes` (0 unless conditioned)."""
    return {"num_classes": self.num_classes if self.d_conditioning != "none" else 0,
            "conditioning": self.d_conditioning}


@dataclasses.dataclass(frozen=True)
class Model:
  """A registered model: how to build its pair, and what it accepts."""
  name: str
  # (PairSpec, settings or None) -> (generator, discriminator); raises ValueError naming
  # what the model does not accept.
  players: Callable[[PairSpec, Any], tuple[Any, Any]]
  latent_dim: int                         # z's dimension when a run gives none
  settings: type | None = None            # its config section: a dataclass of options
  section: str = ""                       # that section's name (its flags' group)
  resolutions: tuple[int, ...] | None = None  # square images of these sizes; None: any
  images: bool = True                     # needs square (H, W, C) images
  d_norm: str = "spectral"                # what d_norm "default" means for it
  d_norms: tuple[str, ...] = ("spectral", "batch", "none")  # the d_norms it accepts


MODELS: dict[str, Model] = {}


def register(model: Model) -> Model:
  """Adds `model` to the registry (a model file's last line) and returns it."""
  if model.name in MODELS and MODELS[model.name] != model:
    raise ValueError(f"model {model.name!r} is registered twice")
  if model.settings is not None and not model.section:
    raise ValueError(f"model {model.name!r} has settings but no section name")
  MODELS[model.name] = model
  return model


def names() -> tuple[str, ...]:
  """Returns the registered models' names (the config's `model` vocabulary)."""
  return tuple(MODELS)


def get(name: str) -> Model:
  """Returns the registered model `name`, or raises ValueError listing the names."""
  if name not in MODELS:
    raise ValueError(f"model={name!r} is not accepted; choose one of: {', '.join(MODELS)}")
  return MODELS[name]


def settings_sections() -> dict[str, type]:
  """Returns `{section name: settings class}` of every registered model that has settings."""
  return {m.section: m.settings for m in MODELS.values() if m.settings is not None}


def resolve_d_norm(d_norm: str, model: str) -> str:
  """Returns the normalisation of D that `d_norm` means for `model` ("default" resolved)."""
  return d_norm if d_norm != "default" else get(model).d_norm


def build_players(model: str, data_shape: tuple[int, ...], *, num_classes: int = 0,
                  latent_dim: int = 0, g_conditioning: str = "none",
                  d_conditioning: str = "none", d_norm: str = "default",
                  pixels: bool = False, bn_axis: str | None = None, packing: int = 1,
                  seed: int = 0, settings: Any = None) -> tuple[nn.Module, nn.Module]:
  """Returns `(generator, discriminator)` of `model` for samples of `data_shape`.

  Args:
    model: a registered name (`names()`).
    data_shape: one sample's shape (without batch axis), (H, W, C) for images.
    num_classes: classes of the data (used only by conditional players).
    latent_dim: dimension of z; 0 takes the model's own.
    g_conditioning, d_conditioning: "none" or a conditioning of `jaxgan.models.layers`.
    d_norm: normalisation of D, for the models that have a choice (`D_NORMS`; "default":
      the model's own).
    pixels: the data are images in [-1, 1] (an MLP generator then ends in tanh).
    bn_axis: a data-parallel axis name: batch norm then uses cross-replica statistics.
    packing: PacGAN: wrap the discriminator so that it judges packs of this many samples.
    seed: initialises the flax.nnx players, which hold their arrays from construction;
      linen players are initialised by `create_state`'s key.
    settings: the model's settings (an instance of its `settings` class, e.g.
      `jaxgan.models.r3gan.R3GANSettings`); None: its defaults.

  Raises:
    ValueError naming the mismatch (a model at the wrong resolution, conditioning
    without labels, ...).
  """
  entry = get(model)
  d_norm = resolve_d_norm(d_norm, model)
  if d_norm not in entry.d_norms:
    raise ValueError(f"d_norm={d_norm!r} is not accepted for model={model!r}; choose "
                     f"{', '.join(('default',) + entry.d_norms)}")
  spec = PairSpec(tuple(data_shape), num_classes, latent_dim or entry.latent_dim,
                  g_conditioning, d_conditioning, d_norm, pixels, bn_axis, packing, seed)
  if spec.conditional and num_classes < 2:
    raise ValueError(f"g_conditioning={g_conditioning!r}, d_conditioning={d_conditioning!r} "
                     f"need labelled data; this dataset has {num_classes} classes")
  if entry.images:
    _check_images(model, spec.data_shape, entry.resolutions)
  if settings is None and entry.settings is not None:
    settings = entry.settings()
  if entry.settings is not None and not isinstance(settings, entry.settings):
    raise ValueError(f"settings={settings!r} is not accepted for model={model!r}; give a "
                     f"{entry.settings.__module__}.{entry.settings.__name__}")
  generator, discriminator = entry.players(spec, settings)
  if packing > 1:
    if is_conditional(discriminator):
      raise ValueError(f"packing={packing} needs an unconditional discriminator")
    discriminator = Packed(discriminator, packing)
  return generator, discriminator


def _check_images(model: str, data_shape: tuple[int, ...], resolutions) -> None:
  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f"model={model!r} needs square images (H, W, C); the data have samples "
                     f"of shape {tuple(data_shape)}")
  if resolutions is not None and data_shape[0] not in resolutions:
    raise ValueError(f"model={model!r} is defined for {resolutions} pixel images; the "
                     f"data are {data_shape[0]}x{data_shape[0]} (set --image_size for "
                     f"image_folder)")
