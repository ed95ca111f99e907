"""BigGAN's players (Brock, Donahue and Simonyan, ICLR 2019, "Large Scale GAN Training for High
Fidelity Natural Image Synthesis"), computing what the authors' BigGAN-PyTorch computes.

Generator: z (split into chunks with a hierarchical latent: the first feeds the input layer,
one chunk each block) -> a spectrally normalised linear layer to a 4x4 map of 16·ch channels
-> residual up-blocks -> batch norm, ReLU, a 3x3 convolution to the image, tanh. An up-block
is x + conv2(ReLU(cbn2(conv1(up(ReLU(cbn1(x))))))) with a 1x1 convolution of up(x) as the
shortcut when the width changes or it upsamples (nearest-neighbour 2x). Each conditional batch
norm (cbn) normalises with batch statistics and then scales by 1 + gain(y) and shifts by
bias(y): with the shared embedding (`shared_embedding`), gain and bias are spectrally
normalised linear maps (no bias) of [shared(class), z chunk]; without it, embeddings of the
class. One self-attention block (SAGAN's non-local block, max-pooled keys and values, a
learned gain that starts at 0) follows the block at each resolution of `g_attention`.

Discriminator: residual down-blocks (the first without pre-activation; 3x3 convolutions,
average-pool 2x, a 1x1 shortcut convolution), attention after the blocks at the resolutions of
`d_attention`, ReLU, a sum over space, then a linear output plus the projection of the
features onto an embedding of the class (Miyato & Koyama 2018). Every convolution, linear map
and D's class embedding is spectrally normalised.

BigGAN-deep (`biggan_deep`, the official BigGANdeep.py; the paper's appendix B): two
bottleneck blocks a resolution (1x1 down to a quarter of the width, two 3x3, 1x1 up) in G and
D. G feeds [shared(class), z] to its input layer and every conditional batch norm, and its
shortcut drops channels rather than convolving; D starts with a 3x3 convolution and widens its
shortcut by appending a 1x1 convolution's channels.

Everything is laid out as the official code lays it out, so its weights load by transposition
alone (`jaxgan.convert.biggan`): the input layer's features are the official NCHW order, the
spectral norm keeps the official left singular vector `u` (one power iteration per training
call, stored; evaluation iterates once from it without storing, as the official code does)
and normalises as `torch.nn.functional.normalize` does (x / max(|x|, eps)), and batch norm
keeps the unbiased running variance with momentum 0.1. The channel tables per resolution are
the official `G_arch` and `D_arch`, including D's 32 px table, which labels all four blocks
16 px for the placement of attention.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import registry
from jaxgan.options import option

# Width multipliers of each block (in, out), and the resolution each block's attention is
# placed at, from the official G_arch / D_arch.
G_ARCH = {32: ([4, 4, 4], [4, 4, 4], [8, 16, 32]),
          64: ([16, 16, 8, 4], [16, 8, 4, 2], [8, 16, 32, 64]),
          128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1], [8, 16, 32, 64, 128]),
          256: ([16, 16, 8, 8, 4, 2], [16, 8, 8, 4, 2, 1], [8, 16, 32, 64, 128, 256])}
D_ARCH = {32: ([4, 4, 4], [4, 4, 4, 4], [True, True, False, False], [16, 16, 16, 16]),
          64: ([1, 2, 4, 8], [1, 2, 4, 8, 16], [True] * 4 + [False], [32, 16, 8, 4, 4]),
          128: ([1, 2, 4, 8, 16], [1, 2, 4, 8, 16, 16], [True] * 5 + [False],
                [64, 32, 16, 8, 4, 4]),
          256: ([1, 2, 4, 8, 8, 16], [1, 2, 4, 8, 8, 16, 16], [True] * 6 + [False],
                [128, 64, 32, 16, 8, 4, 4])}
# BigGAN-deep's D (the official BigGANdeep.D_arch): width multipliers in and out of each
# stage, whether it downsamples, the resolution its attention is placed at (32 px: all 16,
# as there). Its G uses G_ARCH's table.
D_DEEP_ARCH = {32: ([4, 4, 4], [4, 4, 4], [True, True, False], [16, 16, 16]),
               64: ([1, 2, 4, 8], [2, 4, 8, 16], [True] * 4, [32, 16, 8, 4]),
               128: ([1, 2, 4, 8, 16], [2, 4, 8, 16, 16], [True] * 5, [64, 32, 16, 8, 4]),
               256: ([1, 2, 4, 8, 8, 16], [2, 4, 8, 8, 16, 16], [True] * 6,
                     [128, 64, 32, 16, 8, 4])}
DEEP_DEPTH = 2  # BigGAN-deep's blocks per stage (G_depth, D_depth: the only depth its tables fit)
BOTTOM = 4  # the generator's first map is 4x4
INITS = ("ortho", "N02", "glorot")


def attention_resolutions(text: str) -> tuple[int, ...]:
  """Returns the resolutions of an attention setting: "64", "32,64" or "32_64" (the official
  form); "" or "0": none."""
  parts = [p for p in text.replace("_", ",").split(",") if p.strip() and p.strip() != "0"]
  if not all(p.strip().isdigit() for p in parts):
    raise ValueError(f"attention={text!r} is not accepted; give resolutions such as 64 or "
                     f"32,64, or 0 for none")
  return tuple(sorted(int(p) for p in parts))


# ---- layers, as the official code defines them -------------------------------------------

def torch_init(kind: str):
  """Returns an initialiser of a weight kept in the official (out, in, ...) layout: "ortho"
  (torch.nn.init.orthogonal_ on (out, rest)), "N02" (normal, std 0.02) or "glorot"."""
  def init(key, shape, dtype=jnp.float32):
    rows, cols = shape[0], math.prod(shape[1:])
    if kind == "N02":
      return 0.02 * jax.random.normal(key, shape, dtype)
    if kind == "glorot":  # torch.nn.init.xavier_uniform_
      receptive = math.prod(shape[2:])
      bound = math.sqrt(6.0 / ((shape[0] + shape[1]) * receptive))
      return jax.random.uniform(key, shape, dtype, -bound, bound)
    a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
    q, r = jnp.linalg.qr(a)
    q = q * jnp.sign(jnp.diagonal(r))
    q = q.T if rows < cols else q
    return q.reshape(shape).astype(dtype)
  return init


def torch_bias_init(fan_in: int):
  """PyTorch's default bias: uniform in ±1/sqrt(fan_in) (the official code keeps it)."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound,
                                                                  bound)


