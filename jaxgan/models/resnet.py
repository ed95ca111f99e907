"""The SNGAN ResNet for 32x32 images (Miyato et al. 2018, appendix B.4).

G: z (128) -> dense 4x4x256 -> three up-sampling residual blocks (batch norm, or
conditional batch norm) -> BN, ReLU, 3x3 conv -> tanh.
D: an optimised first down block, a down block and two plain blocks of 128 channels,
ReLU, global sum pooling, dense; every layer spectrally normalised. Train it with the
hinge loss. With `num_classes` the D head becomes a projection (or AC-GAN) head.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers, registry


def _upsample(x):
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), "nearest")


def _downsample(x):
  return nn.avg_pool(x, (2, 2), (2, 2))


class GeneratorBlock(nn.Module):
  features: int
  num_classes: int = 0
  conditioning: str = "concat"
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, x, y, train: bool):
    def norm(h):
      return layers.GeneratorNorm(self.num_classes, self.conditioning,
                                  axis_name=self.bn_axis)(h, y, train)

    h = _upsample(nn.relu(norm(x)))
    h = nn.Conv(self.features, (3, 3), padding="SAME")(h)
    h = nn.Conv(self.features, (3, 3), padding="SAME")(nn.relu(norm(h)))
    shortcut = nn.Conv(self.features, (1, 1))(_upsample(x))
    return h + shortcut


class DiscriminatorBlock(nn.Module):
  features: int
  downsample: bool = True
  first: bool = False  # the optimised block: no ReLU before the first conv

  @nn.compact
  def __call__(self, x, train: bool):
    def conv(h, size):
      return layers.dense_or_conv(nn.Conv(self.features, (size, size), padding="SAME"), h,
                                  True, train)

    h = x if self.first else nn.relu(x)
    h = conv(nn.relu(conv(h, 3)), 3)
    if self.downsample:
      h = _downsample(h)
    if self.first:
      shortcut = conv(_downsample(x), 1)
    elif self.downsample or x.shape[-1] != self.features:
      shortcut = conv(x, 1)
      shortcut = _downsample(shortcut) if self.downsample else shortcut
    else:
      shortcut = x
    return h + shortcut


class ResNetGenerator(nn.Module):
  """z (B, 128) -> images (B, 32, 32, C)."""
  latent_dim: int = 128
  channels: int = 3
  width: int = 256
  num_classes: int = 0
  conditioning: str = "cbn"
  bn_axis: str | None = None  # cross-replica batch norm over this axis

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.G_CONDITIONING)
    x = layers.embed_labels(z, y, self.num_classes, self.conditioning)
    x = nn.Dense(4 * 4 * self.width)(x).reshape(-1, 4, 4, self.width)
    for _ in range(3):
      x = GeneratorBlock(self.width, self.num_classes, self.conditioning, self.bn_axis)(x, y,
                                                                                        train)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis)(x))
    return jnp.tanh(nn.Conv(self.channels, (3, 3), padding="SAME")(x))


class ResNetDiscriminator(nn.Module):
  """images (B, 32, 32, C) -> logits (B,), spectrally normalised throughout."""
  width: int = 128
  num_classes: int = 0
  conditioning: str = "projection"

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.D_CONDITIONING)
    x = DiscriminatorBlock(self.width, downsample=True, first=True)(x, train)
    x = DiscriminatorBlock(self.width, downsample=True)(x, train)
    x = DiscriminatorBlock(self.width, downsample=False)(x, train)
    x = DiscriminatorBlock(self.width, downsample=False)(x, train)
    h = jnp.sum(nn.relu(x), axis=(1, 2))
    return layers.DiscriminatorHead(self.num_classes, self.conditioning, spectral=True)(
        h, y, train)


def players(spec: registry.PairSpec, settings=None):
  """Returns the SNGAN ResNet pair for 32x32 images."""
  return (ResNetGenerator(spec.latent_dim, spec.data_shape[2], **spec.g_cond,
                          bn_axis=spec.bn_axis),
          ResNetDiscriminator(**spec.d_cond))


registry.register(registry.Model("resnet_sn", players, latent_dim=128, resolutions=(32,)))
