"""Gradient accumulation over micro-batches (`micro_batch=`, `--batch_gpu`; issue 37).

With plain SGD a wrong scale or a missed part would move the parameters; with players and
regularisers without batch statistics the accumulated update must equal the whole
minibatch's, lazy R1 included. (LeCam's cost reads an EMA moved by the batch's mean output,
so each part reads its own, as each device does under data parallelism: close, not equal.)
"""

import jax
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan.models import MLPDiscriminator, MLPGenerator

G, D = MLPGenerator(latent_dim=2), MLPDiscriminator()
RING = jaxgan.data.mixtures.get("ring8")
BATCH = {"x": RING.sample(jax.random.key(2), (2, 16))}
OBJECTIVE = jaxgan.Objective("hinge", (
    jaxgan.regularisers.lazy(jaxgan.regularisers.penalty("r1", 1.0), 2),
    jaxgan.regularisers.penalty("r2", 0.5)))


def _run(micro_batch, steps=3):
  tx = optax.sgd(0.05)
  state = jaxgan.create_state(0, G, D, tx, tx, BATCH, OBJECTIVE)
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, OBJECTIVE, d_steps=2, ema_decay=0.5,
                                        micro_batch=micro_batch))
  history = []
  for _ in range(steps):
    state, metrics = step(state, BATCH)
    history.append({k: float(v) for k, v in metrics.items()})
  return state, history


@pytest.mark.parametrize("micro_batch", [4, 8])
def test_accumulated_update_equals_the_whole_minibatchs(micro_batch):
  whole, whole_metrics = _run(0)
  parts, part_metrics = _run(micro_batch)
  leaves = lambda s: jax.tree.leaves((s.g_params, s.d_params, s.g_ema, s.objective))
  before = jaxgan.create_state(0, G, D, optax.sgd(0.05), optax.sgd(0.05), BATCH, OBJECTIVE)
  assert max(float(np.max(np.abs(a - b))) for a, b in zip(leaves(whole), leaves(before))) > 1e-2
  for a, b in zip(leaves(whole), leaves(parts)):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
  for w, p in zip(whole_metrics, part_metrics):
    for name in ("d/loss", "d/penalty", "d/penalty/r1", "g/loss", "d/grad_norm",
                 "g/grad_norm"):
      np.testing.assert_allclose(p[name], w[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_micro_batch_that_does_not_divide_or_fit_the_rule_is_refused():
  tx = optax.sgd(0.05)
  state = jaxgan.create_state(0, G, D, tx, tx, BATCH)
  with pytest.raises(ValueError, match="micro_batch=5 does not divide this device's "
                     "minibatch of 16"):
    jax.jit(jaxgan.make_train_step(G, D, tx, tx, d_steps=2, micro_batch=5))(state, BATCH)
  with pytest.raises(ValueError, match="micro_batch=4 accumulates the alternating"):
    jaxgan.make_train_step(G, D, tx, tx, reuse_fake=True, micro_batch=4)


class _ImageG(__import__("flax").linen.Module):
  latent_dim: int = 4

  @__import__("flax").linen.compact
  def __call__(self, z, train: bool = True):
    return jax.numpy.tanh(__import__("flax").linen.Dense(4 * 4)(z)).reshape(-1, 4, 4, 1)


class _PositiveD(__import__("flax").linen.Module):
  """Every logit > 0, so r_t = 1 in every part and ADA's p moves up in every update."""

  @__import__("flax").linen.compact
  def __call__(self, x, train: bool = True):
    h = __import__("flax").linen.Dense(1)(x.reshape(x.shape[0], -1))[:, 0]
    return jax.nn.softplus(h) + 0.1


def test_adas_p_moves_by_the_whole_minibatch_in_parts_too():
  view = jaxgan.views.ada(None, target=0.0, interval=1, kimg=1.0, ops="xflip")
  objective = jaxgan.Objective("non_saturating", view=view)
  images = {"x": jax.random.uniform(jax.random.key(1), (1, 16, 4, 4, 1), minval=-1, maxval=1)}
  tx = optax.sgd(0.01)
  ps = []
  for micro_batch in (0, 4):
    state = jaxgan.create_state(0, _ImageG(), _PositiveD(), tx, tx, images, objective)
    step = jax.jit(jaxgan.make_train_step(_ImageG(), _PositiveD(), tx, tx, objective,
                                          micro_batch=micro_batch))
    state, _ = step(state, images)
    ps.append(float(state.objective["ada"]["p"]))
  assert ps[0] == pytest.approx(16 / 1000.0)  # B · interval / (kimg · 1000)
  assert ps[1] == pytest.approx(ps[0])  # not 4 / 1000: the parts count as one minibatch
