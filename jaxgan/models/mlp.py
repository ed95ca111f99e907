"""Multi-layer perceptron generator and discriminator for low-dimensional data."""

import dataclasses
import math
from typing import Callable

import flax.linen as nn
import jax

from jaxgan.models import registry
from jaxgan.models.layers import dense_or_conv
from jaxgan.options import option

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


@dataclasses.dataclass(frozen=True)
class MLPSettings:
  """The MLP players' sizes (`mlp` and `mlp_nnx`; the runner's `mlp` config section)."""
  g_width: int = option(128, "Generator hidden units per layer (mlp).", at_least=1)
  g_depth: int = option(2, "Generator hidden layers (mlp).", at_least=1)
  d_width: int = option(128, "Discriminator hidden units per layer (mlp).", at_least=1)
  d_depth: int = option(2, "Discriminator hidden layers (mlp).", at_least=1)
  activation: str = option("relu", "Hidden activation (mlp).",
                           choices=lambda: sorted(ACTIVATIONS))
  d_features: int = option(1, "Outputs per sample of the mlp D (> 1 only with an mmd_* loss).",
                           at_least=1)


def players(spec: registry.PairSpec, settings: MLPSettings):
  """Returns the MLP pair for samples of any shape (images are flattened)."""
  if spec.conditional:
    raise ValueError("model='mlp' is not conditional; use an image model or no conditioning")
  shape = spec.data_shape
  generator = MLPGenerator(latent_dim=spec.latent_dim, data_dim=math.prod(shape),
                           width=settings.g_width, depth=settings.g_depth,
                           act=settings.activation,
                           data_shape=tuple(shape) if len(shape) > 1 else (),
                           tanh_output=spec.pixels)
  return generator, MLPDiscriminator(width=settings.d_width, depth=settings.d_depth,
                                     act=settings.activation, features=settings.d_features,
                                     spectral_norm=spec.d_norm == "spectral")


registry.register(registry.Model("mlp", players, latent_dim=2, settings=MLPSettings,
                                 section="mlp", images=False, d_norm="none",
                                 d_norms=("spectral", "none")))
