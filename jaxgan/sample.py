"""Drawing samples from the generator."""

import functools

import flax.linen as nn
import jax

from jaxgan.state import GANState, as_key


def make_sample_fn(generator: nn.Module):
  """Returns `sample(state, rng, n, use_ema=True)` giving n generated samples.

  Samples come from the EMA of the generator's parameters unless `use_ema` is False,
  with the generator in inference mode (running statistics, no mutation). `rng` is a
  PRNG key or an int seed; the generation itself is one compiled program per (n, use_ema).
  """

  @functools.partial(jax.jit, static_argnames=("n", "use_ema"))
  def generate(state: GANState, key, n: int, use_ema: bool) -> jax.Array:
    params = state.g_ema if use_ema else state.g_params
    z = jax.random.normal(key, (n, generator.latent_dim))
    return generator.apply({"params": params, **state.g_state}, z, train=False)

  def sample(state: GANState, rng, n: int, use_ema: bool = True) -> jax.Array:
    return generate(state, as_key(rng), n, use_ema)

  return sample
