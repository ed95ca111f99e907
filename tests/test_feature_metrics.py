"""FID, KID, Inception Score and precision/recall against closed forms and hand values.

These are the feature-space formulas only; they hold for any feature extractor.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.metrics import fid, kid, scores


def test_streamed_statistics_equal_numpy_on_the_whole_set(tmp_path):
  x = np.random.default_rng(0).normal(size=(500, 6)) * [1, 2, 3, 4, 5, 6] + 10.0
  stats = fid.FeatureStats(6)
  for batch in np.array_split(x, 7):
    stats.update(batch.astype(np.float32))
  np.testing.assert_allclose(stats.mean, x.astype(np.float32).mean(0), rtol=1e-6)
  np.testing.assert_allclose(stats.cov, np.cov(x.astype(np.float32), rowvar=False), rtol=1e-5)
  stats.save(str(tmp_path / "s.npz"))
  mu, sigma, count = fid.load_stats(str(tmp_path / "s.npz"))
  assert count == 500 and np.array_equal(mu, stats.mean) and np.array_equal(sigma, stats.cov)


def test_frechet_distance_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(1).normal(size=(300, 16))
  stats = fid.FeatureStats(16).update(x)
  assert abs(fid.frechet_distance(stats.mean, stats.cov, stats.mean, stats.cov)) < 1e-8


def test_frechet_distance_between_two_gaussians_equals_the_closed_form():
  # Σ₁ = 4I commutes with anything: Tr((Σ₁Σ₂)^½) = 2·Tr(Σ₂^½); Σ₂ has eigenvalues 3 and 1.
  mu1, mu2 = np.array([0.0, 1.0]), np.array([3.0, -1.0])
  sigma1, sigma2 = 4.0 * np.eye(2), np.array([[2.0, 1.0], [1.0, 2.0]])
  expected = 9 + 4 + (8 + 4) - 2 * 2 * (math.sqrt(3) + 1)
  np.testing.assert_allclose(fid.frechet_distance(mu1, sigma1, mu2, sigma2), expected,
                             rtol=1e-12)
  # Non-commuting covariances: against the definition with a general matrix square root.
  a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
  b = np.array([[1.0, -0.4, 0.1], [-0.4, 3.0, 0.0], [0.1, 0.0, 0.7]])
  eig, vec = np.linalg.eig(a @ b)  # real positive eigenvalues (a, b SPD)
  expected = np.trace(a) + np.trace(b) - 2 * np.sum(np.sqrt(eig.real))
  np.testing.assert_allclose(fid.frechet_distance(np.zeros(3), a, np.zeros(3), b), expected,
                             rtol=1e-10)


def test_kid_estimate_is_unbiased_on_known_distributions():
  # 1-D features: k(x, y) = (xy + 1)³. For P = N(0, 1), Q = N(1, 1):
  # E_PP k = 3·1·1 + 1 = 4; E_QQ k = m3² + 3·m2² + 3·m1² + 1 = 16 + 12 + 3 + 1 = 32;
  # E_PQ k = 3·1·2 + 1 = 7; so MMD² = 4 + 32 − 2·7 = 22, at any sample size.
  keys = jax.random.split(jax.random.key(0), 4000)
  sets = jax.vmap(lambda k: jax.random.normal(k, (2, 8, 1)))(keys)
  across = jax.vmap(lambda s: kid.mmd2_unbiased(s[0], s[1] + 1.0))(sets)
  within = jax.vmap(lambda s: kid.mmd2_unbiased(s[0], s[1]))(sets)
  for values, expected in ((across, 22.0), (within, 0.0)):
    se = float(jnp.std(values)) / math.sqrt(values.shape[0])
    assert abs(float(jnp.mean(values)) - expected) < 4 * se, (float(jnp.mean(values)), se)
  se = float(jnp.std(across)) / math.sqrt(across.shape[0])
  # A biased (V-statistic) estimate would be off by at least (E k(x,x) − E k(x,x'))/m on P's
  # term alone, (28 − 4)/8 = 3: more than 4 standard errors here.
  assert 4 * se < 3.0, se
  x = np.random.default_rng(2).normal(size=(600, 1))
  mean, std = kid.kid(x, x + 1.0, jax.random.key(1), num_subsets=20, subset_size=300)
  assert abs(mean - 22.0) < 4 * std and std > 0


def test_inception_score_by_hand():
  assert scores.inception_score(np.full((20, 5), 0.2), splits=2) == pytest.approx((1.0, 0.0))
  certain = np.eye(4)[np.arange(40) % 4]  # four classes, each predicted with certainty
  assert scores.inception_score(certain, splits=5) == pytest.approx((4.0, 0.0))
  p = np.array([[0.9, 0.1], [0.2, 0.8]])
  m = p.mean(0)
  kl = [sum(pi * math.log(pi / mi) for pi, mi in zip(row, m)) for row in p]
  assert scores.inception_score(p, splits=1)[0] == pytest.approx(math.exp(sum(kl) / 2))


def test_precision_and_recall_by_hand():
  x = np.random.default_rng(3).normal(size=(50, 4))
  assert scores.precision_recall(x, x) == (1.0, 1.0)
  # Real 0, 1, 2, 3 with k = 1: balls of radius 1 cover [−1, 4]. Generated −5, 0.5, 3.9, 10:
  # two of four inside, precision ½. Their own 1-NN radii (5.5, 3.4, 3.4, 6.1) put every
  # real point inside the ball around 0.5, recall 1.
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[0.5], [3.9], [10.0], [-5.0]])
  assert scores.precision_recall(real, fake, k=1, batch=3) == (0.5, 1.0)
  # And the other way round: real points are inside generated balls only near them.
  assert scores.precision_recall(fake, real, k=1) == (1.0, 0.5)
