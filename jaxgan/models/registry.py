"""Players by name: the generator and discriminator a config asks for, checked against the data."""

import math

import flax.linen as nn
from flax import nnx

from jaxgan.models import dcgan, r3gan, resnet, stylegan2
from jaxgan.models.layers import is_conditional
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.models.nnx_mlp import NNXMLPDiscriminator, NNXMLPGenerator
from jaxgan.models.pack import Packed

# The resolutions each image model is defined for, and its own latent dimension.
RESOLUTIONS = {"dcgan28": (28,), "dcgan64": (64,), "dcgan": (32, 64), "resnet_sn": (32,),
               "r3gan": None,  # any resolution its stages fit (`r3gan`)
               "stylegan2": None}  # powers of two from 8 px (`stylegan2`)
LATENT_DIMS = {"mlp": 2, "mlp_nnx": 2, "dcgan28": 64, "dcgan64": 100, "dcgan": 128,
               "resnet_sn": 128, "r3gan": 64, "stylegan2": 512}
# R3GAN's stage widths (G's, from the basis up) when none are given: the paper's CIFAR-10
# (32 px) and FFHQ-64 configurations; 28 px is ours, sized for a CPU (BUILD_NOTES).
R3GAN_WIDTHS = {28: (256, 256, 256), 32: (768, 768, 768, 768),
                64: (768, 768, 768, 768, 384), 128: (768, 768, 768, 768, 384, 192),
                256: (768, 768, 768, 768, 384, 192, 96)}
MODELS = tuple(LATENT_DIMS)
D_NORMS = ("default", "spectral", "batch", "none")  # default: dcgan spectral, mlp none


def resolve_d_norm(d_norm: str, model: str) -> str:
  """Returns the normalisation of D that `d_norm` means for `model` ("default" resolved)."""
  return d_norm if d_norm != "default" else ("none" if model == "mlp" else "spectral")


def build_players(model: str, data_shape: tuple[int, ...], *, num_classes: int = 0,
                  latent_dim: int = 0, g_conditioning: str = "none",
                  d_conditioning: str = "none", d_norm: str = "spectral",
                  mlp_width: tuple[int, int] = (128, 128), mlp_depth: tuple[int, int] = (2, 2),
                  activation: str = "relu", pixels: bool = False,
                  bn_axis: str | None = None, d_features: int = 1,
                  packing: int = 1, seed: int = 0,
                  stages: dict | None = None,
                  style: dict | None = None) -> tuple[nn.Module, nn.Module]:
  """Returns `(generator, discriminator)` for samples of `data_shape` (without batch axis).

  Args:
    model: "mlp", "mlp_nnx" (the MLP in flax.nnx), "dcgan28", "dcgan64", "dcgan" or
      "resnet_sn".
    data_shape: one sample's shape, (H, W, C) for images.
    num_classes: classes of the data (used only by conditional players).
    latent_dim: dimension of z; 0 takes the model's own (`LATENT_DIMS`).
    g_conditioning, d_conditioning: "none" or a conditioning of `jaxgan.models.layers`.
    d_norm: normalisation of the generic dcgan and of the mlp discriminator ("spectral",
      "batch" (dcgan only), "none"; "default": spectral for dcgan, none for mlp).
    mlp_width, mlp_depth, activation: (G, D) widths and depths of the MLP players.
    pixels: the data are images in [-1, 1] (an MLP generator then ends in tanh).
    bn_axis: a data-parallel axis name: batch norm then uses cross-replica statistics.
    d_features: outputs per sample of the mlp discriminator (1: a logit).
    packing: PacGAN: wrap the discriminator so that it judges packs of this many samples.
    seed: initialises the flax.nnx players, which hold their arrays from construction (G
      from `nnx.Rngs(2 * seed)`, D from `nnx.Rngs(2 * seed + 1)`); linen players are
      initialised by `create_state`'s key.
    stages: r3gan's `widths` (G's, from the basis up; D takes them reversed; empty: the
      resolution's `R3GAN_WIDTHS`), `blocks` per stage, `expansion` and `group_size`.
    style: stylegan2's `channel_base`, `channel_max`, `mapping_layers`, `mixing_prob`,
      `w_dim`, `mbstd_group`, `mbstd_channels`, D's `architecture` and `d_mapping_layers`
      (empty: the official defaults, `jaxgan.models.stylegan2`).

  Raises:
    ValueError naming the mismatch (a model at the wrong resolution, conditioning
    without labels, ...).
  """
  if model not in LATENT_DIMS:
    raise ValueError(f"model={model!r} is not accepted; choose one of: {', '.join(MODELS)}")
  if model == "mlp_nnx":
    return _nnx_players(data_shape, num_classes, latent_dim, g_conditioning, d_conditioning,
                        resolve_d_norm(d_norm, "mlp"), mlp_width, mlp_depth, activation, pixels,
                        d_features, packing, seed)
  generator, discriminator = _players(model, data_shape, num_classes, latent_dim,
                                      g_conditioning, d_conditioning,
                                      resolve_d_norm(d_norm, model), mlp_width, mlp_depth,
                                      activation, pixels, bn_axis, d_features, stages or {},
                                      style or {})
  if packing > 1:
    if is_conditional(discriminator):
      raise ValueError(f"packing={packing} needs an unconditional discriminator")
    discriminator = Packed(discriminator, packing)
  return generator, discriminator


