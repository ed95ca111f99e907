"""Each loss against values and gradients derived by hand on tiny inputs."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses

REAL = [1.5, -0.5]
FAKE = [-1.0, 2.0]


def sig(t):
  return 1.0 / (1.0 + math.exp(-t))


def mean(xs):
  return sum(xs) / len(xs)


def bce_d(real, fake):
  return mean([-math.log(sig(r)) for r in real]) + mean([-math.log(1 - sig(f)) for f in fake])


def mmd2_by_hand(kernel, xs, ys):
  """The unbiased MMD² written out pair by pair, for 1-D features."""
  m, n = len(xs), len(ys)
  within = lambda s: sum(kernel((a - b) ** 2) for i, a in enumerate(s)
                         for j, b in enumerate(s) if i != j) / (len(s) * (len(s) - 1))
  across = sum(kernel((a - b) ** 2) for a in xs for b in ys) / (m * n)
  return within(xs) + within(ys) - 2 * across


def gaussian_by_hand(d2):  # bandwidths 1, 2, 4, 8, 16 (Li et al. 2017)
  return sum(math.exp(-d2 / (2 * s * s)) for s in (1, 2, 4, 8, 16))


def rq_by_hand(d2):  # alphas 0.2, 0.5, 1, 2, 5 (Bińkowski et al. 2018)
  return sum((1 + d2 / (2 * a)) ** -a for a in (0.2, 0.5, 1, 2, 5))


MMD_GAUSS = mmd2_by_hand(gaussian_by_hand, REAL, FAKE)
MMD_RQ = mmd2_by_hand(rq_by_hand, REAL, FAKE)

# Expected (d cost, g cost) written from the papers' definitions, in terms of D = sigmoid.
EXPECTED = {
    "mmd_gaussian": (-MMD_GAUSS, MMD_GAUSS),
    "mmd_rq": (-MMD_RQ, MMD_RQ),
    "minimax": (bce_d(REAL, FAKE), mean([math.log(1 - sig(f)) for f in FAKE])),
    "non_saturating": (bce_d(REAL, FAKE), mean([-math.log(sig(f)) for f in FAKE])),
    "maximum_likelihood": (bce_d(REAL, FAKE), -mean([math.exp(f) for f in FAKE])),
    "hinge": (mean([max(0, 1 - r) for r in REAL]) + mean([max(0, 1 + f) for f in FAKE]),
              -mean(FAKE)),
    "wasserstein": (mean(FAKE) - mean(REAL), -mean(FAKE)),
    "least_squares": (0.5 * mean([(r - 1) ** 2 for r in REAL]) + 0.5 * mean([f**2 for f in FAKE]),
                      0.5 * mean([(f - 1) ** 2 for f in FAKE])),
    "relativistic": (mean([-math.log(sig(r - f)) for r, f in zip(REAL, FAKE)]),
                     mean([-math.log(sig(f - r)) for r, f in zip(REAL, FAKE)])),
    # R3GAN's RpGAN: the relativistic pairing loss under its paper's name.
    "rpgan": (mean([-math.log(sig(r - f)) for r, f in zip(REAL, FAKE)]),
              mean([-math.log(sig(f - r)) for r, f in zip(REAL, FAKE)])),
    "relativistic_average": (
        mean([-math.log(sig(r - mean(FAKE))) for r in REAL])
        + mean([-math.log(1 - sig(f - mean(REAL))) for f in FAKE]),
        mean([-math.log(1 - sig(r - mean(FAKE))) for r in REAL])
        + mean([-math.log(sig(f - mean(REAL))) for f in FAKE])),
}

# d(cost)/d(logit) per element, derived by hand; n = 2 samples per side.
# For the D cost we list (d/d real_logits, d/d fake_logits); for G, d/d fake_logits.
n = 2
EXPECTED_GRADS = {
    "minimax": ([-(1 - sig(r)) / n for r in REAL], [sig(f) / n for f in FAKE],
                [-sig(f) / n for f in FAKE]),
    "non_saturating": ([-(1 - sig(r)) / n for r in REAL], [sig(f) / n for f in FAKE],
                       [-(1 - sig(f)) / n for f in FAKE]),
    "maximum_likelihood": ([-(1 - sig(r)) / n for r in REAL], [sig(f) / n for f in FAKE],
                           [-math.exp(f) / n for f in FAKE]),
    "hinge": ([-(1.0 if 1 - r > 0 else 0.0) / n for r in REAL],
              [(1.0 if 1 + f > 0 else 0.0) / n for f in FAKE], [-1 / n] * n),
    "wasserstein": ([-1 / n] * n, [1 / n] * n, [-1 / n] * n),
    "least_squares": ([(r - 1) / n for r in REAL], [f / n for f in FAKE],
                      [(f - 1) / n for f in FAKE]),
    "relativistic": ([-(1 - sig(r - f)) / n for r, f in zip(REAL, FAKE)],
                     [(1 - sig(r - f)) / n for r, f in zip(REAL, FAKE)],
                     [-(1 - sig(f - r)) / n for r, f in zip(REAL, FAKE)]),
}


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_values_match_hand_computation(name):
  costs = losses.get(name)(jnp.array(REAL), jnp.array(FAKE))
  np.testing.assert_allclose(costs.d, EXPECTED[name][0], rtol=1e-5)
  np.testing.assert_allclose(costs.g, EXPECTED[name][1], rtol=1e-5)


@pytest.mark.parametrize("name", sorted(EXPECTED_GRADS))
def test_gradients_match_hand_derivation(name):
  loss = losses.get(name)
  d_real, d_fake = jax.grad(lambda r, f: loss(r, f).d, argnums=(0, 1))(
      jnp.array(REAL), jnp.array(FAKE))
  g_fake = jax.grad(lambda f: loss(jnp.array(REAL), f).g)(jnp.array(FAKE))
  want_real, want_fake, want_g = EXPECTED_GRADS[name]
  np.testing.assert_allclose(d_real, want_real, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(d_fake, want_fake, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(g_fake, want_g, rtol=1e-5, atol=1e-7)


def _ra_g_cost(real, fake):
  rel_r = real - fake.mean()
  rel_f = fake - real.mean()
  return np.mean(np.log1p(np.exp(rel_r))) + np.mean(np.log1p(np.exp(-rel_f)))


def test_relativistic_average_gradient_matches_finite_differences():
  loss = losses.get("relativistic_average")
  r0, f0 = np.array(REAL, np.float64), np.array(FAKE, np.float64)
  grad = jax.grad(lambda f: loss(jnp.array(REAL), f).g)(jnp.array(FAKE))
  eps = 1e-4
  for i in range(2):
    step = np.zeros(2)
    step[i] = eps
    numeric = (_ra_g_cost(r0, f0 + step) - _ra_g_cost(r0, f0 - step)) / (2 * eps)
    np.testing.assert_allclose(grad[i], numeric, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
@pytest.mark.parametrize("logit", [-100.0, 100.0])
def test_finite_values_and_gradients_at_extreme_logits(name, logit):
  loss = losses.get(name)
  real = jnp.array([logit, -logit, 0.0])
  fake = jnp.array([logit, logit, -logit])
  costs = loss(real, fake)
  grads = jax.grad(lambda r, f: loss(r, f).d + loss(r, f).g, argnums=(0, 1))(real, fake)
  assert np.isfinite(costs.d) and np.isfinite(costs.g), costs
  assert all(np.all(np.isfinite(g)) for g in grads), grads


def test_saturation_is_what_distinguishes_minimax_from_non_saturating():
  # When D confidently rejects a fake (logit -10), the minimax G gradient vanishes
  # (sigmoid(-10) ~ 4.5e-5) while the non-saturating one stays near -1.
  fake = jnp.array([-10.0])
  g_mm = jax.grad(lambda f: losses.minimax(jnp.zeros(1), f).g)(fake)
  g_ns = jax.grad(lambda f: losses.non_saturating(jnp.zeros(1), f).g)(fake)
  np.testing.assert_allclose(g_mm, [-sig(-10.0)], rtol=1e-4)
  np.testing.assert_allclose(g_ns, [-(1 - sig(-10.0))], rtol=1e-4)


def test_maximum_likelihood_cap_is_exact_below_and_continuous_above():
  cap = losses.ML_LOGIT_CAP
  g = lambda f: losses.maximum_likelihood(jnp.zeros(1), jnp.array([f])).g
  dg = jax.grad(g)
  np.testing.assert_allclose(g(cap - 1.0), -math.exp(cap - 1.0), rtol=1e-5)
  # Continuous: across a gap of 2*delta the value moves by about slope * 2 * delta.
  delta = 1e-3
  assert abs(float(g(cap + delta) - g(cap - delta))) < 2.01 * delta * math.exp(cap)
  np.testing.assert_allclose(dg(cap - delta), dg(cap + delta), rtol=2e-3)
  # Beyond the cap the cost keeps falling linearly with slope -exp(cap).
  np.testing.assert_allclose(g(cap + 10.0) - g(cap), -10.0 * math.exp(cap), rtol=1e-5)


def test_generator_cost_ignores_real_logits_except_for_relativistic_and_mmd_losses():
  for name, loss in losses.LOSSES.items():
    fake = jnp.array(FAKE)
    g1 = loss(jnp.array(REAL), fake).g
    g2 = loss(jnp.array(REAL) + 3.0, fake).g
    assert (float(g1) != float(g2)) == loss.g_uses_real, name


def test_mmd_reads_feature_vectors_and_vanishes_in_expectation_for_equal_distributions():
  # Feature rows (B, F): the squared distance is over the F features.
  x = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])
  y = jnp.array([[0.0, 1.0], [2.0, 2.0]])
  dist = lambda a, b: sum((p - q) ** 2 for p, q in zip(a, b))
  xs, ys = x.tolist(), y.tolist()
  within = lambda s: sum(gaussian_by_hand(dist(a, b)) for i, a in enumerate(s)
                         for j, b in enumerate(s) if i != j) / (len(s) * (len(s) - 1))
  across = sum(gaussian_by_hand(dist(a, b)) for a in xs for b in ys) / 6
  np.testing.assert_allclose(losses.mmd2(x, y, losses.gaussian_kernel),
                             within(xs) + within(ys) - 2 * across, rtol=1e-5)
  # Unbiased: over many independent pairs of sets from one distribution the mean is ~0,
  # while the biased (V-statistic) version would sit at a clearly positive value.
  keys = jax.random.split(jax.random.key(0), 400)
  draws = jax.vmap(lambda k: losses.mmd2(*jax.random.normal(k, (2, 8, 3)),
                                         losses.rq_kernel))(keys)
  se = float(jnp.std(draws)) / 20
  assert abs(float(jnp.mean(draws))) < 3 * se, (float(jnp.mean(draws)), se)
  diag_bias = 2 * 5 / 8  # what the V-statistic would add: k(x, x) = 5 kernels, /m per set
  assert diag_bias > 20 * se


def test_unknown_loss_names_the_value_and_the_choices():
  with pytest.raises(ValueError, match=r"'hingee'.*hinge.*least_squares"):
    losses.get("hingee")
