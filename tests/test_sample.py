"""Sampling from the generator: EMA by default, deterministic by key."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxgan


def test_sample_uses_ema_params_by_default(players):
  G, D, g_tx, d_tx = players
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, jnp.zeros((4, 2)))
  # Make the EMA a different network: double every EMA weight.
  state = state.replace(g_ema=jax.tree.map(lambda p: 2.0 * p, state.g_params))
  sample = jaxgan.make_sample_fn(G)
  z = jax.random.normal(jax.random.key(5), (6, G.latent_dim))
  ema_out = G.apply({"params": state.g_ema}, z)
  raw_out = G.apply({"params": state.g_params}, z)
  np.testing.assert_allclose(sample(state, jax.random.key(5), 6), ema_out, rtol=1e-6)
  np.testing.assert_allclose(sample(state, jax.random.key(5), 6, use_ema=False), raw_out,
                             rtol=1e-6)
  assert not np.allclose(ema_out, raw_out)


def test_sample_is_deterministic_and_accepts_int_seeds(players):
  G, D, g_tx, d_tx = players
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, jnp.zeros((4, 2)))
  sample = jaxgan.make_sample_fn(G)
  a = sample(state, 3, 10)
  assert a.shape == (10, 2)
  np.testing.assert_array_equal(a, sample(state, jax.random.key(3), 10))
  assert not np.allclose(a, sample(state, 4, 10))
