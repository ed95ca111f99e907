"""R3GAN's players (Huang et al., NeurIPS 2024, "The GAN is dead; long live the GAN!").

Both players are stages of residual blocks at one resolution each, joined by filtered 2×
resampling (`resample`, [1, 2, 1] low-pass), with no normalisation layer anywhere:

- a block is x + 1×1 → bias, leaky ReLU → grouped 3×3 → bias, leaky ReLU → 1×1, the middle
  width `expansion` × the block's, the groups `group_size` channels each;
- fix-up initialisation: every convolution draws N(0, g² / fan_in) (no bias); g is leaky
  ReLU's gain √(2 / (1 + 0.2²)) scaled by L^(−1/4) for a branch's first two layers, L the
  players' number of blocks (L^(−1/(2m−2)) with m = 3 layers a branch), and 0 for its last
  layer, so that every block starts as the identity;
- G: z (with a label embedding as wide as z appended, when conditional) scales a learned
  constant basis channel by channel; stages upsample (1×1 to the new width, then resample)
  and end in a 1×1 convolution to the image's channels, with no tanh;
- D: a 1×1 convolution from the image, stages downsample (resample, then 1×1), and a basis
  layer at the smallest resolution (a depthwise convolution over the whole map, then a linear
  map to the logit, or to an embedding projected on the label's: D(x, y) = <h, e_y>).

The smallest resolution is the image's divided by 2^(stages − 1): 4×4 at 32 and 64 px
(CIFAR-10, FFHQ-64), 7×7 at 28 px (Fashion-MNIST and its stacked form).
"""

import dataclasses
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers, registry, resample
from jaxgan.options import option

SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2.0 / (1.0 + SLOPE ** 2))


def msr(gain: float) -> nn.initializers.Initializer:
  """N(0, gain² / fan_in), fan_in = every kernel axis but the last (a grouped conv's own)."""
  def init(key, shape, dtype=jnp.float32):
    fan_in = math.prod(shape[:-1])
    return jax.random.normal(key, shape, dtype) * (gain / math.sqrt(fan_in))
  return init


def conv(features: int, size: int = 1, gain: float = 1.0, groups: int = 1,
         name: str | None = None) -> nn.Conv:
  return nn.Conv(features, (size, size), padding="SAME", feature_group_count=groups,
                 use_bias=False, kernel_init=msr(gain), name=name)