def _nnx_players(data_shape, num_classes, latent_dim, g_conditioning, d_conditioning, d_norm,
                 mlp_width, mlp_depth, activation, pixels, d_features, packing, seed):
  """The flax.nnx MLP pair; what it does not have is refused by name."""
  del num_classes
  unsupported = {"g_conditioning": g_conditioning != "none",
                 "d_conditioning": d_conditioning != "none", "d_norm": d_norm != "none",
                 "d_features": d_features != 1, "packing": packing != 1,
                 "pixels": pixels or len(data_shape) != 1}
  if bad := [name for name, is_set in unsupported.items() if is_set]:
    raise ValueError(f"model='mlp_nnx' is the plain MLP pair for 2D data: it has no "
                     f"{', '.join(bad)}; use model='mlp' for those")
  data_dim = math.prod(data_shape)
  generator = NNXMLPGenerator(latent_dim or LATENT_DIMS["mlp_nnx"], data_dim, mlp_width[0],
                              mlp_depth[0], activation, rngs=nnx.Rngs(2 * seed))
  discriminator = NNXMLPDiscriminator(data_dim, mlp_width[1], mlp_depth[1], activation,
                                      rngs=nnx.Rngs(2 * seed + 1))
  return generator, discriminator


def _players(model, data_shape, num_classes, latent_dim, g_conditioning, d_conditioning,
             d_norm, mlp_width, mlp_depth, activation, pixels, bn_axis, d_features, stages,
             style):
  latent_dim = latent_dim or LATENT_DIMS[model]
  conditional = g_conditioning != "none" or d_conditioning != "none"
  if conditional and num_classes < 2:
    raise ValueError(f"g_conditioning={g_conditioning!r}, d_conditioning={d_conditioning!r} "
                     f"need labelled data; this dataset has {num_classes} classes")
  g_classes = num_classes if g_conditioning != "none" else 0
  d_classes = num_classes if d_conditioning != "none" else 0
  g_cond = {"num_classes": g_classes, "conditioning": g_conditioning}
  d_cond = {"num_classes": d_classes, "conditioning": d_conditioning}

  if model == "mlp":
    if conditional:
      raise ValueError("model='mlp' is not conditional; use an image model or no conditioning")
    generator = MLPGenerator(latent_dim=latent_dim, data_dim=math.prod(data_shape),
                             width=mlp_width[0], depth=mlp_depth[0], act=activation,
                             data_shape=tuple(data_shape) if len(data_shape) > 1 else (),
                             tanh_output=pixels)
    if d_norm not in ("spectral", "none"):
      raise ValueError(f"d_norm={d_norm!r} is not accepted for the mlp discriminator; choose "
                       f"spectral or none")
    return generator, MLPDiscriminator(width=mlp_width[1], depth=mlp_depth[1], act=activation,
                                       features=d_features,
                                       spectral_norm=d_norm == "spectral")

  if len(data_shape) != 3 or data_shape[0] != data_shape[1]:
    raise ValueError(f"model={model!r} needs square images (H, W, C); the data have samples "
                     f"of shape {tuple(data_shape)}")
  resolution, channels = data_shape[0], data_shape[2]
  if RESOLUTIONS[model] is not None and resolution not in RESOLUTIONS[model]:
    raise ValueError(f"model={model!r} is defined for {RESOLUTIONS[model]} pixel images; the "
                     f"data are {resolution}x{resolution} (set --image_size for image_folder)")
  if model == "r3gan":
    return _r3gan(resolution, channels, latent_dim, g_cond, d_cond, stages)
  if model == "stylegan2":
    return _stylegan2(resolution, channels, latent_dim, g_cond, d_cond, style)
  if model == "dcgan28":
    return (dcgan.DCGAN28Generator(latent_dim, channels, **g_cond, bn_axis=bn_axis),
            dcgan.DCGAN28Discriminator(**d_cond))
  if model == "dcgan64":
    return (dcgan.DCGAN64Generator(latent_dim, channels, **g_cond, bn_axis=bn_axis),
            dcgan.DCGAN64Discriminator(**d_cond, bn_axis=bn_axis))
  if model == "dcgan":
    return (dcgan.DCGANGenerator(resolution, latent_dim, channels, **g_cond, bn_axis=bn_axis),
            dcgan.DCGANDiscriminator(resolution, norm=d_norm, **d_cond, bn_axis=bn_axis))
  return (resnet.ResNetGenerator(latent_dim, channels, **g_cond, bn_axis=bn_axis),
          resnet.ResNetDiscriminator(**d_cond))


def _r3gan(resolution, channels, latent_dim, g_cond, d_cond, stages):
  arch = dict(stages)
  widths = tuple(arch.pop("widths", ()))
  if not widths and resolution not in R3GAN_WIDTHS:
    raise ValueError(f"model='r3gan' has default stage widths for {tuple(R3GAN_WIDTHS)} px; "
                     f"the data are {resolution} px: give --stage_widths")
  widths = widths or R3GAN_WIDTHS[resolution]
  return (r3gan.R3GANGenerator(resolution, channels, latent_dim, widths, **arch, **g_cond),
          r3gan.R3GANDiscriminator(resolution, widths[::-1], **arch, **d_cond))


def _stylegan2(resolution, channels, latent_dim, g_cond, d_cond, style):
  """The pair with the sizes `style` gives (the modules' own defaults for the others); D's
  label mapping has its own depth (`d_mapping_layers`, officially 8 whatever G's is)."""
  pick = lambda names: {k: style[k] for k in names if k in style}
  sizes = ("channel_base", "channel_max", "bf16_resolutions", "conv_clamp")
  d_sizes = pick((*sizes, "mbstd_group", "mbstd_channels", "architecture"))
  if "d_mapping_layers" in style:
    d_sizes["mapping_layers"] = style["d_mapping_layers"]
  return (stylegan2.StyleGAN2Generator(resolution, channels, latent_dim,
                                       **pick((*sizes, "mapping_layers", "mixing_prob",
                                               "w_dim")),
                                       **g_cond),
          stylegan2.StyleGAN2Discriminator(resolution, **d_sizes, **d_cond))
