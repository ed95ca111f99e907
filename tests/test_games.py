"""Simulated game trajectories against the closed forms derived in BUILD_NOTES.md."""

import numpy as np
import pytest

from jaxgan import games

ETA = 0.1


def norms(points):
  return np.linalg.norm(np.asarray(points, np.float64), axis=1)


def per_step_factors(points):
  n = norms(points)
  return n[1:] / n[:-1]


def test_the_vector_field_is_descent_for_x_and_ascent_for_y():
  vx, vy = games.vector_field(games.bilinear)(2.0, 3.0)
  assert (float(vx), float(vy)) == (3.0, -2.0)  # (df/dx, -df/dy) of x*y


def test_bilinear_simultaneous_steps_grow_the_norm_by_sqrt_1_plus_eta2_each_step():
  z = games.trajectory(games.bilinear, "simultaneous", (1.0, 1.0), ETA, 200)
  np.testing.assert_allclose(per_step_factors(z), np.sqrt(1 + ETA ** 2), rtol=1e-5)


def test_bilinear_alternating_steps_cycle_on_a_conserved_ellipse():
  z = np.asarray(games.trajectory(games.bilinear, "alternating", (1.0, 1.0), ETA, 2000),
                 np.float64)
  energy = z[:, 0] ** 2 - ETA * z[:, 0] * z[:, 1] + z[:, 1] ** 2  # x^2 - eta x y + y^2
  np.testing.assert_allclose(energy, energy[0], rtol=1e-4)
  assert 0.9 < norms(z).min() < norms(z).max() < 1.6  # neither converges nor diverges
  assert np.ptp(np.arctan2(z[:, 1], z[:, 0])) > 6  # it goes round


@pytest.mark.parametrize("rule, factor", [
    ("extragradient", np.sqrt(1 - ETA ** 2 + ETA ** 4)),
    ("consensus", np.sqrt((1 - ETA * 1.0) ** 2 + ETA ** 2)),  # gamma = 1
])
def test_bilinear_contracting_rules_shrink_the_norm_by_their_factor_each_step(rule, factor):
  z = games.trajectory(games.bilinear, rule, (1.0, 1.0), ETA, 100)
  np.testing.assert_allclose(per_step_factors(z), factor, rtol=1e-5)
  assert factor < 1


def test_bilinear_optimistic_steps_converge_at_the_spectral_radius():
  # Roots of lambda^2 - (1 - 2 eta mu) lambda - eta mu = 0 for mu = +-i (BUILD_NOTES.md).
  roots = np.roots([1, -(1 - 2j * ETA), -1j * ETA])
  rho = np.abs(roots).max()
  z = games.trajectory(games.bilinear, "optimistic", (1.0, 1.0), ETA, 1200)
  n = norms(z)
  measured = (n[1200] / n[1000]) ** (1 / 200)  # past the transient of the small root
  np.testing.assert_allclose(measured, rho, rtol=1e-4)
  assert rho < 1 and n[-1] < 1e-2


def test_dirac_gan_linearises_to_a_bilinear_game_of_coupling_one_half():
  # Near (0, 0) the field is (psi/2, -theta/2): simultaneous steps grow the norm by
  # sqrt(1 + eta^2 / 4) and never converge; from (1, 1) they spiral outwards too.
  z = games.trajectory(games.dirac_gan, "simultaneous", (1e-3, 1e-3), ETA, 100)
  np.testing.assert_allclose(per_step_factors(z), np.sqrt(1 + ETA ** 2 / 4), rtol=1e-4)
  far = norms(games.trajectory(games.dirac_gan, "simultaneous", (1.0, 1.0), ETA, 2000))
  assert far[-1] > 2 * far[0]


def test_r1_makes_dirac_gan_converge_at_the_linearised_rate():
  # With R1 (gamma) the Jacobian at (0, 0) is [[0, 1/2], [-1/2, gamma]]; its eigenvalues are
  # (gamma +- sqrt(gamma^2 - 1)) / 2, and a step multiplies by 1 - eta * lambda.
  gamma = 0.3
  jacobian_eigs = np.linalg.eigvals(np.array([[0.0, 0.5], [-0.5, gamma]]))
  rate = np.abs(1 - ETA * jacobian_eigs).max()
  z = games.trajectory(games.GAMES["dirac_gan_r1"], "simultaneous", (1.0, 1.0), ETA, 3000)
  n = norms(z)
  # The linearisation is not a normal matrix, so the norm wobbles around rate^t by a bounded
  # factor; over 2,000 steps that moves the measured rate by a few 1e-4.
  np.testing.assert_allclose((n[3000] / n[1000]) ** (1 / 2000), rate, rtol=1e-3)
  assert rate < 1 and n[-1] < 1e-8
  without = norms(games.trajectory(games.dirac_gan, "alternating", (1.0, 1.0), ETA, 3000))
  assert without[-1] > 1.0  # without R1 alternating steps do not converge


def test_the_picture_has_one_panel_per_game_and_rule_each_with_its_trajectory():
  from experiments.games import PANEL, MARGIN, ROWS, TRAJECTORY, draw_sheet
  sheet, final = draw_sheet(ETA, 300, 2.5)
  assert sheet.size == (PANEL * len(games.RULES), (PANEL + MARGIN) * len(ROWS))
  pixels = np.asarray(sheet)
  for i in range(len(ROWS)):
    for j in range(len(games.RULES)):
      plot = pixels[i * (PANEL + MARGIN):i * (PANEL + MARGIN) + PANEL, j * PANEL:(j + 1) * PANEL]
      assert np.all(plot == TRAJECTORY, axis=-1).sum() > 50, (ROWS[i], list(games.RULES)[j])
  assert final["bilinear", "simultaneous"] > 4 > 1 > final["bilinear", "extragradient"]
