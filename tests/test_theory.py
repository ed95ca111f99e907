"""The GAN theory of PROTOCOLS.md §6, checked numerically through our own loss functions.

The distributions are discrete, on K points, so every expectation is an exact weighted sum. A
discriminator is one logit per point. A loss is used as the black box the step uses: its
value on one real and one fake logit, averaged over independent pairs (x ~ p_data,
y ~ p_g), is the expected cost, because every loss here is a mean over samples.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

K = 6
P_DATA = jnp.array([0.05, 0.30, 0.10, 0.25, 0.20, 0.10])
THETA0 = jnp.array([0.3, -0.2, 0.9, 0.1, -0.7, 0.4])  # p_g = softmax(theta)


def kl(p, q):
  return jnp.sum(p * jnp.log(p / q))


def jsd(p, q):
  m = (p + q) / 2
  return (kl(p, m) + kl(q, m)) / 2


def expected_costs(loss_name, logits, p_data, p_g) -> losses.Costs:
  """Returns E over x ~ p_data, y ~ p_g of the loss on the single pair (logit(x), logit(y))."""
  loss = losses.get(loss_name)
  pair = lambda r, f: loss(r[None], f[None])
  costs = jax.vmap(lambda r: jax.vmap(lambda f: pair(r, f))(logits))(logits)  # [real, fake]
  weights = p_data[:, None] * p_g[None, :]
  return losses.Costs(d=jnp.sum(weights * costs.d), g=jnp.sum(weights * costs.g))


def optimal_logits(p_data, p_g):
  """logit D*(x) = log(p_data(x) / p_g(x)), i.e. D* = p_data / (p_data + p_g)."""
  return jnp.log(p_data / p_g)


def test_optimal_discriminator_maximises_the_value():
  p_g = jax.nn.softmax(THETA0)
  value = lambda logits: -expected_costs("minimax", logits, P_DATA, p_g).d  # V(D, G)
  # Found by ascent from D = 1/2, not assumed: V is concave in each logit.
  ascent_step = lambda _, l: l + 5.0 * jax.grad(value)(l)
  logits = jax.jit(lambda l: jax.lax.fori_loop(0, 3000, ascent_step, l))(jnp.zeros(K))
  np.testing.assert_allclose(jax.nn.sigmoid(logits), P_DATA / (P_DATA + p_g), atol=1e-4)
  np.testing.assert_allclose(jax.grad(value)(optimal_logits(P_DATA, p_g)), 0.0, atol=1e-6)
  perturbed = optimal_logits(P_DATA, p_g) + 0.1 * jax.random.normal(jax.random.key(0), (20, K))
  assert bool(jnp.all(jax.vmap(value)(perturbed) < value(optimal_logits(P_DATA, p_g))))


@pytest.mark.parametrize("loss_name", ["minimax", "non_saturating"])  # the same D cost
def test_value_at_the_optimal_discriminator_is_minus_log4_plus_twice_jsd(loss_name):
  for p_g in (jax.nn.softmax(THETA0), P_DATA):
    value = -expected_costs(loss_name, optimal_logits(P_DATA, p_g), P_DATA, p_g).d
    np.testing.assert_allclose(value, -jnp.log(4.0) + 2 * jsd(P_DATA, p_g), rtol=1e-5)
  np.testing.assert_allclose(value, -np.log(4.0), rtol=1e-6)  # the minimum, at p_g = p_data


def generator_gradient(loss_name, theta0=THETA0):
  """The gradient in theta of G's expected cost against D* of theta0, frozen."""
  frozen = optimal_logits(P_DATA, jax.nn.softmax(theta0))
  cost = lambda theta: expected_costs(loss_name, frozen, P_DATA, jax.nn.softmax(theta)).g
  return jax.grad(cost)(theta0)


def test_minimax_generator_gradient_is_that_of_twice_the_jsd():
  # Against D*, the minimax G cost is V(D*, G) minus a term without G, and V's own gradient
  # in D vanishes at D*: the gradient is that of 2 JSD(p_data, p_g).
  expected = jax.grad(lambda t: 2 * jsd(P_DATA, jax.nn.softmax(t)))(THETA0)
  np.testing.assert_allclose(generator_gradient("minimax"), expected, atol=1e-6)


def test_non_saturating_gradient_is_that_of_kl_minus_twice_jsd():
  # Arjovsky & Bottou (2017), Theorem 2.5, with p_g = softmax(theta).
  target = lambda t: (kl(jax.nn.softmax(t), P_DATA)
                      - 2 * jsd(jax.nn.softmax(t), P_DATA))
  np.testing.assert_allclose(generator_gradient("non_saturating"), jax.grad(target)(THETA0),
                             atol=1e-6)
  # ... which is not the gradient of the JSD or of either KL alone.
  for other in (lambda t: 2 * jsd(P_DATA, jax.nn.softmax(t)),
                lambda t: kl(jax.nn.softmax(t), P_DATA),
                lambda t: kl(P_DATA, jax.nn.softmax(t))):
    assert float(jnp.max(jnp.abs(generator_gradient("non_saturating")
                                 - jax.grad(other)(THETA0)))) > 1e-2


def test_maximum_likelihood_gradient_is_that_of_kl_data_to_model():
  # With D*, exp(logit) = p_data / p_g, and the gradient of -E_g exp(logit) is that of
  # KL(p_data || p_g), the maximum-likelihood direction (the tutorial's cost has a factor 1/2).
  expected = jax.grad(lambda t: kl(P_DATA, jax.nn.softmax(t)))(THETA0)
  np.testing.assert_allclose(generator_gradient("maximum_likelihood"), expected, atol=1e-6)
