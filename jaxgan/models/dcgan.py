"""DCGAN players: the 28x28 benchmark model, PyTorch's 64x64 model, and a generic one.

- `DCGAN28Generator` / `DCGAN28Discriminator`: exactly the model of PROTOCOLS.md section 3
  (the TensorFlow DCGAN tutorial's MNIST model; Keras initialisers and batch-norm
  constants), z of 64. With `num_classes` they become conditional.
- `DCGAN64Generator` / `DCGAN64Discriminator`: the PyTorch examples DCGAN (nz 100,
  ngf = ndf = 64, conv weights N(0, 0.02), BN scale N(1, 0.02)).
- `DCGANGenerator` / `DCGANDiscriminator`: 4x4 up to 32x32 or 64x64 by stride-2
  transposed convolutions, for any channels; D with batch, spectral or no normalisation.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers, registry

_KERAS_INIT = nn.initializers.glorot_uniform()
_KERAS_BN = {"momentum": 0.99, "epsilon": 1e-3}
_TORCH_INIT = nn.initializers.normal(0.02)
_TORCH_BN = {"momentum": 0.9, "epsilon": 1e-5}


def _torch_bn_scale(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _leaky(x):
  return nn.leaky_relu(x, 0.2)


class DCGAN28Generator(nn.Module):
  """z (B, 64) -> images (B, 28, 28, 1) in [-1, 1].

  `conv_transpose` picks how the transposed convolutions are computed ("phases" or
  "dilated", see `layers.ConvTranspose`): the same function and parameters either way.
  """
  latent_dim: int = 64
  channels: int = 1
  num_classes: int = 0
  conditioning: str = "concat"
  conv_transpose: str = "phases"
  bn_axis: str | None = None  # cross-replica batch norm over this axis

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.G_CONDITIONING)

    def norm(x):
      return layers.GeneratorNorm(self.num_classes, self.conditioning, axis_name=self.bn_axis,
                                  **_KERAS_BN)(x, y, train)

    x = layers.embed_labels(z, y, self.num_classes, self.conditioning)
    x = nn.Dense(7 * 7 * 256, use_bias=False, kernel_init=_KERAS_INIT)(x)
    x = _leaky(norm(x)).reshape(-1, 7, 7, 256)
    for features, stride in ((128, 1), (64, 2)):
      x = layers.ConvTranspose(features, (5, 5), (stride, stride), padding="SAME", use_bias=False,
                               kernel_init=_KERAS_INIT, method=self.conv_transpose)(x)
      x = _leaky(norm(x))
    x = layers.ConvTranspose(self.channels, (5, 5), (2, 2), padding="SAME", use_bias=False,
                             kernel_init=_KERAS_INIT, method=self.conv_transpose)(x)
    return jnp.tanh(x)


class DCGAN28Discriminator(nn.Module):
  """images (B, 28, 28, C) -> logits (B,) (and class logits with conditioning "acgan")."""
  num_classes: int = 0
  conditioning: str = "projection"

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.D_CONDITIONING)
    for features in (64, 128):
      x = _leaky(nn.Conv(features, (5, 5), (2, 2), padding="SAME", kernel_init=_KERAS_INIT)(x))
    h = x.reshape(x.shape[0], -1)
    return layers.DiscriminatorHead(self.num_classes, self.conditioning,
                                    kernel_init=_KERAS_INIT)(h, y, train)


class DCGAN64Generator(nn.Module):
  """z (B, 100) -> images (B, 64, 64, 3): PyTorch's netG (3,576,704 parameters)."""
  latent_dim: int = 100
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  conditioning: str = "concat"
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.G_CONDITIONING)
    x = layers.embed_labels(z, y, self.num_classes, self.conditioning)[:, None, None, :]
    # PyTorch's ConvTranspose2d(k=4, s, p) is lax.conv_transpose padded by k - 1 - p.
    for i, mult in enumerate((8, 4, 2, 1)):
      stride, pad = (1, 3) if i == 0 else (2, 2)
      x = layers.ConvTranspose(self.width * mult, (4, 4), (stride, stride),
                           padding=((pad, pad), (pad, pad)), use_bias=False,
                           kernel_init=_TORCH_INIT)(x)
      x = layers.GeneratorNorm(self.num_classes, self.conditioning, scale_init=_torch_bn_scale,
                               axis_name=self.bn_axis, **_TORCH_BN)(x, y, train)
      x = nn.relu(x)
    x = layers.ConvTranspose(self.channels, (4, 4), (2, 2), padding=((2, 2), (2, 2)),
                         use_bias=False, kernel_init=_TORCH_INIT)(x)
    return jnp.tanh(x)


