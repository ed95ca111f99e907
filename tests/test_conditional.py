"""Conditional GANs: labels reach both players in the fused step, AC-GAN's class loss, sampling by class."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import losses

NUM_CLASSES = 3


class TinyConditionalG(nn.Module):
  latent_dim: int = 3
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, z, y, train: bool = True):
    del train
    h = jnp.concatenate([z, jax.nn.one_hot(y, self.num_classes)], -1)
    return nn.Dense(2)(nn.tanh(nn.Dense(8)(h)))


class TinyConditionalD(nn.Module):
  num_classes: int = NUM_CLASSES
  acgan: bool = False

  @nn.compact
  def __call__(self, x, y, train: bool = True):
    del train
    h = nn.tanh(nn.Dense(8)(x))
    logit = nn.Dense(1)(h)[:, 0]
    if self.acgan:
      return logit, nn.Dense(self.num_classes)(h)
    return logit + jnp.sum(nn.Embed(self.num_classes, 8)(y) * h, -1)


def _ce(class_logits, y):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, y))


def reference_step(G, D, g_tx, d_tx, loss, d_steps, reuse_fake, ac_weight, state, x, y):
  """Conditional Algorithm 1 written plainly: fake samples take their real half's labels."""
  loss = losses.get(loss)
  key, step_key = jax.random.split(state.key)
  keys = jax.random.split(step_key, d_steps + 1)

  def d_out(p, v, labels):
    out = D.apply({"params": p}, v, labels)
    return out if isinstance(out, tuple) else (out, None)

  def d_cost(p, real, fake, labels):
    (rl, rc), (fl, fc) = d_out(p, real, labels), d_out(p, fake, labels)
    cost = loss(rl, fl).d
    if rc is not None:
      cost = cost + ac_weight * (_ce(rc, labels) + _ce(fc, labels))
    return cost

  d_params, d_opt = state.d_params, state.d_opt_state
  for i in range(d_steps):
    z = jax.random.normal(keys[i], (x.shape[1], G.latent_dim))
    fake = G.apply({"params": state.g_params}, z, y[i])
    grads = jax.grad(d_cost)(d_params, x[i], fake, y[i])
    updates, d_opt = d_tx.update(grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)
  z_g = z if reuse_fake else jax.random.normal(keys[d_steps], z.shape)

  def g_cost(p):
    fl, fc = d_out(d_params, G.apply({"params": p}, z_g, y[-1]), y[-1])
    cost = loss(jnp.zeros_like(fl), fl).g
    return cost + (ac_weight * _ce(fc, y[-1]) if fc is not None else 0.0)

  grads = jax.grad(g_cost)(state.g_params)
  updates, g_opt = g_tx.update(grads, state.g_opt_state, state.g_params)
  g_params = optax.apply_updates(state.g_params, updates)
  return state.replace(step=state.step + 1, g_params=g_params, d_params=d_params,
                       g_opt_state=g_opt, d_opt_state=d_opt, g_ema=g_params,
                       rng=jax.random.key_data(key))


def _batches(num, d_steps, batch_size):
  key = jax.random.key(7)
  out = []
  for i in range(num):
    kx, ky = jax.random.split(jax.random.fold_in(key, i))
    y = jax.random.randint(ky, (d_steps, batch_size), 0, NUM_CLASSES)
    x = jax.random.normal(kx, (d_steps, batch_size, 2)) + 2.0 * y[..., None]
    out.append({"x": x, "y": y})
  return out


@pytest.mark.parametrize("acgan, d_steps, reuse_fake",
                         [(False, 1, False), (False, 2, True), (True, 2, True)])