def _normalize(x: jax.Array, eps: float) -> jax.Array:
  return x / jnp.maximum(jnp.linalg.norm(x), eps)


def spectral_normalised(module: nn.Module, w: jax.Array, train: bool, eps: float) -> jax.Array:
  """Returns `w` (official layout, (out, ...)) divided by its largest singular value, estimated
  by one power iteration from the stored left singular vector `u` (updated in training)."""
  mat = w.reshape(w.shape[0], -1)
  u_var = module.variable("batch_stats", "u", lambda: jax.random.normal(
      module.make_rng("params"), (1, mat.shape[0]), jnp.float32))
  u = u_var.value
  v = _normalize(jax.lax.stop_gradient(u @ mat), eps)
  u = _normalize(jax.lax.stop_gradient(v @ mat.T), eps)
  if train and not module.is_initializing() and module.is_mutable_collection("batch_stats"):
    u_var.value = u
  sigma = jnp.squeeze(v @ mat.T @ u.T)
  return w / sigma


def _weight(module: nn.Module, shape: tuple[int, ...], train: bool) -> jax.Array:
  """The module's `weight` (official layout), divided by its largest singular value when
  `module.spectral` (the layers below share their `weight_init`, `spectral` and `eps`)."""
  w = module.param("weight", torch_init(module.weight_init), shape)
  return spectral_normalised(module, w, train, module.eps) if module.spectral else w


def _biased(module: nn.Module, y: jax.Array, fan_in: int) -> jax.Array:
  """`y` plus the module's PyTorch-initialised `bias` where it has one."""
  if not module.use_bias:
    return y
  return y + module.param("bias", torch_bias_init(fan_in), (module.features,))


