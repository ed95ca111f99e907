"""StyleGAN2's players (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", in the configurations of "Training Generative Adversarial Networks with Limited
Data"). Every layer has an equalised learning rate (`equalized`); activations are leaky
ReLU(0.2) × √2.

Generator = mapping network + synthesis network:
- mapping: z normalised to the sphere (and, when conditional, a label embedding normalised
  the same way, appended), then `mapping_layers` dense layers at a 0.01 learning-rate
  multiplier, giving w. A running mean of w (β = 0.995 per training call) is kept as model
  state for the truncation trick: at sampling w ← w̄ + ψ (w − w̄).
- synthesis: a learned 4×4 constant, then one block per resolution up to the image's: two
  3×3 modulated convolutions (the first upsampling 2× with the [1, 3, 3, 1] filter) each
  followed by per-pixel noise times a learned strength (zero at init), a bias and the
  activation; each block adds its own 1×1 modulated, not demodulated, "toRGB" output to the
  upsampled image so far (the skip architecture). Each layer takes its own w (one per
  layer, `num_ws`); in training, with probability `mixing_prob`, the layers from a random
  cutoff on take the w of a second z (style mixing regularisation, one cutoff per batch).
- a modulated convolution scales the kernel's input channels by a style s (a dense map of w,
  bias 1) and, demodulated, divides each output channel's kernel by its norm; computed as
  (x · s) ⊛ W · d with d = 1 / √(Σ_{k,i} (W s)² + 1e-8), equal to convolving each sample with
  its own kernel (`modulated_conv`; the test holds it to the per-sample form).

Discriminator: a 1×1 "fromRGB" at the image's resolution, blocks of two 3×3 convolutions
(the second a filtered stride-2 downsampling) down to 4×4, each with a 1×1 downsampling skip
and the sum scaled by √½ (`architecture="resnet"`, the default) or without (`"orig"`, ADA's
CIFAR-10 D); then the minibatch standard deviation (one feature over groups
of 4), a 3×3 convolution, a dense layer and the output: a logit, or, conditional, the
projection of D's feature onto an embedding of the label made by its own mapping network,
divided by √dim.

Widths: min(channel_base / resolution, channel_max) at each resolution.

Randomness: the noise inputs and style mixing draw from the "noise" stream, which training
and sampling must provide (`jaxgan.players` passes a key from the step's or the sampler's);
applying G without it raises, so that noise is never silently off.

Resampling convolutions compute the official functions exactly, borders included:
downsampling filters (zero-padded by 2) and then convolves with stride 2; upsampling is a
stride-2 transposed convolution (no padding, so the (2H + 1)² result keeps every term) and
then the [1, 3, 3, 1] filter with one pixel of zeros a side, as NVIDIA's `conv2d_resample`
does. The upsampling layers' kernels are applied as a true convolution (flipped), the other
layers' as a correlation, as the official code applies them, so official weights load as they
are (`jaxgan.convert.stylegan2`). Filtering first and convolving "same" after, as jaxgan did
before, differs at each layer's outer ring, and the difference spreads inward layer by layer:
at 32 px it changed every pixel (BUILD_NOTES, "StyleGAN2 against the official code").

Noise inputs (`noise_mode`): "random" draws fresh noise from the "noise" stream (training
always does); "const" uses each layer's fixed noise image, kept in the "buffers" collection
(drawn at initialisation, or an official network's `noise_const`); "none" adds none.
"""

