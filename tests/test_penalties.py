"""Gradient penalties against hand computations, and as the step applies them."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import losses, regularisers
from jaxgan.regularisers import penalties
from jaxgan.models import MLPDiscriminator, MLPGenerator
from conftest import batches

REAL = jnp.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
FAKE = jnp.array([[-1.0, 0.0], [2.0, 2.0], [0.5, 0.5]])
W = jnp.array([0.6, -0.3])  # linear D(x) = w.x: grad_x D = w everywhere, |w| = 0.6708


def linear_d(x):
  return x @ W


def quadratic_d(x):  # D(x) = |x|^2 / 2: grad_x D = x
  return 0.5 * jnp.sum(x ** 2, axis=1)


def test_penalties_of_a_linear_discriminator_by_hand():
  norm = np.sqrt(0.6 ** 2 + 0.3 ** 2)
  eps = jnp.array([0.2, 0.5, 0.9])
  np.testing.assert_allclose(penalties.gradient_penalty(linear_d, REAL, FAKE, eps),
                             (norm - 1) ** 2, rtol=1e-5)
  assert float(penalties.gradient_penalty(linear_d, REAL, FAKE, eps, one_sided=True)) == 0.0
  np.testing.assert_allclose(penalties.zero_centred(linear_d, REAL), 0.5 * norm ** 2,
                             rtol=1e-6)
  np.testing.assert_allclose(penalties.dragan(linear_d, REAL, eps, jnp.ones_like(REAL)),
                             (norm - 1) ** 2, rtol=1e-5)


def test_penalties_of_a_quadratic_discriminator_by_hand():
  eps = np.array([0.2, 0.5, 0.9])
  points = eps[:, None] * np.asarray(REAL) + (1 - eps[:, None]) * np.asarray(FAKE)
  norms = np.linalg.norm(points, axis=1)  # grad_x D(x_hat) = x_hat
  np.testing.assert_allclose(penalties.gradient_penalty(quadratic_d, REAL, FAKE, eps),
                             np.mean((norms - 1) ** 2), rtol=1e-5)
  np.testing.assert_allclose(
      penalties.gradient_penalty(quadratic_d, REAL, FAKE, eps, one_sided=True),
      np.mean(np.maximum(norms - 1, 0) ** 2), rtol=1e-5)
  np.testing.assert_allclose(penalties.zero_centred(quadratic_d, REAL),
                             0.5 * np.mean(np.sum(np.asarray(REAL) ** 2, axis=1)), rtol=1e-6)
  np.testing.assert_allclose(penalties.zero_centred(quadratic_d, FAKE),  # R2 is R1 on fakes
                             0.5 * np.mean(np.sum(np.asarray(FAKE) ** 2, axis=1)), rtol=1e-6)
  u = np.full(REAL.shape, 0.5)
  moved = np.asarray(REAL) + eps[:, None] * 0.5 * np.std(np.asarray(REAL)) * u
  np.testing.assert_allclose(penalties.dragan(quadratic_d, REAL, eps, u),
                             np.mean((np.linalg.norm(moved, axis=1) - 1) ** 2), rtol=1e-5)


def test_zero_centred_gp_on_interpolates_by_hand():
  # D(x) = |x|^2 / 2: the gradient at x_hat is x_hat, so 0-GP is the mean of |x_hat|^2, with
  # x_hat on the segments at the eps drawn from the regulariser's key as gp draws them.
  key = jax.random.key(3)
  eps = np.asarray(jax.random.uniform(jax.random.split(key)[0], (3,)))
  points = eps[:, None] * np.asarray(REAL) + (1 - eps[:, None]) * np.asarray(FAKE)
  inputs = regularisers.DInputs(quadratic_d, REAL, FAKE, None, None, key, 0)
  value, _ = regularisers.penalty("gp_zero", 2.0).cost(inputs, None)
  np.testing.assert_allclose(value, np.mean(np.sum(points ** 2, axis=1)), rtol=1e-5)
  linear = inputs._replace(d_fn=linear_d)
  np.testing.assert_allclose(regularisers.penalty("gp_zero", 1.0).cost(linear, None)[0],
                             0.6 ** 2 + 0.3 ** 2, rtol=1e-5)


def test_penalty_draws_its_points_from_the_key_and_rejects_unknown_names():
  key = jax.random.key(0)
  inputs = lambda key: regularisers.DInputs(quadratic_d, REAL, FAKE, None, None, key, 0)
  gp = regularisers.penalty("gp", 1.0)
  a = gp.cost(inputs(key), None)[0]
  assert float(a) == float(gp.cost(inputs(key), None)[0])
  assert float(a) != float(gp.cost(inputs(jax.random.key(1)), None)[0])
  assert jaxgan.objective.build(penalty="none").d_regularisers == ()
  with pytest.raises(ValueError, match=r"penalty='r3' is not accepted.*r1, r2"):
    regularisers.penalty("r3", 1.0)
  with pytest.raises(ValueError, match=r"penalty='wgan'"):
    jaxgan.objective.build(penalty="wgan")


def test_step_adds_the_weighted_r1_to_d_cost_and_lazily_every_other_update():
  generator = MLPGenerator(latent_dim=3, data_dim=2, width=16, depth=2)
  discriminator = MLPDiscriminator(width=16, depth=2)
  tx = optax.sgd(1.0)  # new params = params - gradient: the gradient is read off directly
  x = batches(1, 1, 8)[0]
  state = jaxgan.create_state(0, generator, discriminator, tx, tx, x["x"][0])
  gamma = 3.0

  def expected(state, weight):
    """D's params after the step's one D update, written plainly for k = 1."""
    _, step_key = jax.random.split(state.key)
    z = jax.random.normal(jax.random.split(step_key, 2)[0], (8, generator.latent_dim))
    fake = generator.apply({"params": state.g_params}, z)

    def cost(params):
      d = lambda v: discriminator.apply({"params": params}, v)
      return (losses.non_saturating(d(x["x"][0]), d(fake)).d
              + weight * penalties.zero_centred(d, x["x"][0]))

    return jax.tree.map(lambda p, g: p - g, state.d_params, jax.grad(cost)(state.d_params))

  # One compiled program for the plain version too (eagerly, its second-order autodiff
  # compiles hundreds of single operations).
  expected = jax.jit(expected)

  objective = jaxgan.objective.build(penalty="r1", penalty_weight=gamma, penalty_every=2)
  lazy = jax.jit(jaxgan.make_train_step(generator, discriminator, tx, tx, objective))
  for step, weight in ((0, 2 * gamma), (1, 0.0), (2, 2 * gamma)):  # D updates 0, 1, 2
    at = state.replace(step=jnp.int32(step))
    new, metrics = lazy(at, x)
    for got, want in zip(jax.tree.leaves(new.d_params), jax.tree.leaves(expected(at, weight))):
      np.testing.assert_allclose(got, want, atol=2e-5)
    d = lambda v: discriminator.apply({"params": at.d_params}, v)
    np.testing.assert_allclose(metrics["d/penalty"],
                               weight * penalties.zero_centred(d, x["x"][0]), rtol=1e-5)
