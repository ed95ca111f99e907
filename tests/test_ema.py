"""The EMA of G shows what the run has learned from the first update on (issue 37)."""

import jax
import numpy as np
import optax

import jaxgan
from jaxgan import schedules
from jaxgan.models import MLPDiscriminator, MLPGenerator

G, D = MLPGenerator(latent_dim=2), MLPDiscriminator()
RING = jaxgan.data.mixtures.get("ring8")


def test_the_debiased_decay_is_the_normalised_average_of_the_weights_so_far():
  beta, thetas = 0.9, np.random.default_rng(0).normal(size=(6, 3))
  ema, decay = np.full(3, 123.0), schedules.debiased(beta)  # the initialisation: anything
  for t, theta in enumerate(thetas):
    d = float(decay(t))
    ema = d * ema + (1 - d) * theta
    weights = beta ** np.arange(t, -1, -1)  # β^(t−i) for i = 0..t
    np.testing.assert_allclose(ema, weights @ thetas[:t + 1] / weights.sum(), rtol=1e-5)
  assert float(decay(0)) == 0.0 and abs(float(decay(10_000)) - beta) < 1e-6


def test_the_steps_ema_follows_g_not_its_initialisation_and_can_be_turned_off():
  tx = optax.sgd(0.1)
  batch = {"x": RING.sample(jax.random.key(2), (1, 32))}
  state = jaxgan.create_state(0, G, D, tx, tx, batch)
  for debias in (True, False):
    step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, ema_decay=0.999, ema_debias=debias))
    s, history = state, []
    for _ in range(3):
      s, _ = step(s, batch)
      history.append(jax.tree.leaves(s.g_params))
    got = jax.tree.leaves(s.g_ema)
    if debias:  # (β² θ₁ + β θ₂ + θ₃) / (β² + β + 1)
      w = np.array([0.999 ** 2, 0.999, 1.0])
      want = [sum(wi * h[j] for wi, h in zip(w, history)) / w.sum() for j in range(len(got))]
    else:  # β³ θ₀ + (1 − β) Σ β^(3−i) θ_i: mostly the initialisation
      init = jax.tree.leaves(state.g_params)
      want = [0.999 ** 3 * init[j] + 0.001 * (0.999 ** 2 * history[0][j] + 0.999 * history[1][j]
                                               + history[2][j]) for j in range(len(got))]
    for a, b in zip(got, want):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_resuming_a_run_saved_before_the_setting_is_refused_only_where_it_matters():
  from jaxgan.runner.config import Config
  from jaxgan.runner.workdir import config_differences
  for settings, refused in ((dict(ema_decay=0.999), True),
                            (dict(ema_half_life=1000.0, ema_rampup=0.05), False),
                            (dict(ema_decay=0.0), False)):
    now = Config(dataset="ring8", model="mlp", **settings)
    saved = now.to_dict()
    del saved["ema_debias"]  # written before the field existed: it ran the plain EMA
    assert config_differences(saved, now) == (
        ["ema_debias: False there, True now"] if refused else []), settings
