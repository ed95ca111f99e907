"""Equalised learning rate (Karras et al. 2018, kept by StyleGAN2): layers whose weights are
stored as N(0, 1) / lr_mul and scaled at every call by lr_mul / √fan_in, so that Adam's
per-parameter step moves every layer's output at the same relative speed whatever its fan-in.
A bias is stored as its initial value / lr_mul and used times lr_mul.

`lr_mul` (StyleGAN2's mapping network uses 0.01) slows a layer's effective learning rate by
that factor without touching the optimiser. Activations are leaky ReLU(0.2) times √2, the
gain that keeps a unit-variance input at unit variance.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: jax.Array, gain: float = LRELU_GAIN) -> jax.Array:
  """Leaky ReLU(0.2) times `gain`."""
  return nn.leaky_relu(x, 0.2) * gain


def weight(module: nn.Module, name: str, shape, lr_mul: float = 1.0) -> jax.Array:
  """A weight of `shape` (fan-in every axis but the last) as the layer uses it."""
  w = module.param(name, lambda key, s: jax.random.normal(key, s) / lr_mul, tuple(shape))
  fan_in = math.prod(shape[:-1])
  return w * (lr_mul / math.sqrt(fan_in))


def bias(module: nn.Module, name: str, features: int, init: float = 0.0,
         lr_mul: float = 1.0) -> jax.Array:
  b = module.param(name, lambda key, s: jnp.full(s, init / lr_mul), (features,))
  return b * lr_mul


class Dense(nn.Module):
  """y = x W + b with equalised learning rate, then leaky ReLU × √2 if `activate`."""
  features: int
  lr_mul: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True
  activate: bool = False

  @nn.compact
  def __call__(self, x):
    w = weight(self, "kernel", (x.shape[-1], self.features), self.lr_mul)
    y = x @ w.astype(x.dtype)
    if self.use_bias:
      y = y + bias(self, "bias", self.features, self.bias_init, self.lr_mul).astype(x.dtype)
    return lrelu(y) if self.activate else y


def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  """x / √(mean over the last axis of x² + eps): every vector on the sphere of radius √dim."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)