class DCGAN64Discriminator(nn.Module):
  """images (B, 64, 64, C) -> logits (B,): PyTorch's netD without its sigmoid."""
  width: int = 64
  num_classes: int = 0
  conditioning: str = "projection"
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.D_CONDITIONING)
    for i, mult in enumerate((1, 2, 4, 8)):
      x = nn.Conv(self.width * mult, (4, 4), (2, 2), padding=((1, 1), (1, 1)), use_bias=False,
                  kernel_init=_TORCH_INIT)(x)
      if i > 0:
        x = nn.BatchNorm(use_running_average=not train, scale_init=_torch_bn_scale,
                         axis_name=self.bn_axis, **_TORCH_BN)(x)
      x = _leaky(x)
    if not self.num_classes:  # the last conv of netD: 4x4 valid -> one logit
      return nn.Conv(1, (4, 4), padding="VALID", use_bias=False,
                     kernel_init=_TORCH_INIT)(x).reshape(-1)
    return layers.DiscriminatorHead(self.num_classes, self.conditioning,
                                    kernel_init=_TORCH_INIT)(x.reshape(x.shape[0], -1), y,
                                                             train)


def _num_halvings(resolution: int) -> int:
  n = round(math.log2(resolution / 4)) if resolution >= 8 else 0
  if resolution not in (32, 64) or 4 * 2 ** n != resolution:
    raise ValueError(f"resolution={resolution} is not accepted; choose 32 or 64")
  return n


class DCGANGenerator(nn.Module):
  """z -> images (B, R, R, C), R in {32, 64}: dense to 4x4, then stride-2 upsampling."""
  resolution: int = 32
  latent_dim: int = 128
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  conditioning: str = "concat"
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.G_CONDITIONING)
    n = _num_halvings(self.resolution)

    def norm(x):
      return layers.GeneratorNorm(self.num_classes, self.conditioning,
                                  axis_name=self.bn_axis)(x, y, train)

    x = layers.embed_labels(z, y, self.num_classes, self.conditioning)
    x = nn.relu(norm(nn.Dense(4 * 4 * self.width * 2 ** n)(x)))
    x = x.reshape(-1, 4, 4, self.width * 2 ** n)
    for i in range(n):
      x = layers.ConvTranspose(self.width * 2 ** (n - 1 - i), (4, 4), (2, 2), padding="SAME")(x)
      x = nn.relu(norm(x))
    return jnp.tanh(nn.Conv(self.channels, (3, 3), padding="SAME")(x))


class DCGANDiscriminator(nn.Module):
  """images (B, R, R, C) -> logits: stride-2 convolutions down to 4x4, then the head.

  `norm`: "spectral" (every layer spectrally normalised, as in SNGAN's standard CNN),
  "batch" (batch norm after all but the first convolution, as in DCGAN) or "none".
  """
  resolution: int = 32
  width: int = 64
  norm: str = "spectral"
  num_classes: int = 0
  conditioning: str = "projection"
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    layers.check_conditioning(self.num_classes, self.conditioning, layers.D_CONDITIONING)
    if self.norm not in ("spectral", "batch", "none"):
      raise ValueError(f"norm={self.norm!r} is not accepted; choose spectral, batch or none")
    spectral = self.norm == "spectral"
    for i in range(_num_halvings(self.resolution)):
      x = layers.dense_or_conv(nn.Conv(self.width * 2 ** i, (4, 4), (2, 2), padding="SAME"),
                               x, spectral, train)
      if self.norm == "batch" and i > 0:
        x = nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis)(x)
      x = _leaky(x)
    return layers.DiscriminatorHead(self.num_classes, self.conditioning, spectral)(
        x.reshape(x.shape[0], -1), y, train)


def _dcgan28(spec: registry.PairSpec, settings=None):
  channels = spec.data_shape[2]
  return (DCGAN28Generator(spec.latent_dim, channels, **spec.g_cond, bn_axis=spec.bn_axis),
          DCGAN28Discriminator(**spec.d_cond))


def _dcgan64(spec: registry.PairSpec, settings=None):
  channels = spec.data_shape[2]
  return (DCGAN64Generator(spec.latent_dim, channels, **spec.g_cond, bn_axis=spec.bn_axis),
          DCGAN64Discriminator(**spec.d_cond, bn_axis=spec.bn_axis))


def _dcgan(spec: registry.PairSpec, settings=None):
  resolution, channels = spec.data_shape[0], spec.data_shape[2]
  return (DCGANGenerator(resolution, spec.latent_dim, channels, **spec.g_cond,
                         bn_axis=spec.bn_axis),
          DCGANDiscriminator(resolution, norm=spec.d_norm, **spec.d_cond, bn_axis=spec.bn_axis))


registry.register(registry.Model("dcgan28", _dcgan28, latent_dim=64, resolutions=(28,)))
registry.register(registry.Model("dcgan64", _dcgan64, latent_dim=100, resolutions=(64,)))
registry.register(registry.Model("dcgan", _dcgan, latent_dim=128, resolutions=(32, 64)))
