"""Inception-v3 as FID defines it, in flax, for FID / KID / IS / precision-recall.

FID (Heusel et al. 2017) is defined with the TensorFlow Inception graph of 2015-12-05
(`pool_3`, 2048 features; 1008 logits). That graph differs from the torchvision Inception-v3
in three places, which this module reproduces: the average pools inside the A, C and first E
blocks leave padding out of their averages, and the last E block's pool branch is a max
pool. Every convolution is followed by batch norm (ε = 0.001, inference statistics) and ReLU.

Submodule names follow the published PyTorch port of those weights (`pt_inception-2015-12-05`,
used by pytorch-fid): `Conv2d_1a_3x3/conv`, `Mixed_5b/branch1x1/bn`, `fc`, ...; so that a
state dict maps onto the parameters by name (`jaxgan.metrics.inception_weights`).

Input: images (B, H, W, C) in [−1, 1], 1 or 3 channels; they are resized to 299 × 299
bilinearly (half-pixel centres, as PyTorch's `align_corners=False`) and grey is repeated
into RGB. Output: a dict with `pool` (B, 2048) and `logits` (B, 1008).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

SIZE = 299
NUM_LOGITS = 1008


class BasicConv(nn.Module):
  """Conv (no bias) → batch norm (ε 0.001) → ReLU."""
  features: int
  kernel: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(self.features, self.kernel, (self.strides, self.strides),
                padding=[(self.padding[0],) * 2, (self.padding[1],) * 2], use_bias=False,
                name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def _avg_pool_excluding_padding(x):
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3(x, strides=2, padding="VALID"):
  return nn.max_pool(x, (3, 3), (strides, strides), padding=padding)


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
    b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
    b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
    bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(
        _avg_pool_excluding_padding(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), strides=2, name="branch3x3")(x)
    bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = BasicConv(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
    b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
    b7 = BasicConv(c, (1, 1), name="branch7x7_1")(x)
    b7 = BasicConv(c, **row, name="branch7x7_2")(b7)
    b7 = BasicConv(192, **col, name="branch7x7_3")(b7)
    bd = BasicConv(c, (1, 1), name="branch7x7dbl_1")(x)
    bd = BasicConv(c, **col, name="branch7x7dbl_2")(bd)
    bd = BasicConv(c, **row, name="branch7x7dbl_3")(bd)
    bd = BasicConv(c, **col, name="branch7x7dbl_4")(bd)
    bd = BasicConv(192, **row, name="branch7x7dbl_5")(bd)
    bp = BasicConv(192, (1, 1), name="branch_pool")(_avg_pool_excluding_padding(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
    b3 = BasicConv(320, (3, 3), strides=2, name="branch3x3_2")(b3)
    b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = BasicConv(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3(x)], axis=-1)


class InceptionE(nn.Module):
  max_pool: bool  # FID's last block pools by max, the one before by average

  @nn.compact
  def __call__(self, x):
    row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
    b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
    b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([BasicConv(384, **row, name="branch3x3_2a")(b3),
                          BasicConv(384, **col, name="branch3x3_2b")(b3)], axis=-1)
    bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([BasicConv(384, **row, name="branch3x3dbl_3a")(bd),
                          BasicConv(384, **col, name="branch3x3dbl_3b")(bd)], axis=-1)
    pooled = (_max_pool_3x3(x, 1, ((1, 1), (1, 1))) if self.max_pool
              else _avg_pool_excluding_padding(x))
    bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def to_inception_input(images: jax.Array) -> jax.Array:
  """Returns images in [−1, 1] as (B, 299, 299, 3): bilinear resize, grey repeated to RGB."""
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"Inception takes images (B, H, W, 1 or 3); got shape {images.shape}")
  b, h, w, c = images.shape
  x = images.astype(jnp.float32)
  if (h, w) != (SIZE, SIZE):
    x = jax.image.resize(x, (b, SIZE, SIZE, c), "bilinear", antialias=False)
  return jnp.repeat(x, 3, axis=-1) if c == 1 else x


class InceptionV3(nn.Module):
  """FID's Inception-v3: `{"pool": (B, 2048), "logits": (B, 1008)}` of images in [−1, 1]."""

  @nn.compact
  def __call__(self, images):
    x = to_inception_input(images)
    x = BasicConv(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
    x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
    x = _max_pool_3x3(x)
    x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
    x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
    x = _max_pool_3x3(x)
    x = InceptionA(32, name="Mixed_5b")(x)
    x = InceptionA(64, name="Mixed_5c")(x)
    x = InceptionA(64, name="Mixed_5d")(x)
    x = InceptionB(name="Mixed_6a")(x)
    for name, c in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
      x = InceptionC(c, name=name)(x)
    x = InceptionD(name="Mixed_7a")(x)
    x = InceptionE(max_pool=False, name="Mixed_7b")(x)
    x = InceptionE(max_pool=True, name="Mixed_7c")(x)
    pool = jnp.mean(x, axis=(1, 2))
    return {"pool": pool, "logits": nn.Dense(NUM_LOGITS, name="fc")(pool)}


@functools.lru_cache(maxsize=None)
def variable_shapes() -> dict:
  """Returns the shapes of InceptionV3's variables (no arrays are created)."""
  return jax.eval_shape(lambda: InceptionV3().init(jax.random.key(0),
                                                   jnp.zeros((1, SIZE, SIZE, 3))))
