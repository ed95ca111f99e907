"""MLP players written with `flax.nnx`, the API flax recommends for new code.

The same networks as `jaxgan.models.mlp` (without spectral norm): `depth` hidden layers of
`width` units and an activation, then a linear layer. An NNX module holds its arrays from
construction, so it is built with its own `nnx.Rngs`; the step reaches it through
`jaxgan.players` like any linen module.
"""

import math

import jax
from flax import nnx

from jaxgan.models import registry
from jaxgan.models.mlp import MLPSettings, activation


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


def players(spec: registry.PairSpec, settings: MLPSettings):
  """Returns the flax.nnx MLP pair for 2D data; what it does not have is refused by name."""
  unsupported = {"g_conditioning": spec.g_conditioning != "none",
                 "d_conditioning": spec.d_conditioning != "none",
                 "d_features": settings.d_features != 1, "packing": spec.packing != 1,
                 "pixels": spec.pixels or len(spec.data_shape) != 1}
  if bad := [name for name, is_set in unsupported.items() if is_set]:
    raise ValueError(f"model='mlp_nnx' is the plain MLP pair for 2D data: it has no "
                     f"{', '.join(bad)}; use model='mlp' for those")
  data_dim = math.prod(spec.data_shape)
  generator = NNXMLPGenerator(spec.latent_dim, data_dim, settings.g_width, settings.g_depth,
                              settings.activation, rngs=nnx.Rngs(2 * spec.seed))
  discriminator = NNXMLPDiscriminator(data_dim, settings.d_width, settings.d_depth,
                                      settings.activation, rngs=nnx.Rngs(2 * spec.seed + 1))
  return generator, discriminator


registry.register(registry.Model("mlp_nnx", players, latent_dim=2, settings=MLPSettings,
                                 section="mlp", images=False, d_norm="none", d_norms=("none",)))
