"""The stabilisers of issue 6 against hand computations on tiny cases.

Weight clipping and optimistic steps (jaxgan.optim), instance noise and DiffAugment
(jaxgan.views.augment), PacGAN packing, LeCam, the unrolled generator, spectral norm of the MLP D,
and the joint update rules of the real step, which on Dirac-GAN must retrace the toy
trajectories of jaxgan.games exactly.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgan
from jaxgan import games, optim
from jaxgan.views import augment
from jaxgan.regularisers import lecam
from jaxgan.runner.config import Config
from jaxgan.models.mlp import MLPDiscriminator
from jaxgan.models.pack import Packed, pack


# --- Dirac-GAN as flax players (PROTOCOLS.md §5): G is a point mass at θ, D(x) = ψ·x -------

class DiracG(nn.Module):
  latent_dim: int = 1
  theta0: float = 1.0

  @nn.compact
  def __call__(self, z, train: bool = True):
    theta = self.param("theta", nn.initializers.constant(self.theta0), ())
    return jnp.broadcast_to(theta, (z.shape[0], 1))


class LinearD(nn.Module):
  psi0: float = 1.0

  @nn.compact
  def __call__(self, x, train: bool = True):
    psi = self.param("psi", nn.initializers.constant(self.psi0), ())
    return psi * x.reshape(x.shape[0], -1).sum(axis=1)


def dirac_run(steps, lr, optimizer="sgd", objective=None, **settings):
  """Returns the (steps + 1, 2) points (θ, ψ) that the real step visits on Dirac-GAN."""
  g, d = DiracG(), LinearD()
  g_tx, d_tx = optim.optimizer(optimizer, lr), optim.optimizer(optimizer, lr)
  batch = {"x": jnp.zeros((1, 4, 1))}  # the data: a point mass at 0
  objective = jaxgan.objective.build("minimax", **(objective or {}))
  state = jaxgan.create_state(0, g, d, g_tx, d_tx, batch["x"][0], objective)
  step = jax.jit(jaxgan.make_train_step(g, d, g_tx, d_tx, objective, ema_decay=0.0,
                                        **settings))
  points = [(1.0, 1.0)]
  for _ in range(steps):
    state, _ = step(state, batch)
    points.append((float(state.g_params["theta"]), float(state.d_params["psi"])))
  return np.array(points)


@pytest.mark.parametrize("rule, toy_rule, optimizer", [
    ("simultaneous", "simultaneous", "sgd"),
    ("extragradient", "extragradient", "sgd"),
    ("consensus", "consensus", "sgd"),  # gamma = 1 in both
    ("simultaneous", "optimistic", "optimistic_sgd"),
])
def test_joint_rules_of_the_real_step_retrace_the_toy_dirac_gan(rule, toy_rule, optimizer):
  lr = 0.5
  ours = dirac_run(8, lr, optimizer, update_rule=rule)
  toy = np.asarray(games.trajectory(games.dirac_gan, toy_rule, (1.0, 1.0), lr, 8))
  np.testing.assert_allclose(ours, toy, rtol=2e-5, atol=1e-6)


def test_r1_in_the_real_step_is_the_toy_dirac_gan_with_r1():
  ours = dirac_run(8, 0.5, update_rule="simultaneous",
                   objective=dict(penalty="r1", penalty_weight=0.3))
  toy = np.asarray(games.trajectory(games.GAMES["dirac_gan_r1"], "simultaneous", (1.0, 1.0),
                                    0.5, 8))
  np.testing.assert_allclose(ours, toy, rtol=2e-5, atol=1e-6)


def test_joint_rules_refuse_several_d_steps_and_unrolling():
  g, d = DiracG(), LinearD()
  tx = optax.sgd(0.1)
  for bad in ({"d_steps": 2}, {"unroll_steps": 1}, {"reuse_fake": True}):
    with pytest.raises(ValueError, match="update_rule='extragradient'.*d_steps=1"):
      jaxgan.make_train_step(g, d, tx, tx, update_rule="extragradient", **bad)


# --- the unrolled generator ------------------------------------------------------------------

def test_unrolled_generator_gradient_equals_the_hand_unrolled_dirac_gan():
  # D's cost on Dirac-GAN is softplus(0) + softplus(ψθ), so one SGD step of D is
  # ψ ← ψ − η θ σ(ψθ). G's minimax cost against D unrolled k steps is −softplus(ψ_k θ),
  # differentiated through the unrolling: written out here, and compared with the step.
  lr, k = 0.5, 2

  def d_step(psi, theta):
    return psi - lr * theta * jax.nn.sigmoid(psi * theta)

  def g_cost(theta, psi):
    for _ in range(k):
      psi = d_step(psi, theta)
    return -jax.nn.softplus(psi * theta)

  psi1 = d_step(1.0, 1.0)  # D's own update comes first
  theta1 = 1.0 - lr * jax.grad(g_cost)(1.0, psi1)
  ours = dirac_run(1, lr, unroll_steps=k)
  np.testing.assert_allclose(ours[1], [theta1, psi1], rtol=1e-6)
  plain = dirac_run(1, lr)  # without unrolling G moves differently
  assert abs(plain[1, 0] - theta1) > 1e-3


# --- LeCam ---------------------------------------------------------------------------------

def test_lecam_value_and_ema_by_hand():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([-2.0, 0.0])
  ema = lecam.update({"real": jnp.array(0.5), "fake": jnp.array(-0.5)}, real, fake, 0.9)
  np.testing.assert_allclose([ema["real"], ema["fake"]], [0.9 * 0.5 + 0.1 * 2.0,
                                                          0.9 * -0.5 + 0.1 * -1.0], rtol=1e-6)
  # E (D(x) − α_F)² + E (D(G(z)) − α_R)²
  expected = ((1 + 0.55) ** 2 + (3 + 0.55) ** 2) / 2 + ((-2 - 0.65) ** 2 + 0.65 ** 2) / 2
  np.testing.assert_allclose(lecam.value(real, fake, ema), expected, rtol=1e-6)


def test_lecam_in_the_step_moves_d_by_its_gradient_and_keeps_the_emas():
  # Dirac-GAN: real logit 0, fake logit ψθ = 1. After the EMA update (decay 0.5, from 0):
  # α_R = 0, α_F = 0.5; R = (0 − 0.5)² + (ψθ − 0)², ∂R/∂ψ = 2ψθ·θ = 2.
  lr, weight = 0.1, 0.3
  ours = dirac_run(1, lr, update_rule="simultaneous",
                   objective=dict(lecam_weight=weight, lecam_decay=0.5))
  d_grad = jax.nn.sigmoid(1.0) + weight * 2.0  # ∂/∂ψ of softplus(ψθ) is θσ(ψθ)
  np.testing.assert_allclose(ours[1, 1], 1.0 - lr * d_grad, rtol=1e-6)
  g, d = DiracG(), LinearD()
  tx = optax.sgd(lr)
  objective = jaxgan.objective.build(lecam_weight=weight, lecam_decay=0.5)
  state = jaxgan.create_state(0, g, d, tx, tx, jnp.zeros((4, 1)), objective)
  assert set(state.objective) == {"lecam"} and not set(state.d_state)  # its own name
  step = jaxgan.make_train_step(g, d, tx, tx, objective)
  state, metrics = jax.jit(step)(state, {"x": jnp.zeros((1, 4, 1))})
  emas = state.objective[lecam.NAME]
  np.testing.assert_allclose([emas["real"], emas["fake"]], [0.0, 0.5], atol=1e-7)
  np.testing.assert_allclose(metrics["d/penalty"], weight * (0.25 + 1.0), rtol=1e-6)
  with pytest.raises(ValueError, match=r"'lecam' keeps state.*create_state\(\.\.\., objective="):
    plain = jaxgan.create_state(0, g, d, tx, tx, jnp.zeros((4, 1)))
    step(plain, {"x": jnp.zeros((1, 4, 1))})


# --- optimizers: weight clipping, optimistic steps -------------------------------------------

def test_weight_clipping_lands_every_parameter_in_the_box():
  tx = optim.optimizer("sgd", 0.5, clip=0.1)
  params = {"w": jnp.array([0.05, -0.05, 0.3]), "b": jnp.array(0.0)}
  grads = {"w": jnp.array([-0.02, 0.02, 0.1]), "b": jnp.array(-1.0)}
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  # p − 0.5 g = [0.06, −0.06, 0.25], 0.5 → clipped to [0.06, −0.06, 0.1], 0.1
  np.testing.assert_allclose(new["w"], [0.06, -0.06, 0.1], rtol=1e-6)
  np.testing.assert_allclose(new["b"], 0.1, rtol=1e-6)
  with pytest.raises(ValueError, match="-1"):
    optim.clip_weights(-1)


def test_optimistic_steps_are_two_now_minus_one_before():
  sgd = optim.optimizer("optimistic_sgd", 0.1)
  adam = optim.optimizer("optimistic_adam", 0.1, b1=0.0, b2=0.0)  # r_t = sign(g_t)
  p = jnp.zeros(())
  s_sgd, s_adam = sgd.init(p), adam.init(p)
  got_sgd, got_adam = [], []
  for g in (1.0, -3.0, 2.0):
    u, s_sgd = sgd.update(jnp.array(g), s_sgd, p)
    got_sgd.append(float(u))
    u, s_adam = adam.update(jnp.array(g), s_adam, p)
    got_adam.append(float(u))
  # The first step is a plain one; then −η(2g_t − g_(t−1)).
  np.testing.assert_allclose(got_sgd, [-0.1, -0.1 * (-6 - 1), -0.1 * (4 + 3)], rtol=1e-5)
  np.testing.assert_allclose(got_adam, [-0.1, -0.1 * (-2 - 1), -0.1 * (2 + 1)], rtol=1e-4)


# --- instance noise and DiffAugment ----------------------------------------------------------

def test_instance_noise_scale_anneals_linearly_and_adds_scaled_normal_noise():
  scales = [float(augment.noise_scale(0.4, 100, jnp.array(s))) for s in (0, 25, 100, 200)]
  np.testing.assert_allclose(scales, [0.4, 0.3, 0.0, 0.0], atol=1e-7)
  assert float(augment.noise_scale(0.4, 0, jnp.array(10**6))) == pytest.approx(0.4)
  x, key = jnp.ones((3, 2)), jax.random.key(1)
  np.testing.assert_allclose(augment.instance_noise(x, key, 0.3) - x,
                             0.3 * jax.random.normal(key, (3, 2)), rtol=1e-5, atol=1e-6)


def test_translation_and_cutout_by_hand():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  moved = augment.translation(x, jnp.array([[1, -1]]))  # down one row, left one column
  expected = np.zeros((4, 4))
  expected[1:, :3] = np.arange(16.0).reshape(4, 4)[:3, 1:]
  np.testing.assert_array_equal(moved[0, :, :, 0], expected)
  holed = augment.cutout(x, jnp.array([[0, 3]]), (2, 2))  # rows -1..0, columns 2..3
  expected = np.arange(16.0).reshape(4, 4)
  expected[0, 2:] = 0
  np.testing.assert_array_equal(holed[0, :, :, 0], expected)


def test_color_by_hand():
  x = jnp.array([[[[0.2, 0.4, 0.9]]]])  # one pixel, three channels
  u = jnp.array([[0.7, 0.25, 0.0]])     # brightness +0.2, saturation ×0.5, contrast ×0.5
  b = np.array([0.4, 0.6, 1.1])
  s = (b - b.mean()) * 0.5 + b.mean()
  c = (s - s.mean()) * 0.5 + s.mean()
  np.testing.assert_allclose(augment.color(x, u)[0, 0, 0], c, rtol=1e-6)


def test_diff_augment_is_differentiable_and_draws_per_sample():
  x = jax.random.normal(jax.random.key(0), (6, 8, 8, 3))
  policy = augment.parse_policy("color,translation,cutout")
  out = augment.diff_augment(x, jax.random.key(1), policy)
  np.testing.assert_array_equal(out, augment.diff_augment(x, jax.random.key(1), policy))
  assert not np.allclose(out, augment.diff_augment(x, jax.random.key(2), policy))
  same = jnp.broadcast_to(x[:1], x.shape)  # six copies of one image come out differently
  copies = augment.diff_augment(same, jax.random.key(1), policy)
  assert all(not np.allclose(copies[0], copies[i]) for i in range(1, 6))
  # Shifts and holes are linear and 0/1: each input pixel either reaches the output once
  # or is dropped, so the gradient of the output's sum is 1 or 0 per pixel, some of each.
  geometric = augment.parse_policy("translation,cutout")
  grad = jax.grad(lambda v: jnp.sum(augment.diff_augment(v, jax.random.key(1), geometric)))(x)
  assert set(np.unique(np.asarray(grad))) == {0.0, 1.0}
  with pytest.raises(ValueError, match="'flip'"):
    augment.parse_policy("color,flip")


def test_the_step_shows_d_augmented_inputs():
  # D(x) = ψ·Σx on a constant image of ones: only brightness changes the sum, by
  # (u − ½)·pixels, u ~ U[0, 1). Without augmentation the real logit is exactly 16.
  g_tx = d_tx = optax.sgd(0.0)
  x = jnp.ones((1, 8, 4, 4, 1))
  d = LinearD()
  for policy, check in (("", lambda r: np.all(r == 16.0)),
                        ("color", lambda r: np.all(np.abs(r - 16.0) <= 8.0) and np.std(r) > 0)):
    g = DiracImage()
    state = jaxgan.create_state(0, g, d, g_tx, d_tx, x[0])
    step = jaxgan.make_train_step(g, d, g_tx, d_tx, jaxgan.objective.build(augment=policy))
    logits = []
    for _ in range(3):
      state, metrics = jax.jit(step)(state, {"x": x})
      logits.append(float(metrics["d/real_logit"]))
    assert check(np.array(logits)), (policy, logits)


class DiracImage(nn.Module):
  latent_dim: int = 1

  @nn.compact
  def __call__(self, z, train: bool = True):
    theta = self.param("theta", nn.initializers.constant(1.0), ())
    return jnp.broadcast_to(theta, (z.shape[0], 4, 4, 1))


# --- PacGAN ----------------------------------------------------------------------------------

def test_pack_puts_consecutive_samples_side_by_side():
  x = jnp.arange(12.0).reshape(6, 2)
  np.testing.assert_array_equal(pack(x, 3), [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]])
  images = jnp.arange(2 * 2 * 2 * 1.0).reshape(2, 2, 2, 1)
  packed = pack(images, 2)
  assert packed.shape == (1, 2, 2, 2)
  np.testing.assert_array_equal(packed[0, ..., 0], images[0, ..., 0])
  np.testing.assert_array_equal(packed[0, ..., 1], images[1, ..., 0])
  with pytest.raises(ValueError, match="packing=4.*7 samples"):
    pack(jnp.zeros((7, 2)), 4)


def test_packed_discriminator_scores_each_pack_with_the_wider_inner_d():
  inner = MLPDiscriminator(width=8, depth=1)
  d = Packed(inner, 2)
  x = jax.random.normal(jax.random.key(0), (6, 2))
  variables = d.init(jax.random.key(1), x, train=False)
  logits = d.apply(variables, x, train=False)
  assert logits.shape == (3,)
  inner_vars = {"params": variables["params"]["discriminator"]}
  np.testing.assert_allclose(logits, inner.apply(inner_vars, x.reshape(3, 4), train=False),
                             rtol=1e-6)


# --- spectral norm of the MLP discriminator --------------------------------------------------

def test_spectral_norm_divides_the_mlp_layers_by_their_top_singular_value():
  d = MLPDiscriminator(width=4, depth=0, features=3, spectral_norm=True)
  x = jax.random.normal(jax.random.key(0), (5, 2))
  variables = d.init(jax.random.key(1), x, train=False)
  for _ in range(30):  # power iterations converge on the top singular vector
    _, updates = d.apply(variables, x, train=True, mutable=["batch_stats"])
    variables = {**variables, **updates}
  dense = variables["params"]["MLP_0"]["Dense_0"]
  w, b = np.asarray(dense["kernel"]), np.asarray(dense["bias"])
  expected = np.asarray(x) @ (w / np.linalg.svd(w, compute_uv=False)[0]) + b
  np.testing.assert_allclose(d.apply(variables, x, train=False), expected, rtol=1e-4)


# --- the config names each bad combination ---------------------------------------------------

@pytest.mark.parametrize("fields, message", [
    ({"packing": 3, "batch_size": 256}, "packing=3 does not divide batch_size=256"),
    ({"augment": "color"}, "augment='color' is not accepted for the 2D dataset ring8"),
    ({"update_rule": "consensus", "d_steps": 2}, "update_rule='consensus'.*d_steps=2"),
    ({"d_features": 4}, "d_features=4 is not accepted"),
    ({"d_norm": "batch"}, "d_norm='batch' is not accepted for model='mlp'"),
    ({"optimizer": "rmsprop"}, "optimizer='rmsprop' is not accepted"),
    ({"lecam_decay": 1.0}, r"lecam_decay=1.0 is not accepted"),
    ({"unroll_steps": -1}, "unroll_steps=-1 is not accepted"),
])
def test_config_names_bad_stabiliser_settings(fields, message):
  with pytest.raises(ValueError, match=message):
    Config(**fields).validate()
