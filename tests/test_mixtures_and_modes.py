"""2D mixtures (PROTOCOLS.md section 1) and the mode-coverage evaluator on hand cases."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.data import mixtures
from jaxgan.metrics import mode_coverage


def test_ring8_has_eight_distinct_unit_centres():
  ring = mixtures.get("ring8")
  assert ring.sigma == 0.01 and ring.means.shape == (8, 2)
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0, rtol=1e-6)
  angles = np.sort(np.mod(np.arctan2(ring.means[:, 1], ring.means[:, 0]), 2 * math.pi))
  np.testing.assert_allclose(angles, 2 * math.pi * np.arange(8) / 8, atol=1e-6)


def test_grid25_centres():
  grid = mixtures.get("grid25")
  assert grid.sigma == 0.05
  want = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
  assert {tuple(int(round(v)) for v in m) for m in grid.means} == want
  np.testing.assert_allclose(grid.means, np.round(grid.means), atol=1e-6)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_have_uniform_modes_and_the_stated_sigma(name):
  mix = mixtures.get(name)
  x = np.asarray(mix.sample(jax.random.key(0), (40_000,)))
  nearest = np.argmin(((x[:, None] - mix.means[None]) ** 2).sum(-1), axis=1)
  freq = np.bincount(nearest, minlength=mix.num_modes) / len(x)
  np.testing.assert_allclose(freq, 1 / mix.num_modes, atol=0.01)
  residual = x - mix.means[nearest]
  np.testing.assert_allclose(residual.std(axis=0), mix.sigma, rtol=0.03)
  np.testing.assert_allclose(residual.mean(axis=0), 0.0, atol=mix.sigma * 0.05)


def test_sampling_is_deterministic_by_key_and_shaped():
  mix = mixtures.get("ring8")
  a = mix.sample(jax.random.key(3), (2, 5))
  b = mix.sample(jax.random.key(3), (2, 5))
  assert a.shape == (2, 5, 2)
  np.testing.assert_array_equal(a, b)


def test_unknown_dataset_lists_choices():
  with pytest.raises(ValueError, match=r"'ring9'.*grid25.*ring8"):
    mixtures.get("ring9")


def test_coverage_hand_case():
  mix = mixtures.get("ring8")
  s = mix.sigma
  samples = np.array([
      mix.means[0],                          # HQ, mode 0
      mix.means[0] + [2.9 * s, 0.0],         # HQ (inside 3 sigma), mode 0
      mix.means[1] + [0.0, 3.1 * s],         # not HQ (outside 3 sigma)
      mix.means[2] + [-1.0 * s, 1.0 * s],    # HQ, mode 2
      [0.0, 0.0],                            # far from every mode
  ], np.float32)
  out = mode_coverage(samples, mix)
  assert out["modes"] == 2
  np.testing.assert_allclose(out["hq_fraction"], 3 / 5, rtol=1e-6)
  assert out["hq_counts"] == [2, 0, 1, 0, 0, 0, 0, 0]
  # q = (2/3, 1/3) on two of eight modes: KL(q || 1/8) = sum q log(8 q).
  want = (2 / 3) * math.log(8 * 2 / 3) + (1 / 3) * math.log(8 / 3)
  np.testing.assert_allclose(out["reverse_kl"], want, rtol=1e-5)


def test_coverage_of_true_samples_is_full_and_near_uniform():
  mix = mixtures.get("grid25")
  out = mode_coverage(mix.sample(jax.random.key(1), (2500,)), mix)
  assert out["modes"] == 25
  # 2D Gaussian: P(|e| < 3 sigma) = 1 - exp(-4.5) = 0.9889.
  assert abs(out["hq_fraction"] - (1 - math.exp(-4.5))) < 0.01
  assert out["reverse_kl"] < 0.02


def test_coverage_of_one_collapsed_mode():
  mix = mixtures.get("grid25")
  out = mode_coverage(np.tile(mix.means[7], (100, 1)), mix)
  assert out["modes"] == 1 and out["hq_fraction"] == 1.0
  np.testing.assert_allclose(out["reverse_kl"], math.log(25), rtol=1e-6)


def test_coverage_without_hq_samples_has_no_kl():
  out = mode_coverage(np.full((10, 2), 50.0, np.float32), mixtures.get("ring8"))
  assert out["modes"] == 0 and out["hq_fraction"] == 0.0 and out["reverse_kl"] is None
