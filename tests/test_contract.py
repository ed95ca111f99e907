"""One contract from state to step, checked when the state or the step is made (issue 37).

Written as research code against the README would be: the same batch to `create_state` and
the step, a loss's name wherever an objective goes, and each mistake a newcomer makes
answered by an error that names it, not by a flax or optax error from inside the step.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan.models import MLPDiscriminator, MLPGenerator

G, D = MLPGenerator(latent_dim=2), MLPDiscriminator()
RING = jaxgan.data.mixtures.get("ring8")
BATCH = {"x": RING.sample(jax.random.key(2), (2, 16))}  # k = 2 minibatches of 16


def _params(state):
  return jax.tree.leaves((state.g_params, state.d_params))


def test_create_state_takes_the_steps_batch_or_one_minibatch_alike():
  tx = optax.sgd(0.1)
  from_step_batch = jaxgan.create_state(0, G, D, tx, tx, BATCH, "hinge")
  from_minibatch = jaxgan.create_state(0, G, D, tx, tx, BATCH["x"][0], "hinge")
  from_array = jaxgan.create_state(0, G, D, tx, tx, BATCH["x"], "hinge")
  for other in (from_minibatch, from_array):
    for a, b in zip(_params(from_step_batch), _params(other)):
      np.testing.assert_array_equal(a, b)
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, "hinge", d_steps=2))
  new, metrics = step(from_step_batch, BATCH)
  assert int(new.step) == 1 and np.isfinite(float(metrics["d/loss"]))
  assert jax.tree.leaves(new.d_params)[1].shape == (2, 128)  # D's first layer sees 2-D points


def test_a_loss_name_goes_wherever_an_objective_does():
  hinge = jaxgan.losses.get("hinge")
  assert jaxgan.Objective(loss="hinge").loss is hinge
  assert jaxgan.Objective("hinge").loss is hinge
  tx = optax.sgd(0.1)
  state = jaxgan.create_state(0, G, D, tx, tx, BATCH, "hinge")
  assert state.objective == {}
  lecam = jaxgan.Objective("hinge", jaxgan.regularisers.lecam.lecam(0.1, 0.99))  # one regulariser alone
  assert set(jaxgan.create_state(0, G, D, tx, tx, BATCH, lecam).objective) == {"lecam"}


@pytest.mark.parametrize("make, error, message", [
    (lambda: jaxgan.Objective(lambda r, f: r), TypeError,
     r"plain function where a jaxgan.losses.Loss belongs"),
    (lambda: jaxgan.Objective("hinge", d_regularisers=[lambda d, s: 0.0]), TypeError,
     r"d_regularisers holds .* not a jaxgan.regularisers.Regulariser"),
    (lambda: jaxgan.Objective("hinge", view="color"), TypeError,
     r"view='color' is not a jaxgan.views.View"),
    (lambda: jaxgan.Objective("hinj"), ValueError, r"unknown loss 'hinj'; accepted: hinge"),
])
def test_a_wrong_part_of_the_objective_is_named_when_it_is_made(make, error, message):
  with pytest.raises(error, match=message):
    make()


def test_replacing_a_part_of_an_objective_is_checked_too():
  objective = jaxgan.Objective("hinge")
  assert objective._replace(loss="least_squares").loss is jaxgan.losses.get("least_squares")
  with pytest.raises(TypeError, match=r"d_regularisers holds 3"):
    objective._replace(d_regularisers=[3])


class _NoLatent(nn.Module):
  @nn.compact
  def __call__(self, z, train: bool = True):
    return nn.Dense(2)(z)


def test_a_generator_without_latent_dim_is_named_when_the_step_or_state_is_made():
  tx = optax.sgd(0.1)
  with pytest.raises(TypeError, match=r"_NoLatent has no int `latent_dim`"):
    jaxgan.make_train_step(_NoLatent(), D, tx, tx)
  with pytest.raises(TypeError, match=r"_NoLatent has no int `latent_dim`"):
    jaxgan.create_state(0, _NoLatent(), D, tx, tx, BATCH)


def test_optimizers_that_do_not_match_the_state_are_named():
  state = jaxgan.create_state(0, G, D, optax.sgd(0.1), optax.sgd(0.1), BATCH)
  step = jax.jit(jaxgan.make_train_step(G, D, optax.adam(1e-3), optax.sgd(0.1), d_steps=2))
  with pytest.raises(ValueError, match=r"g_tx does not match state.g_opt_state.*"
                     r"\(EmptyState, EmptyState\), g_tx.init gives \(ScaleByAdamState"):
    step(state, BATCH)


def test_a_state_made_for_other_inputs_is_named_not_a_flax_scope_error():
  tx = optax.sgd(0.1)
  state = jaxgan.create_state(0, G, D, tx, tx, BATCH["x"][0][:, :1])  # 1-D points
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, d_steps=2))
  with pytest.raises(ValueError, match=r"made for inputs of another shape than this batch's "
                     r"\(2, 16, 2\)"):
    step(state, BATCH)


def test_a_regulariser_returning_a_bare_scalar_is_named():
  mine = jaxgan.regularisers.Regulariser("mine", lambda d, s: jnp.mean(d.real_logits ** 2))
  objective = jaxgan.Objective("hinge", (mine,))
  tx = optax.sgd(0.1)
  state = jaxgan.create_state(0, G, D, tx, tx, BATCH, objective)
  with pytest.raises(TypeError, match=r"regulariser 'mine' returned a bare array; a "
                     r"Regulariser's cost returns \(cost, next_state\)"):
    jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective, d_steps=2))(state, BATCH)


def test_each_regulariser_logs_its_own_term_beside_the_weighted_sum():
  objective = jaxgan.Objective("hinge", (jaxgan.regularisers.penalty("r1", 1.0),
                                         jaxgan.regularisers.penalty("r2", 2.0)))
  tx = optax.sgd(0.1)
  state = jaxgan.create_state(0, G, D, tx, tx, BATCH, objective)
  _, m = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective, d_steps=2))(state, BATCH)
  r1, r2 = float(m["d/penalty/r1"]), float(m["d/penalty/r2"])
  assert r1 > 0 and r2 > 0 and r1 != r2
  np.testing.assert_allclose(float(m["d/penalty"]), 1.0 * r1 + 2.0 * r2, rtol=1e-5)


class _NNXDropoutG(__import__("flax").nnx.Module):
  """An nnx generator with dropout: its stream held from construction, as nnx writes it."""

  def __init__(self, rngs):
    from flax import nnx
    self.latent_dim = 2
    self.hidden = nnx.Linear(2, 32, rngs=rngs)
    self.drop = nnx.Dropout(0.5, rngs=rngs)
    self.out = nnx.Linear(32, 2, rngs=rngs)

  def __call__(self, z):
    return self.out(self.drop(jax.nn.relu(self.hidden(z))))


class _LinenDropoutD(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool = True):
    h = nn.relu(nn.Dense(32)(x))
    return nn.Dense(1)(nn.Dropout(0.5, deterministic=not train)(h))[:, 0]


def _train(g, d, steps=3, seed=0):
  tx = optax.sgd(0.05)
  state = jaxgan.create_state(seed, g, d, tx, tx, BATCH)
  step = jax.jit(jaxgan.make_train_step(g, d, tx, tx, d_steps=2))
  for _ in range(steps):
    state, metrics = step(state, BATCH)
  return state, metrics


def test_players_that_draw_randomness_train_reproducibly_from_the_steps_keys():
  from flax import nnx
  g = _NNXDropoutG(nnx.Rngs(params=0, dropout=1))
  first, m = _train(g, _LinenDropoutD())
  again, _ = _train(g, _LinenDropoutD())
  assert np.isfinite(float(m["g/loss"])) and np.isfinite(float(m["d/loss"]))
  for a, b in zip(_params(first), _params(again)):  # the same seed: the same masks
    np.testing.assert_array_equal(a, b)
  # The masks are drawn, not fixed: G's output at one z varies with the key in training.
  player = jaxgan.players.as_player(g)
  z = jnp.ones((1, 2))
  outs = [player.apply(first.g_params, first.g_state, z, None, True, rng=jax.random.key(i))[0]
          for i in range(2)]
  assert not np.allclose(outs[0], outs[1])
  # Inference applies no dropout: at one z the output is the same whatever the key.
  out = [player.apply(first.g_params, first.g_state, z, None, False, rng=jax.random.key(i))[0]
         for i in range(2)]
  np.testing.assert_array_equal(out[0], out[1])
  assert "rngs" not in str(jax.tree.structure(first.g_state))  # random streams are not state