import dataclasses
import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.models import equalized, layers, registry, resample
from jaxgan.options import option


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
  return min(channel_base // resolution, channel_max)


def block_resolutions(resolution: int) -> list[int]:
  """[4, 8, …, resolution]; raises unless `resolution` is a power of two from 8 up."""
  log = int(round(math.log2(resolution))) if resolution > 0 else 0
  if resolution < 8 or 2 ** log != resolution:
    raise ValueError(f"StyleGAN2 needs a square power-of-two resolution of at least 8 px; "
                     f"got {resolution}")
  return [2 ** i for i in range(2, log + 1)]


CONV_CLAMP = 256.0  # with mixed precision every layer's output is clipped to ± this (× gain)
# (the official code clips at its `conv_clamp` in every precision; `conv_clamp` here does)


def block_dtype(res: int, resolution: int, bf16_resolutions: int):
  """Returns bfloat16 for the blocks of the `bf16_resolutions` highest resolutions (none
  below 8 px), else float32: StyleGAN2-ADA's mixed precision (its num_fp16_res)."""
  if not bf16_resolutions:
    return jnp.float32
  lowest = max(resolution // 2 ** (bf16_resolutions - 1), 8)
  return jnp.bfloat16 if res >= lowest else jnp.float32


def style_layers(resolution: int) -> list[str]:
  """What each of G's per-layer latents drives, by index: "4: conv", "8: up-conv, 4: toRGB",
  … (a toRGB shares its w with the next block's upsampling convolution)."""
  names = []
  for i, res in enumerate(block_resolutions(resolution)):
    if i:
      names[-1] = f"{res}: up-conv, {names[-1]}"
    names += [f"{res}: conv", f"{res}: toRGB"]
  return names


def layer_mask(chosen: Sequence[int], num_ws: int) -> np.ndarray:
  """A boolean mask of the num_ws per-layer latents, True at the indices in `chosen`."""
  chosen = [int(i) for i in chosen]
  bad = [i for i in chosen if not 0 <= i < num_ws]
  if not chosen or bad:
    raise ValueError(f"style-mixing layers {chosen}: give indices in 0..{num_ws - 1} (this "
                     f"generator has {num_ws} per-layer latents)")
  return np.isin(np.arange(num_ws), chosen)


def _clip(x: jax.Array, clamp: float | None) -> jax.Array:
  return x if clamp is None else jnp.clip(x, -clamp, clamp)


def conv2d(x: jax.Array, w: jax.Array, stride: int = 1, padding="SAME") -> jax.Array:
  return jax.lax.conv_general_dilated(x, w.astype(x.dtype), (stride, stride), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def modulated_conv(x: jax.Array, w: jax.Array, styles: jax.Array, demodulate: bool = True,
                   eps: float = 1e-8) -> jax.Array:
  """x (B, H, W, I) convolved (SAME) with each sample's kernel w[…, i, o] · styles[b, i],
  divided by that kernel's norm over (k, k, i) if `demodulate`: (B, H, W, O)."""
  y = conv2d(x * styles[:, None, None, :].astype(x.dtype), w)
  if demodulate:
    y = y * demodulation(w, styles, eps).astype(y.dtype)
  return y


def demodulation(w: jax.Array, styles: jax.Array, eps: float = 1e-8) -> jax.Array:
  """Returns 1 / ‖w · styles[b]‖ over (k, k, i) for each sample and output: (B, 1, 1, O)."""
  norms = jnp.einsum("bi,io->bo", jnp.square(styles), jnp.sum(jnp.square(w), axis=(0, 1)))
  return jax.lax.rsqrt(norms + eps)[:, None, None, :]


def _noise_key(module: nn.Module) -> jax.Array | None:
  if module.is_initializing():
    return None
  if not module.has_rng("noise"):
    raise ValueError(f"{type(module).__name__} draws noise: apply it with rngs={{'noise': "
                     f"key}} (jaxgan's players pass one in training and sampling)")
  return module.make_rng("noise")


NOISE_MODES = ("random", "const", "none")


def up_conv(x: jax.Array, w: jax.Array) -> jax.Array:
  """x (B, H, W, I) upsampled 2x and convolved with the k×k kernel w, as the official layer:
  a stride-2 transposed convolution of x by w (a true convolution of the zero-interleaved x,
  kept whole: (2H + k − 2)²), then the [1, 3, 3, 1] filter with gain 4 and `(k − 1) // 2`
  zeros a side, giving (B, 2H, 2W, O)."""
  k = w.shape[0]
  y = jax.lax.conv_general_dilated(
      x, jnp.flip(w, (0, 1)).astype(x.dtype), (1, 1), [(k - 1, k - 1)] * 2,
      lhs_dilation=(2, 2), dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return resample.blur(y, pad=(k - 1) // 2) * 4.0


class SynthesisLayer(nn.Module):
  """Modulated 3×3 convolution (upsampling 2× if `up`), noise, bias, activation."""
  features: int
  resolution: int
  up: bool = False
  use_noise: bool = True
  noise_mode: str = "random"
  clamp: float | None = None

  @nn.compact
  def __call__(self, x, w):
    width = x.shape[-1]
    styles = equalized.Dense(width, bias_init=1.0, name="affine")(w)
    kernel = equalized.weight(self, "kernel", (3, 3, width, self.features))
    if self.up:
      y = up_conv(x * styles[:, None, None, :].astype(x.dtype), kernel)
      y = y * demodulation(kernel, styles).astype(y.dtype)
    else:
      y = modulated_conv(x, kernel, styles)
    if self.use_noise:
      strength = self.param("noise_strength", nn.initializers.zeros, ())
      const = self.variable(
          "buffers", "noise_const",
          lambda: jax.random.normal(self.make_rng("params"), (self.resolution,) * 2))
      if self.noise_mode == "const":
        y = y + (const.value[None, :, :, None] * strength).astype(y.dtype)
      elif self.noise_mode == "random":
        key = _noise_key(self)
        if key is not None:
          noise = jax.random.normal(key, (*y.shape[:3], 1), y.dtype)
          y = y + noise * strength.astype(y.dtype)
    return _clip(equalized.lrelu(y + equalized.bias(self, "bias", self.features).astype(
        y.dtype)), self.clamp)


class ToRGB(nn.Module):
  """1×1 modulated convolution to the image's channels, not demodulated, plus a bias."""
  channels: int
  clamp: float | None = None

  @nn.compact
  def __call__(self, x, w):
    width = x.shape[-1]
    styles = equalized.Dense(width, bias_init=1.0, name="affine")(w)
    y = modulated_conv(x, equalized.weight(self, "kernel", (1, 1, width, self.channels)),
                       styles, demodulate=False)
    return _clip(y + equalized.bias(self, "bias", self.channels).astype(y.dtype), self.clamp)


class MappingNetwork(nn.Module):
  """z [, labels] → w: normalised inputs, `num_layers` dense layers at `lr_mul`."""
  w_dim: int
  num_layers: int = 8
  num_classes: int = 0
  lr_mul: float = 0.01

  @nn.compact
  def __call__(self, z=None, y=None):
    parts = [] if z is None else [equalized.normalize_2nd_moment(z)]
    if self.num_classes:
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=jnp.float32)
      parts.append(equalized.normalize_2nd_moment(
          equalized.Dense(self.w_dim, name="embed")(onehot)))
    x = jnp.concatenate(parts, axis=-1)
    for i in range(self.num_layers):
      x = equalized.Dense(self.w_dim, lr_mul=self.lr_mul, activate=True, name=f"fc{i}")(x)
    return x


class StyleGAN2Generator(nn.Module):
  """z (B, latent_dim) [, labels (B,)] → images (B, R, R, C)."""
  resolution: int
  channels: int
  latent_dim: int = 512
  w_dim: int = 512
  mapping_layers: int = 8
  channel_base: int = 32768
  channel_max: int = 512
  num_classes: int = 0
  conditioning: str = "concat"  # the label embedding beside z, into the mapping
  mixing_prob: float = 0.9
  truncation_psi: float = 1.0  # applied when not training
  w_avg_beta: float = 0.995
  use_noise: bool = True
  noise_mode: str = "random"  # at sampling: "const" or "none" (`NOISE_MODES`)
  bf16_resolutions: int = 0  # mixed precision: the blocks of this many top resolutions
  conv_clamp: float = 0.0  # every layer clipped to ± this in any precision (0: `CONV_CLAMP`
  # with bf16 blocks only); the official configurations set 256

  @property
  def num_ws(self) -> int:
    return 2 * len(block_resolutions(self.resolution))

  @nn.compact
  def __call__(self, z, y=None, train: bool = True, ws_delta=None, mix_z=None,
               mix_layers: Sequence[int] = ()):
    """`ws_delta` (B, num_ws, w_dim), added to the per-layer latents after mixing, is how
    path-length regularisation differentiates the image in w (`jaxgan.regularisers.path_length`).

    `mix_z` (B, latent_dim) is style mixing at sampling (train=False): the layers named in
    `mix_layers` (indices of the num_ws per-layer latents, `style_layers`) take the w of
    mix_z, truncated as z's is, and the others z's."""
    layers.check_conditioning(self.num_classes, self.conditioning, ("concat",))
    if self.noise_mode not in NOISE_MODES:
      raise ValueError(f"noise_mode {self.noise_mode!r}: give one of {NOISE_MODES}")
    if train and self.noise_mode != "random" and not self.is_initializing():
      raise ValueError(f"noise_mode {self.noise_mode!r} is for sampling; training draws "
                       f"random noise")
    resolutions = block_resolutions(self.resolution)
    mapping = MappingNetwork(self.w_dim, self.mapping_layers, self.num_classes,
                             name="mapping")
    w = mapping(z, y)
    w_avg = self.variable("stats", "w_avg", jnp.zeros, (self.w_dim,))
    if train and not self.is_initializing():
      mean = jnp.mean(jax.lax.stop_gradient(w), axis=0)
      w_avg.value = mean + self.w_avg_beta * (w_avg.value - mean)

    def truncate(w):
      if train or self.truncation_psi == 1.0:
        return w
      return w_avg.value + self.truncation_psi * (w - w_avg.value)

    ws = jnp.broadcast_to(truncate(w)[:, None, :], (w.shape[0], self.num_ws, self.w_dim))
    if mix_z is not None:
      if train:
        raise ValueError("mix_z is style mixing at sampling (train=False); training mixes "
                         "by mixing_prob")
      chosen = layer_mask(mix_layers, self.num_ws)
      ws = jnp.where(chosen[None, :, None], truncate(mapping(mix_z, y))[:, None, :], ws)
    if train and self.mixing_prob > 0:
      ws = self._mix(ws, mapping, z, y)
    if ws_delta is not None:
      ws = ws + ws_delta.astype(ws.dtype)

    widths = {r: channels_at(r, self.channel_base, self.channel_max) for r in resolutions}
    const = self.param("const", nn.initializers.normal(1.0), (4, 4, widths[4]))
    x = jnp.broadcast_to(const[None].astype(z.dtype), (z.shape[0], 4, 4, widths[4]))
    image, index = None, 0
    clamp = self.conv_clamp or (CONV_CLAMP if self.bf16_resolutions else None)
    for res in resolutions:
      x = x.astype(block_dtype(res, self.resolution, self.bf16_resolutions))
      with_up = res > 4
      if with_up:
        x = SynthesisLayer(widths[res], res, up=True, use_noise=self.use_noise,
                           noise_mode=self.noise_mode, clamp=clamp,
                           name=f"b{res}_conv0")(x, ws[:, index])
        index += 1
      x = SynthesisLayer(widths[res], res, use_noise=self.use_noise,
                         noise_mode=self.noise_mode, clamp=clamp,
                         name=f"b{res}_conv1")(x, ws[:, index])
      index += 1
      rgb = ToRGB(self.channels, clamp=clamp, name=f"b{res}_torgb")(x, ws[:, index])
      rgb = rgb.astype(z.dtype)  # the image accumulates in the input's precision
      image = rgb if image is None else resample.upsample(image) + rgb
    return image

  def _mix(self, ws, mapping, z, y):
    """Style mixing: from a random layer on (one cutoff per batch), the w of a second z."""
    key = _noise_key(self)
    if key is None:
      return ws
    k_z, k_cut, k_use = jax.random.split(key, 3)
    w2 = mapping(jax.random.normal(k_z, z.shape, z.dtype), y)
    cutoff = jax.random.randint(k_cut, (), 1, self.num_ws)
    cutoff = jnp.where(jax.random.uniform(k_use, ()) < self.mixing_prob, cutoff, self.num_ws)
    later = (jnp.arange(self.num_ws) >= cutoff)[None, :, None]
    return jnp.where(later, w2[:, None, :], ws)


class DConv(nn.Module):
  """Equalised k×k convolution (+ bias), optionally a filtered stride-2 downsampling, then
  leaky ReLU × √2 × `gain` if `activate`, else × `gain`."""
  features: int
  size: int = 3
  down: bool = False
  use_bias: bool = True
  activate: bool = True
  gain: float = 1.0
  clamp: float | None = None  # of the output, times `gain`

  @nn.compact
  def __call__(self, x):
    w = equalized.weight(self, "kernel", (self.size, self.size, x.shape[-1], self.features))
    if self.down and self.size == 1:
      y = conv2d(resample.downsample(x), w)
    elif self.down:  # [1,3,3,1] with 2 px of zeros a side, then a VALID stride-2 conv
      y = conv2d(resample.blur(x, pad=(self.size + 1) // 2), w, stride=2, padding="VALID")
    else:
      y = conv2d(x, w)
    if self.use_bias:
      y = y + equalized.bias(self, "bias", self.features).astype(y.dtype)
    y = equalized.lrelu(y, equalized.LRELU_GAIN * self.gain) if self.activate else (
        y * self.gain)
    return _clip(y, None if self.clamp is None else self.clamp * self.gain)


def minibatch_stddev(x: jax.Array, group_size: int = 4, num_channels: int = 1) -> jax.Array:
  """Appends `num_channels` features: the standard deviation of each feature over a group of
  samples (samples i, i + n, i + 2n, … with n = batch / group), averaged over the feature's
  channels and positions, the same for every sample of the group."""
  batch, h, w, c = x.shape
  group = min(group_size, batch)
  if batch % group or c % num_channels:
    raise ValueError(f"the minibatch standard deviation needs a batch divisible by its group "
                     f"({group}) and channels by {num_channels}; got batch {batch}, {c} "
                     f"channels")
  y = x.astype(jnp.float32).reshape(group, batch // group, h, w, num_channels,
                                    c // num_channels)
  y = jnp.sqrt(jnp.mean(jnp.square(y - jnp.mean(y, axis=0)), axis=0) + 1e-8)
  y = jnp.mean(y, axis=(1, 2, 4))                       # (n, num_channels)
  y = jnp.tile(y, (group, 1)).astype(x.dtype)          # sample j takes group j mod n
  return jnp.concatenate([x, jnp.broadcast_to(y[:, None, None, :], (batch, h, w,
                                                                   num_channels))], axis=-1)


D_ARCHITECTURES = ("resnet", "orig")


class StyleGAN2Discriminator(nn.Module):
  """images (B, R, R, C) [, labels (B,)] → logits (B,)."""
  resolution: int
  channel_base: int = 32768
  channel_max: int = 512
  num_classes: int = 0
  conditioning: str = "projection"
  mapping_layers: int = 8  # of the label's embedding (conditional)
  mbstd_group: int = 4
  mbstd_channels: int = 1
  bf16_resolutions: int = 0  # mixed precision: the blocks of this many top resolutions
  conv_clamp: float = 0.0  # as G's
  architecture: str = "resnet"  # or "orig": no 1×1 skips (ADA's CIFAR-10 configuration)

  @nn.compact
  def __call__(self, x, y=None, train: bool = True):
    del train
    layers.check_conditioning(self.num_classes, self.conditioning, ("projection",))
    if self.architecture not in D_ARCHITECTURES:
      raise ValueError(f"StyleGAN2's D architecture {self.architecture!r}: give one of "
                       f"{D_ARCHITECTURES}")
    residual = self.architecture == "resnet"
    gain = math.sqrt(0.5) if residual else 1.0
    resolutions = block_resolutions(self.resolution)[::-1]  # R, …, 8, 4
    width = lambda r: channels_at(r, self.channel_base, self.channel_max)
    clamp = self.conv_clamp or (CONV_CLAMP if self.bf16_resolutions else None)
    dtype = lambda res: block_dtype(res, self.resolution, self.bf16_resolutions)
    out_dtype = x.dtype
    x = DConv(width(self.resolution), 1, clamp=clamp,
              name=f"b{self.resolution}_fromrgb")(x.astype(dtype(self.resolution)))
    for res in resolutions[:-1]:
      x = x.astype(dtype(res))
      h = DConv(width(res), clamp=clamp, name=f"b{res}_conv0")(x)
      h = DConv(width(res // 2), down=True, gain=gain, clamp=clamp, name=f"b{res}_conv1")(h)
      if residual:
        h = h + DConv(width(res // 2), 1, down=True, use_bias=False, activate=False,
                      gain=gain, name=f"b{res}_skip")(x)
      x = h
    x = x.astype(out_dtype)  # the 4×4 epilogue in the input's precision
    c4 = width(4)
    x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
    x = DConv(c4, clamp=clamp, name="b4_conv")(x)
    x = equalized.Dense(c4, activate=True, name="b4_fc")(x.reshape(x.shape[0], -1))
    if not self.num_classes:
      return equalized.Dense(1, name="b4_out")(x)[:, 0]
    out = equalized.Dense(c4, name="b4_out")(x)
    cmap = MappingNetwork(c4, self.mapping_layers, self.num_classes, name="mapping")(None, y)
    return jnp.sum(out * cmap.astype(out.dtype), axis=-1) / math.sqrt(c4)


@dataclasses.dataclass(frozen=True)
class StyleGAN2Settings:
  """The StyleGAN2 players' sizes (the runner's `stylegan2` config section); the defaults are
  the official ones."""
  channel_base: int = option(32768, "stylegan2: channels at resolution r are min("
                             "channel_base / r, channel_max) (ADA's paper256: 16384).",
                             at_least=1)
  channel_max: int = option(512, "stylegan2: the most channels of any layer.", at_least=1)
  mapping_layers: int = option(8, "stylegan2: dense layers of the mapping network (ADA's "
                               "CIFAR-10: 2).", at_least=1)
  style_mixing: float = option(0.9, "stylegan2: probability that a training batch mixes two "
                               "latents' styles (0 = off).", at_least=0.0, at_most=1.0)
  mbstd_group: int = option(4, "stylegan2: samples per group of D's minibatch standard "
                            "deviation (the batch on each device must divide by it).",
                            at_least=1)
  mbstd_channels: int = option(1, "stylegan2: features D's minibatch standard deviation "
                               "appends (its channels split into this many groups).",
                               at_least=1)
  w_dim: int = option(512, "stylegan2: dimension of the intermediate latent w.", at_least=1)
  d_architecture: str = option("resnet", "stylegan2: D's blocks with 1x1 residual skips "
                               "(resnet), or without (orig: ADA's CIFAR-10 D).",
                               choices=lambda: D_ARCHITECTURES)
  conv_clamp: float = option(0.0, "stylegan2: clip every convolution's output to +- this "
                             "in any precision, as the official code does with its conv_clamp; "
                             "0 = only the bfloat16 blocks, at 256.", at_least=0)
  d_mapping_layers: int = option(8, "stylegan2: dense layers of a conditional D's label "
                                 "mapping.", at_least=1)
  bf16_resolutions: int = option(0, "stylegan2: mixed precision, the blocks of this many "
                                 "highest resolutions (none below 8 px) in bfloat16, every "
                                 "layer clipped to +-256 (the paper's 4); 0 = float32.",
                                 at_least=0)


def players(spec: registry.PairSpec, settings: StyleGAN2Settings):
  """Returns the StyleGAN2 pair at the data's resolution (a power of two from 8 px); D's
  label mapping has its own depth (`d_mapping_layers`, officially 8 whatever G's is)."""
  resolution, channels = spec.data_shape[0], spec.data_shape[2]
  s = settings
  sizes = dict(channel_base=s.channel_base, channel_max=s.channel_max,
               bf16_resolutions=s.bf16_resolutions, conv_clamp=s.conv_clamp)
  generator = StyleGAN2Generator(resolution, channels, spec.latent_dim, **sizes,
                                 mapping_layers=s.mapping_layers, mixing_prob=s.style_mixing,
                                 w_dim=s.w_dim, **spec.g_cond)
  discriminator = StyleGAN2Discriminator(resolution, **sizes, mbstd_group=s.mbstd_group,
                                         mbstd_channels=s.mbstd_channels,
                                         architecture=s.d_architecture,
                                         mapping_layers=s.d_mapping_layers, **spec.d_cond)
  return generator, discriminator


registry.register(registry.Model("stylegan2", players, latent_dim=512,
                                 settings=StyleGAN2Settings, section="stylegan2"))
