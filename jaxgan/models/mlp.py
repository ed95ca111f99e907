"""Multi-layer perceptron generator and discriminator for low-dimensional data."""

from typing import Callable

import flax.linen as nn
import jax

from jaxgan.models.layers import dense_or_conv

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "tanh": nn.tanh,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "silu": nn.silu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  """Returns the activation function registered under `name`."""
  if name not in ACTIVATIONS:
    raise ValueError(f"unknown activation {name!r}; accepted: {', '.join(sorted(ACTIVATIONS))}")
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Returns `depth` hidden layers of `width` units, then a linear layer of `out_dim`.

  With `spectral_norm` each layer's kernel is divided by its largest singular value."""
  width: int
  depth: int
  out_dim: int
  act: str = "relu"
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    x = x.reshape(x.shape[0], -1)
    for _ in range(self.depth):
      x = activation(self.act)(dense_or_conv(nn.Dense(self.width), x, self.spectral_norm,
                                             train))
    return dense_or_conv(nn.Dense(self.out_dim), x, self.spectral_norm, train)


class MLPGenerator(nn.Module):
  """Maps z of `latent_dim` to samples of `data_dim` (reshaped to `data_shape` if given).

  `tanh_output` bounds the samples to [-1, 1], for pixels (the original GAN on MNIST).
  """
  latent_dim: int = 2
  data_dim: int = 2
  width: int = 128
  depth: int = 2
  act: str = "relu"
  data_shape: tuple[int, ...] = ()
  tanh_output: bool = False

  @nn.compact
  def __call__(self, z, train: bool = True):
    x = MLP(self.width, self.depth, self.data_dim, self.act)(z, train)
    x = nn.tanh(x) if self.tanh_output else x
    return x.reshape(x.shape[0], *self.data_shape) if self.data_shape else x


class MLPDiscriminator(nn.Module):
  """Returns one logit per sample, or `features` outputs per sample (for the MMD losses).

  `spectral_norm` divides every layer's kernel by its largest singular value (one power
  iteration per training call, its state in `batch_stats`; Miyato et al. 2018).
  """
  width: int = 128
  depth: int = 2
  act: str = "relu"
  features: int = 1
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x, train: bool = True):
    out = MLP(self.width, self.depth, self.features, self.act, self.spectral_norm)(x, train)
    return out[:, 0] if self.features == 1 else out
