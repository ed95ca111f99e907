"""Shared tiny GAN pieces for the tests."""

import jax
import jax.numpy as jnp
import optax
import pytest

from jaxgan.models import MLPDiscriminator, MLPGenerator


@pytest.fixture
def players():
  """Returns a tiny (generator, discriminator, g_tx, d_tx) with distinct optimizers."""
  generator = MLPGenerator(latent_dim=3, data_dim=2, width=16, depth=2)
  discriminator = MLPDiscriminator(width=16, depth=2)
  return generator, discriminator, optax.adam(1e-2, b1=0.5), optax.adam(2e-2, b1=0.0, b2=0.9)


def batches(num, d_steps, batch_size, seed=0):
  """Returns `num` batches {'x': (d_steps, batch_size, 2)} from a fixed key."""
  key = jax.random.key(seed)
  return [{"x": jax.random.normal(jax.random.fold_in(key, i), (d_steps, batch_size, 2)) + 2.0}
          for i in range(num)]