class GroupedConv(nn.Module):
  """A k×k convolution in `groups` groups (SAME padding, no bias), its kernel stored in the
  grouped shape (k, k, in / groups, out), drawn by `msr(gain)`.

  `impl`: "grouped" is XLA's grouped convolution (`feature_group_count`), the form GPUs and
  TPUs run well; "dense" is one dense convolution with the block-diagonal kernel the groups
  make, the same sums with exact zeros added, which XLA:CPU differentiates far faster than
  the grouped form (`benchmarks/bench_grouped.py`). "auto" takes "dense" on the
  CPU.
  """
  features: int
  size: int
  groups: int
  gain: float
  impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    kernel = self.param("kernel", msr(self.gain),
                        (self.size, self.size, width // self.groups, self.features))
    kernel = kernel.astype(x.dtype)
    impl = self.impl if self.impl != "auto" else (
        "dense" if jax.default_backend() == "cpu" else "grouped")
    if impl == "dense" and self.groups > 1:
      g, k = self.groups, self.size
      blocks = kernel.reshape(k, k, width // g, g, self.features // g)
      eye = jnp.eye(g, dtype=kernel.dtype)
      kernel = jnp.einsum("hwigo,fg->hwfigo", blocks, eye).reshape(k, k, width, self.features)
      groups = 1
    else:
      groups = self.groups
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=groups)


class BiasedActivation(nn.Module):
  """x + b (b per channel, init 0), then leaky ReLU(0.2)."""

  @nn.compact
  def __call__(self, x):
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return nn.leaky_relu(x + bias.astype(x.dtype), SLOPE)


class ResidualBlock(nn.Module):
  """x + (1×1 → act → grouped k×k → act → 1×1), the last layer initialised to zero."""
  expansion: int
  group_size: int
  num_blocks: int  # L: the blocks of the whole player, for fix-up scaling
  kernel_size: int = 3
  grouped_impl: str = "auto"

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    wide = width * self.expansion
    if wide % self.group_size:
      raise ValueError(f"group_size={self.group_size} does not divide the expanded width "
                       f"{wide} (= {width} × expansion {self.expansion})")
    gain = ACTIVATION_GAIN * self.num_blocks ** (-1.0 / 4.0)
    y = conv(wide, 1, gain)(x)
    y = GroupedConv(wide, self.kernel_size, wide // self.group_size, gain,
                    self.grouped_impl)(BiasedActivation()(y))
    y = conv(width, 1, 0.0)(BiasedActivation()(y))
    return x + y


def _check(resolution: int, widths: Sequence[int], blocks: int) -> int:
  """Returns the basis resolution, or raises ValueError naming what does not fit."""
  stages = len(widths)
  if stages < 1 or blocks < 1 or min(widths) < 1:
    raise ValueError(f"R3GAN needs at least one stage of positive widths and >= 1 block; got "
                     f"widths {tuple(widths)}, {blocks} blocks")
  base = resolution // 2 ** (stages - 1)
  if base * 2 ** (stages - 1) != resolution or base < 2:
    raise ValueError(f"{stages} stages do not fit {resolution} px: the resolution must be the "
                     f"basis (>= 2 px) times 2^(stages - 1); give widths for fewer stages")
  return base


class R3GANGenerator(nn.Module):
  """z (B, latent_dim) [, labels (B,)] -> images (B, R, R, C)."""
  resolution: int
  channels: int
  latent_dim: int = 64
  widths: tuple[int, ...] = (768, 768, 768, 768)
  blocks: int = 2           # residual blocks per stage
  expansion: int = 2
  group_size: int = 16
  num_classes: int = 0
  conditioning: str = "concat"
  embed_dim: int = 0        # the label embedding appended to z; 0: latent_dim wide, as the
                            # official code makes it (its ConditionEmbeddingDimension)

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    del train  # no normalisation, no state
    layers.check_conditioning(self.num_classes, self.conditioning, ("concat",))
    base = _check(self.resolution, self.widths, self.blocks)
    total = self.blocks * len(self.widths)
    if self.num_classes:
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=z.dtype)
      embed_dim = self.embed_dim or self.latent_dim
      z = jnp.concatenate([z, nn.Dense(embed_dim, use_bias=False, kernel_init=msr(1.0),
                                        name="embed")(onehot)], axis=-1)
    basis = self.param("basis", nn.initializers.normal(1.0), (base, base, self.widths[0]))
    scale = nn.Dense(self.widths[0], use_bias=False, kernel_init=msr(1.0), name="to_basis")(z)
    x = basis[None].astype(z.dtype) * scale[:, None, None, :]
    for stage, width in enumerate(self.widths):
      if stage:
        if width != x.shape[-1]:
          x = conv(width, 1)(x)
        x = resample.upsample(x)
      for _ in range(self.blocks):
        x = ResidualBlock(self.expansion, self.group_size, total)(x)
    return conv(self.channels, 1, name="to_image")(x)


class R3GANDiscriminator(nn.Module):
  """images (B, R, R, C) [, labels (B,)] -> logits (B,)."""
  resolution: int
  widths: tuple[int, ...] = (768, 768, 768, 768)  # from the image's resolution down
  blocks: int = 2
  expansion: int = 2
  group_size: int = 16
  num_classes: int = 0
  conditioning: str = "projection"

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    del train
    layers.check_conditioning(self.num_classes, self.conditioning, ("projection",))
    base = _check(self.resolution, self.widths, self.blocks)
    total = self.blocks * len(self.widths)
    x = conv(self.widths[0], 1, name="from_image")(x)
    for stage, width in enumerate(self.widths):
      if stage:
        x = resample.downsample(x)
        if width != x.shape[-1]:
          x = conv(width, 1)(x)
      for _ in range(self.blocks):
        x = ResidualBlock(self.expansion, self.group_size, total)(x)
    width = x.shape[-1]
    # A depthwise convolution over the whole basis map: each channel's weighted sum.
    basis = self.param("basis", msr(1.0), (base, base, 1, width))
    x = jnp.einsum("bhwc,hwc->bc", x, basis[:, :, 0].astype(x.dtype))
    if not self.num_classes:
      return nn.Dense(1, use_bias=False, kernel_init=msr(1.0), name="to_logit")(x)[:, 0]
    h = nn.Dense(width, use_bias=False, kernel_init=msr(1.0), name="to_embedding")(x)
    onehot = jax.nn.one_hot(y, self.num_classes, dtype=h.dtype)
    e = nn.Dense(width, use_bias=False, kernel_init=msr(1.0 / math.sqrt(width)),
                 name="label_embedding")(onehot)
    return jnp.sum(h * e, axis=-1)


# G's stage widths (from the basis up) when none are given: the paper's CIFAR-10 (32 px) and
# FFHQ-64 configurations and the larger ones; 28 px is ours, sized for a CPU (BUILD_NOTES).
DEFAULT_WIDTHS = {28: (256, 256, 256), 32: (768, 768, 768, 768),
                  64: (768, 768, 768, 768, 384), 128: (768, 768, 768, 768, 384, 192),
                  256: (768, 768, 768, 768, 384, 192, 96)}


def _check_widths(text: str) -> None:
  """Raises ValueError unless `text` is '' or comma-separated positive integers."""
  parts = [p.strip() for p in text.split(",")] if text.strip() else []
  if not all(p.isdigit() and int(p) > 0 for p in parts):
    raise ValueError(f"stage_widths={text!r} is not accepted; give comma-separated positive "
                     f"integers such as 256,256,256, or '' for the model's default")


@dataclasses.dataclass(frozen=True)
class R3GANSettings:
  """The stage layout of the R3GAN players (the runner's `r3gan` config section)."""
  stage_widths: str = option("", "r3gan: G's stage widths from the basis up, comma-separated "
                             "(D takes them reversed); the stages set the basis resolution, "
                             "image size / 2^(stages - 1). '' = the resolution's default "
                             "(jaxgan.models.r3gan.DEFAULT_WIDTHS).", check=_check_widths)
  stage_blocks: int = option(2, "r3gan: residual blocks per stage.", at_least=1)
  expansion: int = option(2, "r3gan: a block's inner width over its width.", at_least=1)
  group_size: int = option(16, "r3gan: channels per group of a block's grouped 3x3 "
                           "convolution.", at_least=1)

  @property
  def widths(self) -> tuple[int, ...]:
    return tuple(int(w) for w in self.stage_widths.split(",") if w.strip())


def players(spec: registry.PairSpec, settings: R3GANSettings):
  """Returns the R3GAN pair at the data's resolution (any that its stages fit)."""
  resolution, channels = spec.data_shape[0], spec.data_shape[2]
  widths = settings.widths
  if not widths and resolution not in DEFAULT_WIDTHS:
    raise ValueError(f"model='r3gan' has default stage widths for {tuple(DEFAULT_WIDTHS)} px; "
                     f"the data are {resolution} px: give --stage_widths")
  widths = widths or DEFAULT_WIDTHS[resolution]
  arch = dict(blocks=settings.stage_blocks, expansion=settings.expansion,
              group_size=settings.group_size)
  return (R3GANGenerator(resolution, channels, spec.latent_dim, widths, **arch, **spec.g_cond),
          R3GANDiscriminator(resolution, widths[::-1], **arch, **spec.d_cond))


registry.register(registry.Model("r3gan", players, latent_dim=64, settings=R3GANSettings,
                                 section="r3gan"))