class SNConv(nn.Module):
  """A convolution (official weight layout (out, in, k, k), 'same' padding) with spectral norm."""
  features: int
  size: int = 3
  use_bias: bool = True
  spectral: bool = True
  weight_init: str = "ortho"
  eps: float = 1e-8

  @nn.compact
  def __call__(self, x, train: bool = True):
    w = _weight(self, (self.features, x.shape[-1], self.size, self.size), train)
    pad = self.size // 2
    y = jax.lax.conv_general_dilated(x, w.astype(x.dtype), (1, 1), [(pad, pad)] * 2,
                                     dimension_numbers=("NHWC", "OIHW", "NHWC"))
    return _biased(self, y, x.shape[-1] * self.size ** 2)


class SNLinear(nn.Module):
  """A linear map (official weight layout (out, in)) with spectral norm."""
  features: int
  use_bias: bool = True
  spectral: bool = True
  weight_init: str = "ortho"
  eps: float = 1e-8

  @nn.compact
  def __call__(self, x, train: bool = True):
    w = _weight(self, (self.features, x.shape[-1]), train)
    return _biased(self, x @ w.T.astype(x.dtype), x.shape[-1])


class Embedding(nn.Module):
  """A class embedding (official layout (classes, features)), optionally spectrally normalised
  over the whole table, as D's projection embedding is."""
  num_classes: int
  features: int
  spectral: bool = False
  weight_init: str = "ortho"
  eps: float = 1e-8

  @nn.compact
  def __call__(self, y, train: bool = True):
    return jnp.take(_weight(self, (self.num_classes, self.features), train), y, axis=0)


def batch_norm(module: nn.Module, x: jax.Array, train: bool, eps: float, axis_name,
               momentum: float = 0.1) -> jax.Array:
  """Returns x normalised per channel, without an affine: batch statistics in training (the
  running mean and unbiased variance updated with `momentum`), the running ones otherwise."""
  channels = x.shape[-1]
  mean_var = module.variable("batch_stats", "stored_mean", jnp.zeros, (channels,), jnp.float32)
  var_var = module.variable("batch_stats", "stored_var", jnp.ones, (channels,), jnp.float32)
  if train:
    x32 = x.astype(jnp.float32)
    n = x.shape[0] * x.shape[1] * x.shape[2]
    mean = jnp.mean(x32, axis=(0, 1, 2))
    if axis_name is not None:
      mean = jax.lax.pmean(mean, axis_name)
    # Two passes (the deviation from the mean), as PyTorch computes it: E[x²] − E[x]² loses
    # digits where the mean is large against the spread.
    var = jnp.mean((x32 - mean) ** 2, axis=(0, 1, 2))
    if axis_name is not None:
      var = jax.lax.pmean(var, axis_name)
      n = n * jax.lax.axis_size(axis_name)
    # The batch's moments for standing statistics (`jaxgan.sample.standing_stats`), kept only
    # where a caller makes the "moments" collection mutable (never in `init`: not state).
    if not module.is_initializing():
      module.sow("moments", "batch", (mean, var))
      mean_var.value = (1 - momentum) * mean_var.value + momentum * mean
      var_var.value = (1 - momentum) * var_var.value + momentum * var * n / max(n - 1, 1)
  else:
    mean, var = mean_var.value, var_var.value
  return ((x - mean) * jax.lax.rsqrt(var + eps)).astype(x.dtype)


class ClassBatchNorm(nn.Module):
  """Batch norm scaled by 1 + gain(c) and shifted by bias(c): `c` a conditioning vector
  (linear maps, spectrally normalised, no bias) or a class (embeddings)."""
  num_classes: int  # 0: `c` is a vector (the shared embedding with a z chunk)
  eps: float = 1e-5
  sn_eps: float = 1e-8
  weight_init: str = "ortho"
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, c, train: bool = True):
    channels = x.shape[-1]
    if self.num_classes:
      gain = Embedding(self.num_classes, channels, weight_init=self.weight_init, name="gain")(c)
      bias = Embedding(self.num_classes, channels, weight_init=self.weight_init, name="bias")(c)
    else:
      gain = SNLinear(channels, use_bias=False, weight_init=self.weight_init, eps=self.sn_eps,
                      name="gain")(c, train)
      bias = SNLinear(channels, use_bias=False, weight_init=self.weight_init, eps=self.sn_eps,
                      name="bias")(c, train)
    out = batch_norm(self, x, train, self.eps, self.axis_name)
    return out * (1 + gain)[:, None, None, :] + bias[:, None, None, :]


