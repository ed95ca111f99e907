"""MLP players written with `flax.nnx`, the API flax recommends for new code.

The same networks as `jaxgan.models.mlp` (without spectral norm): `depth` hidden layers of
`width` units and an activation, then a linear layer. An NNX module holds its arrays from
construction, so it is built with its own `nnx.Rngs`; the step reaches it through
`jaxgan.players` like any linen module.
"""

import jax
from flax import nnx

from jaxgan.models.mlp import activation


class NNXMLP(nnx.Module):
  """Returns `depth` hidden layers of `width` units, then a linear layer of `out_dim`."""

  def __init__(self, in_dim: int, width: int, depth: int, out_dim: int, act: str = "relu", *,
               rngs: nnx.Rngs):
    self.act = act
    activation(act)  # a bad name fails here, not in the step
    dims = [in_dim] + [width] * depth
    # nnx.List keeps the layers' arrays visible to nnx.split (a plain list is static data).
    layers = [nnx.Linear(a, b, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])]
    self.hidden = nnx.List(layers) if hasattr(nnx, "List") else layers
    self.out = nnx.Linear(dims[-1], out_dim, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.reshape(x.shape[0], -1)
    for layer in self.hidden:
      x = activation(self.act)(layer(x))
    return self.out(x)


class NNXMLPGenerator(nnx.Module):
  """Maps z of `latent_dim` to samples of `data_dim`."""

  def __init__(self, latent_dim: int = 2, data_dim: int = 2, width: int = 128, depth: int = 2,
               act: str = "relu", *, rngs: nnx.Rngs):
    self.latent_dim = latent_dim
    self.mlp = NNXMLP(latent_dim, width, depth, data_dim, act, rngs=rngs)

  def __call__(self, z: jax.Array) -> jax.Array:
    return self.mlp(z)


class NNXMLPDiscriminator(nnx.Module):
  """Returns one logit per sample of `data_dim`."""

  def __init__(self, data_dim: int = 2, width: int = 128, depth: int = 2, act: str = "relu", *,
               rngs: nnx.Rngs):
    self.mlp = NNXMLP(data_dim, width, depth, 1, act, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.mlp(x)[:, 0]
