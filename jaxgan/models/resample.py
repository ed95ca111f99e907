"""Filtered 2× resampling of NHWC images: the [1, 2, 1] low-pass folded with the 2-tap box of
the resampling itself, i.e. the separable [1, 3, 3, 1] / 8 filter (as upfirdn2d applies it,
zero-padded at the borders).

`upsample(x)` inserts a zero after each pixel, pads, and filters with the kernel scaled by 4
(the up-factor squared, so a constant image stays constant inside): along one axis that is
bilinear interpolation, y[2m] = ¼ x[m−1] + ¾ x[m], y[2m+1] = ¾ x[m] + ¼ x[m+1].
`downsample(x)` filters and keeps every second pixel: y[m] = (x[2m−1] + 3 x[2m] +
3 x[2m+1] + x[2m+2]) / 8 along each axis. Both are written as sums of shifted slices, one
axis at a time, not as depthwise convolutions: XLA:CPU's grouped convolutions and their
gradients are slow (`benchmarks/bench_grouped.py`); these fuse into elementwise passes.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

LOWPASS = (1.0, 2.0, 1.0)


def _pad(x: jax.Array, axis: int, before: int, after: int) -> jax.Array:
  widths = [(0, 0)] * x.ndim
  widths[axis] = (before, after)
  return jnp.pad(x, widths)


def _take(x: jax.Array, axis: int, start: int, stop: int, step: int = 1) -> jax.Array:
  return lax.slice_in_dim(x, start, stop, step, axis)


def _up1d(x: jax.Array, axis: int, taps: np.ndarray) -> jax.Array:
  """2× along `axis`: zero insertion, then the 4-tap filter (×2), as sums of shifted copies."""
  n = x.shape[axis]
  p = _pad(x, axis, 1, 1)  # p[m + 1] = x[m], zero outside
  t = taps * 2.0
  even = t[0] * _take(p, axis, 0, n) + t[2] * _take(p, axis, 1, n + 1)  # y[2m]
  odd = t[1] * _take(p, axis, 1, n + 1) + t[3] * _take(p, axis, 2, n + 2)  # y[2m + 1]
  both = jnp.stack([even, odd], axis=axis + 1)
  shape = list(x.shape)
  shape[axis] = 2 * n
  return both.reshape(shape)


def _down1d(x: jax.Array, axis: int, taps: np.ndarray) -> jax.Array:
  """½ along `axis`: the 4-tap filter at every second pixel, y[m] = Σ_k taps[k] x[2m − 1 + k]."""
  n = x.shape[axis]
  p = _pad(x, axis, 1, 1)
  return sum(float(taps[k]) * _take(p, axis, k, k + n - 1, 2) for k in range(4))


def _taps(lowpass) -> np.ndarray:
  taps = np.convolve(np.asarray(lowpass, np.float64), [1.0, 1.0])
  if taps.shape != (4,):
    raise ValueError(f"the resampling filter must have 3 taps; got {lowpass!r}")
  return taps / taps.sum()


def upsample(x: jax.Array, lowpass=LOWPASS) -> jax.Array:
  """Returns x (B, H, W, C) at (B, 2H, 2W, C)."""
  taps = _taps(lowpass)
  return _up1d(_up1d(x, 1, taps), 2, taps)


def downsample(x: jax.Array, lowpass=LOWPASS) -> jax.Array:
  """Returns x (B, H, W, C) at (B, H/2, W/2, C); H and W must be even."""
  taps = _taps(lowpass)
  return _down1d(_down1d(x, 1, taps), 2, taps)


def blur(x: jax.Array, pad: int, lowpass=LOWPASS) -> jax.Array:
  """Returns x (B, H, W, C) filtered by the [1, 3, 3, 1] / 8 kernel (separable) at every
  pixel, zero-padded by `pad` on each side: (B, H + 2 pad − 3, W + 2 pad − 3, C). A
  stride-2 convolution after it is StyleGAN2's filtered downsampling convolution."""
  taps = _taps(lowpass)
  for axis in (1, 2):
    n = x.shape[axis] + 2 * pad - 3
    p = _pad(x, axis, pad, pad)
    x = sum(float(taps[k]) * _take(p, axis, k, k + n) for k in range(4))
  return x