class BatchNorm(nn.Module):
  """Batch norm with a learned per-channel gain (init 1) and bias (init 0): G's output norm."""
  eps: float = 1e-5
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    gain = self.param("gain", nn.initializers.ones, (x.shape[-1],))
    bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
    return batch_norm(self, x, train, self.eps, self.axis_name) * gain + bias


class Attention(nn.Module):
  """SAGAN's non-local block as the official code has it: x + gamma · o(softmax(θ φᵀ) g),
  keys φ and values g max-pooled 2x2, gamma learned from 0."""
  weight_init: str = "ortho"
  eps: float = 1e-8

  @nn.compact
  def __call__(self, x, train: bool = True):
    b, h, w, ch = x.shape
    conv = lambda f, name: SNConv(f, 1, use_bias=False, weight_init=self.weight_init, eps=self.eps,
                                  name=name)
    pool = lambda t: nn.max_pool(t, (2, 2), (2, 2))
    theta = conv(ch // 8, "theta")(x, train).reshape(b, h * w, ch // 8)
    phi = pool(conv(ch // 8, "phi")(x, train)).reshape(b, h * w // 4, ch // 8)
    g = pool(conv(ch // 2, "g")(x, train)).reshape(b, h * w // 4, ch // 2)
    beta = jax.nn.softmax(theta @ jnp.swapaxes(phi, 1, 2), axis=-1)
    o = conv(ch, "o")((beta @ g).reshape(b, h, w, ch // 2), train)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    return gamma * o + x


def _upsample(x):
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _avg_pool(x):
  return nn.avg_pool(x, (2, 2), (2, 2))


class GBlock(nn.Module):
  out_channels: int
  num_classes: int
  weight_init: str
  sn_eps: float
  bn_eps: float
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, c, train: bool = True):
    norm = lambda name: ClassBatchNorm(self.num_classes, self.bn_eps, self.sn_eps, self.weight_init,
                                       self.axis_name, name=name)
    conv = lambda f, size, name: SNConv(f, size, weight_init=self.weight_init, eps=self.sn_eps, name=name)
    h = _upsample(nn.relu(norm("bn1")(x, c, train)))
    x = _upsample(x)
    h = conv(self.out_channels, 3, "conv1")(h, train)
    h = conv(self.out_channels, 3, "conv2")(nn.relu(norm("bn2")(h, c, train)), train)
    return h + conv(self.out_channels, 1, "conv_sc")(x, train)  # always learnable: it upsamples


class DBlock(nn.Module):
  out_channels: int
  downsample: bool
  preactivation: bool
  wide: bool
  weight_init: str
  sn_eps: float

  @nn.compact
  def __call__(self, x, train: bool = True):
    conv = lambda f, size, name: SNConv(f, size, weight_init=self.weight_init, eps=self.sn_eps, name=name)
    hidden = self.out_channels if self.wide else x.shape[-1]
    h = nn.relu(x) if self.preactivation else x
    h = conv(self.out_channels, 3, "conv2")(nn.relu(conv(hidden, 3, "conv1")(h, train)), train)
    if self.downsample:
      h = _avg_pool(h)
    learnable = x.shape[-1] != self.out_channels or self.downsample
    if self.preactivation:
      x = conv(self.out_channels, 1, "conv_sc")(x, train) if learnable else x
      x = _avg_pool(x) if self.downsample else x
    else:
      x = _avg_pool(x) if self.downsample else x
      x = conv(self.out_channels, 1, "conv_sc")(x, train) if learnable else x
    return h + x


def _row(table: dict, resolution: int, model: str):
  """The channel table's row of `resolution`; ValueError naming the sizes the model has."""
  if resolution not in table:
    raise ValueError(f"model={model!r} is defined for {tuple(table)} px images")
  return table[resolution]


def _check(resolution: int, attention: tuple[int, ...], placed: list[int], player: str):
  if resolution not in G_ARCH:
    raise ValueError(f"model='biggan' is defined for {tuple(G_ARCH)} px images; the data are "
                     f"{resolution} px")
  if missing := sorted(set(attention) - set(placed)):
    raise ValueError(f"{player}_attention={','.join(map(str, attention))} is not accepted at "
                     f"{resolution} px: {player}'s blocks are at {sorted(set(placed))} (no "
                     f"{','.join(map(str, missing))})")


class BigGANGenerator(nn.Module):
  """z (B, latent_dim), labels (B,) -> images (B, R, R, C) in [-1, 1]."""
  resolution: int
  channels: int = 3
  latent_dim: int = 128
  num_classes: int = 0
  ch: int = 64
  attention: tuple[int, ...] = (64,)
  hierarchical: bool = False
  shared_dim: int = 0           # the shared class embedding's size; 0: no shared embedding
  weight_init: str = "ortho"
  sn_eps: float = 1e-8
  bn_eps: float = 1e-5
  axis_name: str | None = None  # cross-replica batch norm over this axis
  conditioning: str = "cbn"

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    ins, outs, placed = G_ARCH[self.resolution]
    _check(self.resolution, self.attention, placed, "g")
    if not self.num_classes or y is None:
      raise ValueError("model='biggan' is class-conditional: give it labelled data and "
                       "g_conditioning=cbn")
    slots = len(ins) + 1 if self.hierarchical else 1
    if self.latent_dim % slots:
      raise ValueError(f"latent_dim={self.latent_dim} does not split into the hierarchical "
                       f"latent's {slots} chunks; give a multiple of {slots}")
    if self.shared_dim:
      shared = Embedding(self.num_classes, self.shared_dim, weight_init=self.weight_init, name="shared")(y)
      if self.hierarchical:
        chunks = jnp.split(z, slots, axis=1)
        z, conds = chunks[0], [jnp.concatenate([shared, c], 1) for c in chunks[1:]]
      else:
        conds = [shared] * len(ins)
      cbn_classes = 0
    else:
      conds, cbn_classes = [y] * len(ins), self.num_classes
    h = SNLinear(ins[0] * self.ch * BOTTOM ** 2, weight_init=self.weight_init, eps=self.sn_eps,
                 name="linear")(z, train)
    # The official layout: features in (channel, row, column) order.
    h = h.reshape(h.shape[0], ins[0] * self.ch, BOTTOM, BOTTOM).transpose(0, 2, 3, 1)
    for index, (out, res) in enumerate(zip(outs, placed)):
      h = GBlock(out * self.ch, cbn_classes, self.weight_init, self.sn_eps, self.bn_eps,
                 self.axis_name, name=f"block{index}")(h, conds[index], train)
      if res in self.attention:
        h = Attention(self.weight_init, self.sn_eps, name=f"attention{index}")(h, train)
    # The output norm keeps PyTorch's default epsilon whatever BN_eps is (the official code
    # does not pass it on).
    h = nn.relu(BatchNorm(1e-5, self.axis_name, name="output_bn")(h, train))
    h = SNConv(self.channels, 3, weight_init=self.weight_init, eps=self.sn_eps, name="output_conv")(h, train)
    return jnp.tanh(h)


def _projection_output(module: nn.Module, h: jax.Array, y, train: bool) -> jax.Array:
  """Both D's output: ReLU, a sum over space, a linear map to one logit plus the projection of
  the features onto D's (spectrally normalised) embedding of the class, where it has classes."""
  h = jnp.sum(nn.relu(h), axis=(1, 2))
  out = SNLinear(1, weight_init=module.weight_init, eps=module.sn_eps, name="linear")(h, train)
  if not module.num_classes:
    return out[:, 0]
  embed = Embedding(module.num_classes, h.shape[-1], spectral=True,
                    weight_init=module.weight_init, eps=module.sn_eps, name="embed")(y, train)
  return out[:, 0] + jnp.sum(embed * h, axis=1)


class BigGANDiscriminator(nn.Module):
  """images (B, R, R, C), labels (B,) -> logits (B,)."""
  resolution: int
  num_classes: int = 0
  ch: int = 64
  attention: tuple[int, ...] = (64,)
  wide: bool = True
  weight_init: str = "ortho"
  sn_eps: float = 1e-8
  conditioning: str = "projection"

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    _, outs, downs, placed = _row(D_ARCH, self.resolution, "biggan")
    _check(self.resolution, self.attention, placed, "d")
    h = x
    for index, (out, down, res) in enumerate(zip(outs, downs, placed)):
      h = DBlock(out * self.ch, down, index > 0, self.wide, self.weight_init, self.sn_eps,
                 name=f"block{index}")(h, train)
      if res in self.attention:
        h = Attention(self.weight_init, self.sn_eps, name=f"attention{index}")(h, train)
    return _projection_output(self, h, y, train)


# ---- BigGAN-deep (the official BigGANdeep.py) ------------------------------------------------

class DeepGBlock(nn.Module):
  """BigGAN-deep's up-block: a bottleneck (1x1 to a quarter of the input width, two 3x3, 1x1
  out) with a conditional batch norm and ReLU before each convolution; the shortcut keeps the
  input's first `out_channels` channels. Both paths upsample (the stage's last block) after
  the second norm."""
  out_channels: int
  upsample: bool
  weight_init: str
  sn_eps: float
  bn_eps: float
  axis_name: str | None = None

  @nn.compact
  def __call__(self, x, c, train: bool = True):
    norm = lambda name: ClassBatchNorm(0, self.bn_eps, self.sn_eps, self.weight_init,
                                       self.axis_name, name=name)
    conv = lambda f, size, name: SNConv(f, size, weight_init=self.weight_init, eps=self.sn_eps,
                                        name=name)
    hidden = x.shape[-1] // 4
    h = conv(hidden, 1, "conv1")(nn.relu(norm("bn1")(x, c, train)), train)
    h = nn.relu(norm("bn2")(h, c, train))
    x = x[..., :self.out_channels]
    if self.upsample:
      h, x = _upsample(h), _upsample(x)
    h = conv(hidden, 3, "conv2")(h, train)
    h = conv(hidden, 3, "conv3")(nn.relu(norm("bn3")(h, c, train)), train)
    h = conv(self.out_channels, 1, "conv4")(nn.relu(norm("bn4")(h, c, train)), train)
    return h + x


class DeepDBlock(nn.Module):
  """BigGAN-deep's down-block: ReLU then a bottleneck (1x1 to a quarter of the output width,
  two 3x3, ReLU, average-pool, 1x1 out); the shortcut pools and, where the width grows, appends
  a 1x1 convolution's channels to the input's."""
  out_channels: int
  downsample: bool
  weight_init: str
  sn_eps: float

  @nn.compact
  def __call__(self, x, train: bool = True):
    conv = lambda f, size, name: SNConv(f, size, weight_init=self.weight_init, eps=self.sn_eps,
                                        name=name)
    hidden = self.out_channels // 4
    h = conv(hidden, 1, "conv1")(nn.relu(x), train)
    h = conv(hidden, 3, "conv2")(nn.relu(h), train)
    h = nn.relu(conv(hidden, 3, "conv3")(nn.relu(h), train))
    if self.downsample:
      h, x = _avg_pool(h), _avg_pool(x)
    h = conv(self.out_channels, 1, "conv4")(h, train)
    if x.shape[-1] != self.out_channels:
      x = jnp.concatenate([x, conv(self.out_channels - x.shape[-1], 1, "conv_sc")(x, train)],
                          axis=-1)
    return h + x


class BigGANDeepGenerator(nn.Module):
  """BigGAN-deep's G: z (B, latent_dim), labels (B,) -> images (B, R, R, C) in [-1, 1].

  [shared(class), z] (the official G_shared with hier, which BigGAN-deep's code needs) feeds
  the input linear map and every conditional batch norm; two bottleneck blocks a stage, the
  second upsampling; attention after the stages at `attention`."""
  resolution: int
  channels: int = 3
  latent_dim: int = 128
  num_classes: int = 0
  ch: int = 128
  attention: tuple[int, ...] = (64,)
  shared_dim: int = 128
  weight_init: str = "ortho"
  sn_eps: float = 1e-8
  bn_eps: float = 1e-5
  axis_name: str | None = None
  conditioning: str = "cbn"

  @nn.compact
  def __call__(self, z, y=None, train: bool = True):
    ins, outs, placed = G_ARCH[self.resolution]
    _check(self.resolution, self.attention, placed, "g")
    if not self.num_classes or y is None:
      raise ValueError("model='biggan_deep' is class-conditional: give it labelled data and "
                       "g_conditioning=cbn")
    shared = Embedding(self.num_classes, self.shared_dim, weight_init=self.weight_init,
                       name="shared")(y)
    c = jnp.concatenate([shared, z], axis=1)
    h = SNLinear(ins[0] * self.ch * BOTTOM ** 2, weight_init=self.weight_init, eps=self.sn_eps,
                 name="linear")(c, train)
    h = h.reshape(h.shape[0], ins[0] * self.ch, BOTTOM, BOTTOM).transpose(0, 2, 3, 1)
    # The official G lists each block apart (stage s's k-th is its `blocks.{2s + k}`) and
    # appends attention to the stage's last: numbered here the same way.
    for stage, (width_in, width_out, res) in enumerate(zip(ins, outs, placed)):
      for k in range(DEEP_DEPTH):
        index = DEEP_DEPTH * stage + k
        out = (width_in if k == 0 else width_out) * self.ch
        h = DeepGBlock(out, k == DEEP_DEPTH - 1, self.weight_init, self.sn_eps, self.bn_eps,
                       self.axis_name, name=f"block{index}")(h, c, train)
      if res in self.attention:
        h = Attention(self.weight_init, self.sn_eps, name=f"attention{index}")(h, train)
    h = nn.relu(BatchNorm(1e-5, self.axis_name, name="output_bn")(h, train))
    h = SNConv(self.channels, 3, weight_init=self.weight_init, eps=self.sn_eps,
               name="output_conv")(h, train)
    return jnp.tanh(h)


class BigGANDeepDiscriminator(nn.Module):
  """BigGAN-deep's D: images (B, R, R, C), labels (B,) -> logits (B,): a 3x3 input
  convolution, two bottleneck blocks a stage (the first downsampling), attention after the
  stages at `attention`, ReLU, a sum over space, a linear output plus the class projection."""
  resolution: int
  num_classes: int = 0
  ch: int = 128
  attention: tuple[int, ...] = (64,)
  weight_init: str = "ortho"
  sn_eps: float = 1e-8
  conditioning: str = "projection"

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    ins, outs, downs, placed = _row(D_DEEP_ARCH, self.resolution, "biggan_deep")
    _check(self.resolution, self.attention, placed, "d")
    h = SNConv(ins[0] * self.ch, 3, weight_init=self.weight_init, eps=self.sn_eps,
               name="input_conv")(x, train)
    # The official D lists a stage's blocks together (`blocks.{s}.{k}`, attention after them).
    for index, (out, down, res) in enumerate(zip(outs, downs, placed)):
      for k in range(DEEP_DEPTH):
        h = DeepDBlock(out * self.ch, down and k == 0, self.weight_init, self.sn_eps,
                       name=f"block{index}_{k}")(h, train)
      if res in self.attention:
        h = Attention(self.weight_init, self.sn_eps,
                      name=f"attention{index}_{DEEP_DEPTH}")(h, train)
    return _projection_output(self, h, y, train)


@dataclasses.dataclass(frozen=True)
class BigGANSettings:
  """The BigGAN and BigGAN-deep players' sizes (the runner's `biggan` config section); the
  defaults are the official code's. BigGAN-deep needs `shared_embedding` and `hierarchical_z`
  (its G takes [shared(class), z] everywhere) and does not read `d_wide`."""
  g_ch: int = option(64, "biggan: G's width multiplier (the official G_ch; ImageNet: 96).",
                     at_least=1)
  d_ch: int = option(64, "biggan: D's width multiplier (D_ch).", at_least=1)
  g_attention: str = option("64", "biggan: resolutions of G's self-attention blocks, "
                            "comma-separated (G_attn); 0 = none.", check=attention_resolutions)
  d_attention: str = option("64", "biggan: resolutions of D's self-attention blocks (D_attn); "
                            "0 = none.", check=attention_resolutions)
  shared_embedding: bool = option(False, "biggan: one class embedding shared by every "
                                  "block's conditional batch norm, through linear gains and "
                                  "biases (G_shared); off: each norm embeds the class itself. "
                                  "(biggan_deep: required.)")
  shared_dim: int = option(0, "biggan: size of the shared embedding (0: latent_dim).",
                           at_least=0)
  hierarchical_z: bool = option(False, "biggan: split z into one chunk for the input layer and "
                                "one per block, each appended to the shared embedding "
                                "(hier; needs --shared_embedding; biggan_deep: required, "
                                "and the whole z goes to every block).")
  d_wide: bool = option(True, "biggan: D's blocks convolve at their output width (D_wide; "
                        "not biggan_deep's).")
  biggan_init: str = option("ortho", "biggan: weight initialisation (G_init, D_init).",
                            choices=lambda: INITS)
  sn_eps: float = option(1e-8, "biggan: epsilon of the spectral norm's normalisation "
                         "(SN_eps; ImageNet: 1e-6).", above=0)
  bn_eps: float = option(1e-5, "biggan: epsilon of G's batch norms (BN_eps).", above=0)


def _check_conditioning(spec: registry.PairSpec, model: str) -> None:
  if spec.g_conditioning != "cbn" or spec.d_conditioning != "projection":
    raise ValueError(f"model={model!r} is class-conditional: it needs g_conditioning=cbn and "
                     f"d_conditioning=projection; got {spec.g_conditioning} and "
                     f"{spec.d_conditioning}")


def players(spec: registry.PairSpec, settings: BigGANSettings):
  """Returns the BigGAN pair at the data's resolution (32, 64, 128 or 256 px)."""
  _check_conditioning(spec, "biggan")
  if settings.hierarchical_z and not settings.shared_embedding:
    raise ValueError("hierarchical_z needs shared_embedding: the z chunks are appended to the "
                     "shared class embedding")
  resolution, channels = spec.data_shape[0], spec.data_shape[2]
  _check(resolution, attention_resolutions(settings.g_attention), G_ARCH[resolution][2], "g")
  _check(resolution, attention_resolutions(settings.d_attention), D_ARCH[resolution][3], "d")
  shared_dim = (settings.shared_dim or spec.latent_dim) if settings.shared_embedding else 0
  generator = BigGANGenerator(
      resolution, channels, spec.latent_dim, spec.num_classes, settings.g_ch,
      attention_resolutions(settings.g_attention), settings.hierarchical_z, shared_dim,
      settings.biggan_init, settings.sn_eps, settings.bn_eps, spec.bn_axis)
  discriminator = BigGANDiscriminator(
      resolution, spec.num_classes, settings.d_ch, attention_resolutions(settings.d_attention),
      settings.d_wide, settings.biggan_init, settings.sn_eps)
  return generator, discriminator


def deep_players(spec: registry.PairSpec, settings: BigGANSettings):
  """Returns the BigGAN-deep pair at the data's resolution (32, 64, 128 or 256 px). G takes
  [shared(class), z] everywhere (shared_dim, or latent_dim when 0), which the official code
  asks for as --G_shared --hier: here `shared_embedding` and `hierarchical_z`, required.
  `d_wide` is not read (nor is the official D's `wide`)."""
  _check_conditioning(spec, "biggan_deep")
  if not (settings.shared_embedding and settings.hierarchical_z):
    raise ValueError("model='biggan_deep' needs --shared_embedding and --hierarchical_z: its G "
                     "feeds [shared(class), z] to every block, which BigGAN-PyTorch's "
                     "BigGANdeep.py runs only with --G_shared --hier")
  resolution, channels = spec.data_shape[0], spec.data_shape[2]
  _check(resolution, attention_resolutions(settings.g_attention), G_ARCH[resolution][2], "g")
  _check(resolution, attention_resolutions(settings.d_attention), D_DEEP_ARCH[resolution][3],
         "d")
  generator = BigGANDeepGenerator(
      resolution, channels, spec.latent_dim, spec.num_classes, settings.g_ch,
      attention_resolutions(settings.g_attention), settings.shared_dim or spec.latent_dim,
      settings.biggan_init, settings.sn_eps, settings.bn_eps, spec.bn_axis)
  discriminator = BigGANDeepDiscriminator(
      resolution, spec.num_classes, settings.d_ch, attention_resolutions(settings.d_attention),
      settings.biggan_init, settings.sn_eps)
  return generator, discriminator


registry.register(registry.Model("biggan", players, latent_dim=128, settings=BigGANSettings,
                                 section="biggan", resolutions=tuple(G_ARCH)))
registry.register(registry.Model("biggan_deep", deep_players, latent_dim=128,
                                 settings=BigGANSettings, section="biggan",
                                 resolutions=tuple(G_ARCH)))
