"""Path-length regularisation of G (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN", §3.2), taken lazily: a regulariser of G's cost with its own state.

For a batch of per-layer latents w (B, L, W) and images x = g(w) of H×W pixels, draw
y ~ N(0, I) / √(H·W) shaped like x; a sample's path length is

    a = √( mean over the L layers of Σ over W of (∂⟨x, y⟩/∂w)² ),

the length of J_wᵀ y averaged over layers. The running mean ā moves toward the batch's mean
length, ā ← ā + decay · (mean(a) − ā), and the cost is mean((a − ā)²) with the updated ā.
ā is the regulariser's state (`GANState.objective["path_length"]`), so it is checkpointed and
restored with the run. Taken every `every` G updates with its weight times `every`, on
batch / `batch_shrink` fresh samples, as the official configuration does (2, 4, 2).

The generator must accept `ws_delta`, a perturbation of its per-layer latents, and say their
shape (`num_ws`, `w_dim`): StyleGAN2's does (`jaxgan.models.stylegan2`).
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import schedules
from jaxgan.regularisers import regulariser as regularisers

NAME = "path_length"


class GInputs(NamedTuple):
  """What a regulariser of G can look at in one G update."""
  synthesise: Callable[..., jax.Array]  # (g_params, z, y, ws_delta, key) -> images
  z_of: Callable[[jax.Array, int], jax.Array]  # (key, n) -> this device's z
  g_params: Any
  labels: jax.Array                      # the G update's labels (B,)
  ws_shape: tuple[int, int]              # (num_ws, w_dim) of the generator
  key: jax.Array
  step: jax.Array                        # G updates before this one


def lengths(synthesise, g_params, z, y, ws_shape, key) -> jax.Array:
  """Returns each sample's path length a (see the module's docstring)."""
  noise_key, g_key = jax.random.split(key)
  delta_shape = (z.shape[0], *ws_shape)
  of_delta = lambda d: synthesise(g_params, z, y, d, g_key)
  images = jax.eval_shape(of_delta, jax.ShapeDtypeStruct(delta_shape, z.dtype))
  height, width = images.shape[1:3]
  pl_noise = jax.random.normal(noise_key, images.shape, images.dtype) / jnp.sqrt(
      height * width).astype(images.dtype)
  return lengths_along(of_delta, pl_noise, delta_shape)


def lengths_along(of_delta: Callable[[jax.Array], jax.Array], pl_noise: jax.Array,
                  delta_shape: tuple[int, ...]) -> jax.Array:
  """Returns √(mean over layers of Σ over w of (∂⟨g(w + δ), y⟩/∂δ)²) at δ = 0, per sample:
  the path lengths of the images `of_delta(δ)` along the direction `pl_noise` (y)."""
  delta = jnp.zeros(delta_shape, pl_noise.dtype)
  grads = jax.grad(lambda d: jnp.sum(of_delta(d) * pl_noise))(delta)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def penalty(a: jax.Array, mean: jax.Array, decay: float = 0.01):
  """Returns (mean((a − ā')²), ā') with ā' = ā + decay · (mean(a) − ā) differentiated, as
  the official code; ā' is returned without gradient, as the regulariser's next state."""
  new_mean = mean + decay * (jnp.mean(a) - mean)
  return jnp.mean(jnp.square(a - new_mean)), jax.lax.stop_gradient(new_mean)


def path_length(weight: schedules.Hyper = 2.0, every: int = 4, decay: float = 0.01,
                batch_shrink: int = 2) -> regularisers.Regulariser:
  """Returns the lazy path-length regulariser of G (its cost takes `GInputs`)."""
  if not 0.0 < decay <= 1.0:
    raise ValueError(f"pl_decay must be in (0, 1], got {decay!r}")
  if not isinstance(batch_shrink, int) or batch_shrink < 1:
    raise ValueError(f"pl_batch_shrink must be a positive int, got {batch_shrink!r}")

  def cost(g: GInputs, mean):
    n = max(1, g.labels.shape[0] // batch_shrink)
    z_key, key = jax.random.split(g.key)
    a = lengths(g.synthesise, g.g_params, g.z_of(z_key, n), g.labels[:n], g.ws_shape, key)
    return penalty(a, mean, decay)

  every_step = regularisers.Regulariser(NAME, cost, weight,
                                        init=lambda: jnp.zeros((), jnp.float32), needs=("ws",))
  return regularisers.lazy(every_step, every, count=lambda g: g.step, flag="pl_every")
