"""Players from either flax API: the linen and NNX sides of `jaxgan.players`.

An NNX pair training ring8 to 8/8 modes through the public API is the README's example,
run by `tests/test_readme.py`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxgan
from jaxgan.runner.checkpoint import Checkpointer, state_digest
from jaxgan.runner.config import Config
from jaxgan.models import MLPDiscriminator, MLPGenerator
from jaxgan.models.nnx_mlp import NNXMLPDiscriminator, NNXMLPGenerator
from jaxgan.players import LinenPlayer, NNXPlayer, as_player
from jaxgan.runner import factories
from jaxgan.runner.train import train_and_evaluate


def same_leaves(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _nnx_params_of_linen(linen_params, depth):
  """The linen MLP's parameters in the NNX MLP's layout (the same layers in order)."""
  dense = linen_params["MLP_0"]
  return {"mlp": {"hidden": {i: dict(dense[f"Dense_{i}"]) for i in range(depth)},
                  "out": dict(dense[f"Dense_{depth}"])}}


def test_an_nnx_pair_takes_the_very_update_of_the_linen_pair_with_the_same_parameters():
  linen_g, linen_d = MLPGenerator(latent_dim=3, width=16), MLPDiscriminator(width=16)
  nnx_g = NNXMLPGenerator(latent_dim=3, width=16, rngs=nnx.Rngs(5))
  nnx_d = NNXMLPDiscriminator(width=16, rngs=nnx.Rngs(6))
  tx = optax.adam(1e-2, b1=0.5)
  x = jax.random.normal(jax.random.key(3), (2, 8, 2))
  objective = jaxgan.objective.build("hinge", penalty="r1", penalty_weight=1.0)
  linen = jaxgan.create_state(0, linen_g, linen_d, tx, tx, x[0], objective)
  to_nnx = lambda p: _nnx_params_of_linen(p, 2)
  ours = linen.replace(g_params=to_nnx(linen.g_params), d_params=to_nnx(linen.d_params),
                       g_ema=to_nnx(linen.g_ema), g_opt_state=tx.init(to_nnx(linen.g_params)),
                       d_opt_state=tx.init(to_nnx(linen.d_params)))
  linen_step = jax.jit(jaxgan.make_train_step(linen_g, linen_d, tx, tx, objective, d_steps=2))
  nnx_step = jax.jit(jaxgan.make_train_step(nnx_g, nnx_d, tx, tx, objective, d_steps=2))
  for _ in range(3):
    linen, linen_metrics = linen_step(linen, {"x": x})
    ours, nnx_metrics = nnx_step(ours, {"x": x})
  for got, want in ((ours.g_params, to_nnx(linen.g_params)),
                    (ours.d_params, to_nnx(linen.d_params)), (ours.g_ema, to_nnx(linen.g_ema))):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  for key in ("d/loss", "d/penalty", "g/loss"):
    np.testing.assert_allclose(nnx_metrics[key], linen_metrics[key], rtol=1e-6)


class BatchNormGenerator(nnx.Module):
  def __init__(self, rngs):
    self.latent_dim = 2
    self.dense = nnx.Linear(2, 2, rngs=rngs)
    self.bn = nnx.BatchNorm(2, momentum=0.5, rngs=rngs)

  def __call__(self, z):
    return self.bn(self.dense(z))


def test_nnx_model_state_moves_in_training_and_sampling_runs_in_inference_mode():
  G, D = BatchNormGenerator(nnx.Rngs(0)), NNXMLPDiscriminator(width=8, rngs=nnx.Rngs(1))
  tx = optax.sgd(0.0)  # parameters stay, so the statistics can be followed by hand
  state = jaxgan.create_state(0, G, D, tx, tx, jnp.zeros((16, 2)))
  assert set(state.g_state) == {"bn"} and set(state.g_params) == {"dense", "bn"}
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, reuse_fake=True))
  new, _ = step(state, {"x": jnp.zeros((1, 16, 2))})
  # The step's one generator pass (reuse_fake) ran in training mode: the running mean moved
  # halfway (momentum 0.5) to the batch's mean of its pre-normalisation activations.
  _, step_key = jax.random.split(state.key)
  z = jax.random.normal(jax.random.split(step_key, 2)[0], (16, 2))
  h = z @ state.g_params["dense"]["kernel"] + state.g_params["dense"]["bias"]
  np.testing.assert_allclose(new.g_state["bn"]["mean"], 0.5 * h.mean(axis=0), rtol=1e-5,
                             atol=1e-6)
  # Sampling uses the running statistics: the module's inference mode, by hand.
  samples = jaxgan.make_sample_fn(G)(new, jax.random.key(9), 4, use_ema=False)
  zs = jax.random.normal(jax.random.key(9), (4, 2))
  hs = zs @ new.g_params["dense"]["kernel"] + new.g_params["dense"]["bias"]
  bn = new.g_state["bn"]
  expected = ((hs - bn["mean"]) / jnp.sqrt(bn["var"] + 1e-5) * new.g_params["bn"]["scale"]
              + new.g_params["bn"]["bias"])
  np.testing.assert_allclose(samples, expected, rtol=1e-5, atol=1e-6)


def test_the_runner_trains_and_resumes_nnx_players_bit_for_bit(tmp_path):
  run = dict(dataset="ring8", model="mlp_nnx", num_steps=20, batch_size=16, g_width=8,
             d_width=8, log_every=10, eval_every=20, eval_samples=100, checkpoint_every=10,
             tensorboard=False, seed=3)
  whole = train_and_evaluate(Config(**run), str(tmp_path / "whole"))
  first_half = train_and_evaluate(Config(**{**run, "num_steps": 10}), str(tmp_path / "split"))
  resumed = train_and_evaluate(Config(**run), str(tmp_path / "split"))
  assert resumed["resumed_from_step"] == 10
  assert resumed["state_sha256"] == whole["state_sha256"]
  other_seed = train_and_evaluate(Config(**{**run, "seed": 4, "num_steps": 10}),
                                  str(tmp_path / "seed4"))
  assert other_seed["state_sha256"] != first_half["state_sha256"]
  # --seed seeds the NNX players themselves (they hold their arrays from construction).
  params = lambda seed: as_player(factories.players_and_optimizers(
      Config(**{**run, "seed": seed}))[0]).init(
      None, None)[0]
  assert same_leaves(params(3), params(3)) and not same_leaves(params(3), params(4))


def test_players_are_linen_or_nnx_and_nnx_randomness_needs_the_steps_key(tmp_path):
  assert isinstance(as_player(MLPGenerator()), LinenPlayer)
  assert isinstance(as_player(NNXMLPGenerator(rngs=nnx.Rngs(0))), NNXPlayer)
  with pytest.raises(TypeError, match="flax.linen or flax.nnx Module; got function"):
    as_player(lambda x: x)

  class WithDropout(nnx.Module):
    def __init__(self, rngs):
      self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
      return self.dropout(x)

  player = as_player(WithDropout(nnx.Rngs(0)))  # its stream is reseeded from the step's keys
  with pytest.raises(ValueError, match=r"WithDropout draws from its random streams "
                     r"\('default',\): apply it with rng="):
    player.apply({}, {}, jnp.ones((2, 3)), None, True)
  out, _ = player.apply({}, {}, jnp.ones((64,)), None, True, rng=jax.random.key(0))
  assert set(np.unique(np.asarray(out))) == {0.0, 2.0}  # dropped, or kept and scaled by 2
  with pytest.raises(ValueError, match="model='mlp_nnx'.*has no packing"):
    train_and_evaluate(Config(dataset="ring8", model="mlp_nnx", packing=2, num_steps=1,
                              batch_size=4), str(tmp_path / "refused"))


def test_an_nnx_state_checkpoints_and_restores_exactly(tmp_path):
  G, D = NNXMLPGenerator(rngs=nnx.Rngs(0)), NNXMLPDiscriminator(rngs=nnx.Rngs(1))
  tx = optax.adam(1e-3)
  state = jaxgan.create_state(0, G, D, tx, tx, jnp.zeros((8, 2)))
  state, _ = jax.jit(jaxgan.make_train_step(G, D, tx, tx))(state, {"x": jnp.ones((1, 8, 2))})
  checkpoints = Checkpointer(str(tmp_path / "ck"))
  checkpoints.save(state, {})
  fresh = jaxgan.create_state(0, G, D, tx, tx, jnp.zeros((8, 2)))
  assert state_digest(checkpoints.restore(fresh).state) == state_digest(state)
