"""Pieces the image models share: spectral norm, conditioning of G and of D.

Conditional players have `num_classes > 0` and take integer labels `y` of shape (B,):
the generator as `G(z, y, train=...)`, the discriminator as `D(x, y, train=...)`.
Generator conditioning: "concat" (a learned label embedding appended to z) or "cbn"
(conditional batch norm: per-class scale and shift after every batch norm).
Discriminator conditioning: "projection" (Miyato & Koyama 2018: logit + <embed(y), h>) or
"acgan" (Odena et al. 2017: an auxiliary head returning class logits beside the logit).
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

G_CONDITIONING = ("concat", "cbn")
D_CONDITIONING = ("projection", "acgan")


def is_conditional(module: nn.Module) -> bool:
  """Returns whether the module takes class labels (a `num_classes` attribute above 0)."""
  return getattr(module, "num_classes", 0) > 0


def check_conditioning(num_classes: int, conditioning: str, accepted) -> None:
  if num_classes < 0:
    raise ValueError(f"num_classes={num_classes} is not accepted; it must be >= 0")
  if num_classes and conditioning not in accepted:
    raise ValueError(f"conditioning={conditioning!r} is not accepted; choose one of: "
                     f"{', '.join(accepted)}")


def dense_or_conv(layer: nn.Module, x: jax.Array, spectral: bool, train: bool) -> jax.Array:
  """Returns `layer(x)`, with the layer's kernel spectrally normalised when `spectral`.

  The power-iteration vector and the σ estimate live in the `batch_stats` collection and
  are updated only in training (one power step per call).
  """
  if spectral:
    return nn.SpectralNorm(layer, n_steps=1)(x, update_stats=train)
  return layer(x)


class ConditionalBatchNorm(nn.Module):
  """Batch norm without its own affine, then a per-class scale (init 1) and shift (init 0)."""
  num_classes: int
  momentum: float = 0.9
  epsilon: float = 1e-5
  axis_name: str | None = None  # cross-replica statistics over this axis

  @nn.compact
  def __call__(self, x, y, train: bool):
    x = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                     momentum=self.momentum, epsilon=self.epsilon,
                     axis_name=self.axis_name)(x)
    channels = x.shape[-1]
    gamma = nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.ones,
                     name="gamma")(y)
    beta = nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.zeros,
                    name="beta")(y)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (channels,)
    return x * gamma.reshape(shape) + beta.reshape(shape)


class GeneratorNorm(nn.Module):
  """Batch norm, or conditional batch norm when the generator is conditioned with "cbn".

  `axis_name` makes the batch statistics cross-replica: computed over the global batch of
  a data-parallel axis (see `jaxgan.parallel`).
  """
  num_classes: int = 0
  conditioning: str = "concat"
  momentum: float = 0.9
  epsilon: float = 1e-5
  scale_init: Any = nn.initializers.ones
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, y, train: bool):
    if self.num_classes and self.conditioning == "cbn":
      return ConditionalBatchNorm(self.num_classes, self.momentum, self.epsilon,
                                  self.axis_name)(x, y, train)
    return nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                        axis_name=self.axis_name,
                        epsilon=self.epsilon, scale_init=self.scale_init)(x)


def embed_labels(z: jax.Array, y, num_classes: int, conditioning: str,
                 features: int = 32) -> jax.Array:
  """Returns z with a learned label embedding appended ("concat"), else z unchanged."""
  if not num_classes:
    return z
  if y is None:
    raise ValueError(f"this generator is conditional ({num_classes} classes): pass labels y")
  if conditioning != "concat":
    return z
  return jnp.concatenate([z, nn.Embed(num_classes, features, name="label_embed")(y)], -1)


class DiscriminatorHead(nn.Module):
  """Returns the logit of features h (B, F); with classes, projection or AC-GAN output."""
  num_classes: int = 0
  conditioning: str = "projection"
  spectral: bool = False
  kernel_init: Any = nn.initializers.lecun_normal()

  @nn.compact
  def __call__(self, h, y, train: bool):
    logit = dense_or_conv(nn.Dense(1, kernel_init=self.kernel_init), h, self.spectral,
                          train)[:, 0]
    if not self.num_classes:
      return logit
    if y is None:
      raise ValueError(f"this discriminator is conditional ({self.num_classes} classes): "
                       f"pass labels y")
    if self.conditioning == "acgan":
      class_logits = dense_or_conv(nn.Dense(self.num_classes, name="class_head"), h,
                                   self.spectral, train)
      return logit, class_logits
    embed = nn.Embed(self.num_classes, h.shape[-1], name="projection",
                     embedding_init=nn.initializers.normal(0.02))(y)
    return logit + jnp.sum(embed * h, axis=-1)


def _transpose_pads(kernel: int, stride: int, padding) -> tuple[int, int]:
  """Returns the (low, high) padding of the stride-dilated input, as lax.conv_transpose uses."""
  if padding == "SAME":
    total = kernel + stride - 2
    low = kernel - 1 if stride > kernel - 1 else -(-total // 2)
    return low, total - low
  if padding == "VALID":
    return kernel - 1, stride - 1 + max(kernel - stride, 0)
  return tuple(padding)


class ConvTranspose(nn.Module):
  """`flax.linen.ConvTranspose` (same parameters, same outputs), computed by sub-pixel phases.

  A stride-s transposed convolution is s*s ordinary stride-1 convolutions of the input,
  one per output phase, each with the kernel taps that land on that phase; their outputs
  are interleaved. The result equals `lax.conv_transpose` exactly, but its kernel gradient
  is an ordinary convolution, which XLA:CPU computes much faster than the gradient of the
  dilated form (BUILD_NOTES.md has the measurement). `method="dilated"` (or uneven phases) computes it as flax does.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Any = "SAME"
  use_bias: bool = True
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros
  method: str = "phases"  # or "dilated": the same function, computed as lax.conv_transpose

  @nn.compact
  def __call__(self, x):
    kh, kw = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features))
    pads = ([self.padding] * 2 if isinstance(self.padding, str)
            else [tuple(p) for p in self.padding])
    pads = [_transpose_pads(k, s, p) for k, s, p in zip((kh, kw), self.strides, pads)]
    dims = ("NHWC", "HWIO", "NHWC")
    sizes = [(n - 1) * s + 1 + lo + hi - k + 1
             for n, s, (lo, hi), k in zip(x.shape[1:3], self.strides, pads, (kh, kw))]
    uneven = any(size % s or k < s for size, s, k in zip(sizes, self.strides, (kh, kw)))
    if self.method not in ("phases", "dilated"):
      raise ValueError(f"method={self.method!r} is not accepted; choose phases or dilated")
    if uneven or self.method == "dilated" or self.strides == (1, 1):
      y = lax.conv_general_dilated(x, kernel, (1, 1), pads, lhs_dilation=self.strides,
                                   dimension_numbers=dims)
    else:
      phases = []
      for rh in range(self.strides[0]):
        row = []
        for rw in range(self.strides[1]):
          taps, pad_cfg = [], [(0, 0, 0)]
          for axis, r in enumerate((rh, rw)):
            s, (lo, _), n = self.strides[axis], pads[axis], x.shape[1 + axis]
            first = (lo - r) % s
            length = len(range(first, (kh, kw)[axis], s))
            offset = (r + first - lo) // s
            out = sizes[axis] // s
            taps.append(slice(first, None, s))
            pad_cfg.append((-offset, out - 1 + offset + length - 1 - (n - 1), 0))
          sub = kernel[taps[0], taps[1]]
          xp = lax.pad(x, jnp.zeros((), x.dtype), pad_cfg + [(0, 0, 0)])
          row.append(lax.conv_general_dilated(xp, sub, (1, 1), "VALID",
                                              dimension_numbers=dims))
        phases.append(jnp.stack(row, axis=3))           # (B, H', W', sw, C)
      y = jnp.stack(phases, axis=2)                      # (B, H', sh, W', sw, C)
      b, h, sh, w, sw, c = y.shape
      y = y.reshape(b, h * sh, w * sw, c)
    if self.use_bias:
      y = y + self.param("bias", self.bias_init, (self.features,))
    return y