def test_conditional_step_equals_plain_conditional_algorithm(acgan, d_steps, reuse_fake):
  G, D = TinyConditionalG(), TinyConditionalD(acgan=acgan)
  g_tx, d_tx = optax.sgd(0.05), optax.sgd(0.1)
  data = _batches(3, d_steps, 6)
  state = jaxgan.create_state(2, G, D, g_tx, d_tx, {"x": data[0]["x"][0]})
  ref = state
  step = jax.jit(jaxgan.make_train_step(
      G, D, g_tx, d_tx, jaxgan.objective.build("non_saturating", ac_weight=0.7),
      d_steps=d_steps, reuse_fake=reuse_fake, ema_decay=0.0))
  reference = jax.jit(functools.partial(reference_step, G, D, g_tx, d_tx, "non_saturating",
                                        d_steps, reuse_fake, 0.7))
  for batch in data:
    state, _ = step(state, batch)
    ref = reference(ref, batch["x"], batch["y"])
  chex.assert_trees_all_close(state, ref, rtol=1e-5, atol=1e-6)


def test_acgan_class_loss_changes_the_updates_and_metrics():
  G, D = TinyConditionalG(), TinyConditionalD(acgan=True)
  tx = optax.sgd(0.1)
  batch = _batches(1, 1, 6)[0]
  state = jaxgan.create_state(0, G, D, tx, tx, {"x": batch["x"][0]})
  with_ac = jax.jit(jaxgan.make_train_step(G, D, tx, tx, jaxgan.objective.build(ac_weight=1.0)))(state, batch)
  without = jax.jit(jaxgan.make_train_step(G, D, tx, tx, jaxgan.objective.build(ac_weight=0.0)))(state, batch)
  real_logits, real_classes = D.apply({"params": state.d_params}, batch["x"][0], batch["y"][0])
  del real_logits
  # d/loss with the class term exceeds it without by at least the real-sample cross-entropy.
  gap = float(with_ac[1]["d/loss"] - without[1]["d/loss"])
  assert gap > float(_ce(real_classes, batch["y"][0])) - 1e-6
  assert not np.allclose(with_ac[0].d_params["Dense_2"]["kernel"],
                         without[0].d_params["Dense_2"]["kernel"])
  # Without the class term the class head gets no gradient at all.
  np.testing.assert_array_equal(without[0].d_params["Dense_2"]["kernel"],
                                state.d_params["Dense_2"]["kernel"])


def test_conditional_step_needs_labels_of_the_right_shape():
  G, D = TinyConditionalG(), TinyConditionalD()
  tx = optax.sgd(0.1)
  batch = _batches(1, 2, 4)[0]
  state = jaxgan.create_state(0, G, D, tx, tx, {"x": batch["x"][0]})
  step = jaxgan.make_train_step(G, D, tx, tx, d_steps=2)
  with pytest.raises(ValueError, match="batch\\['y'\\]"):
    step(state, {"x": batch["x"]})
  with pytest.raises(ValueError, match=r"\(2, 4\)"):
    step(state, {"x": batch["x"], "y": batch["y"][0]})


def test_sample_routes_each_label_to_its_sample():
  G, D = TinyConditionalG(), TinyConditionalD()
  tx = optax.sgd(0.1)
  state = jaxgan.create_state(0, G, D, tx, tx, {"x": jnp.zeros((4, 2))})
  sample = jaxgan.make_sample_fn(G)
  labels = jnp.array([0, 1, 2, 1, 0])
  got = sample(state, 3, 5, labels=labels)
  z = jax.random.normal(jax.random.key(3), (5, 3))
  np.testing.assert_allclose(got, G.apply({"params": state.g_ema}, z, labels), rtol=1e-6)
  one_class = sample(state, 3, 5, labels=2)
  np.testing.assert_allclose(one_class, G.apply({"params": state.g_ema}, z, jnp.full(5, 2)),
                             rtol=1e-6)
  with pytest.raises(ValueError, match="pass labels"):
    sample(state, 3, 5)
  with pytest.raises(ValueError, match="label 3 is outside 0..2"):
    sample(state, 3, 2, labels=[0, 3])
  G0 = jaxgan.models.MLPGenerator(latent_dim=3)
  state0 = jaxgan.create_state(0, G0, jaxgan.models.MLPDiscriminator(), tx, tx,
                               {"x": jnp.zeros((4, 2))})
  with pytest.raises(ValueError, match="not conditional"):
    jaxgan.make_sample_fn(G0)(state0, 0, 2, labels=[1, 1])
