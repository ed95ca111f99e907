"""R3GAN: its loss, R1 with R2 each at its own weight, its players' structure and
initialisation, the [1, 2, 1] resampling, and its schedules, against hand-derived values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import flagfile_counts

import jaxgan
from jaxgan import losses, regularisers, schedules
from jaxgan.regularisers import penalties
from jaxgan.runner import factories
from jaxgan.runner import config as config_lib
from jaxgan.runner.config import Config
from jaxgan.models import r3gan, registry, resample


def test_rpgan_is_the_relativistic_pairing_loss_by_hand():
  real, fake = jnp.array([2.0, -1.0, 0.5]), jnp.array([1.0, 0.0, 0.5])
  costs = losses.get("rpgan").fn(real, fake)
  diff = np.array([1.0, -1.0, 0.0])
  softplus = lambda t: np.log1p(np.exp(t))
  assert float(costs.d) == pytest.approx(np.mean(softplus(-diff)), rel=1e-6)
  assert float(costs.g) == pytest.approx(np.mean(softplus(diff)), rel=1e-6)
  assert losses.get("rpgan").g_uses_real


def test_r1_and_r2_together_each_at_its_own_weight_on_a_quadratic_d():
  # D(x) = sum(a * x^2): grad = 2 a x, so (gamma / 2) E|grad|^2 = (gamma / 2) E sum(4 a^2 x^2).
  a = jnp.array([0.5, -1.5])
  d_fn = lambda x: jnp.sum(a * x ** 2, axis=1)
  real = jnp.array([[1.0, 2.0], [0.0, -1.0]])
  fake = jnp.array([[3.0, 0.0], [1.0, 1.0]])
  by_hand = lambda x, gamma: gamma / 2 * np.mean(np.sum(4 * np.asarray(a) ** 2
                                                          * np.asarray(x) ** 2, axis=1))
  objective = jaxgan.objective.build("rpgan", penalty="r1:0.3,r2:0.05", penalty_weight=9.0)
  assert [r.name for r in objective.d_regularisers] == ["r1", "r2"]
  inputs = regularisers.DInputs(d_fn, real, fake, None, None, jax.random.key(0), 0)
  total = sum(float(r.weight) * float(r.cost(inputs, None)[0])
              for r in objective.d_regularisers)
  assert total == pytest.approx(by_hand(real, 0.3) + by_hand(fake, 0.05), rel=1e-6)
  # Without their own weights both take penalty_weight.
  both = jaxgan.objective.build("rpgan", penalty="r1,r2", penalty_weight=0.2)
  assert [float(r.weight) for r in both.d_regularisers] == [0.2, 0.2]


@pytest.mark.parametrize("spec, message", [
    ("r1,r3", "'r3' is not accepted"), ("r1:-1", "'r1:-1' is not accepted"),
    ("r1:x", "'r1:x' is not accepted"), ("r1,r1", "names 'r1' twice")])
def test_a_bad_penalty_spec_is_named(spec, message):
  with pytest.raises(ValueError, match=message):
    penalties.parse(spec)
  with pytest.raises(ValueError, match=message):
    Config(penalty=spec).validate()


def test_penalty_weights_decay_along_a_cosine_to_their_fraction():
  objective = jaxgan.objective.build("rpgan", penalty="r1,r2", penalty_weight=0.05,
                                     penalty_decay_to=0.1, horizon=100)
  for reg in objective.d_regularisers:
    assert float(reg.weight(0)) == pytest.approx(0.05)
    assert float(reg.weight(50)) == pytest.approx(0.005 + 0.045 * 0.5)
    assert float(reg.weight(100)) == pytest.approx(0.005)
    assert float(reg.weight(400)) == pytest.approx(0.005)


def test_resampling_matches_upfirdn_by_hand():
  rng = np.random.RandomState(0)
  x = rng.randn(1, 4, 4, 2).astype(np.float32)
  taps = np.array([1.0, 3.0, 3.0, 1.0]) / 8
  k = np.outer(taps, taps)

  def upfirdn(x, up, down, k, pad0, pad1):  # zero insertion, padding, filtering, decimation
    b, h, w, c = x.shape
    u = np.zeros((b, h * up, w * up, c))
    u[:, ::up, ::up] = x
    p = np.pad(u, ((0, 0), (pad0, pad1), (pad0, pad1), (0, 0)))
    n = k.shape[0]
    out = np.array([[np.einsum("bhwc,hw->bc", p[:, i:i + n, j:j + n], k[::-1, ::-1])
                     for j in range(p.shape[2] - n + 1)] for i in range(p.shape[1] - n + 1)])
    return out.transpose(2, 0, 1, 3)[:, ::down, ::down]

  np.testing.assert_allclose(resample.upsample(jnp.asarray(x)), upfirdn(x, 2, 1, 4 * k, 2, 1),
                             atol=1e-6)
  np.testing.assert_allclose(resample.downsample(jnp.asarray(x)), upfirdn(x, 1, 2, k, 1, 1),
                             atol=1e-6)
  # Along one axis, inside: bilinear interpolation; a constant stays constant.
  row = np.asarray(resample.upsample(jnp.arange(4.0).reshape(1, 1, 4, 1)
                                     * jnp.ones((1, 4, 1, 1))))[0, 2, 1:7, 0]
  np.testing.assert_allclose(row, [0.25, 0.75, 1.25, 1.75, 2.25, 2.75], atol=1e-6)
  flat = np.asarray(resample.downsample(jnp.ones((1, 8, 8, 1))))
  np.testing.assert_allclose(flat[0, 1:3, 1:3, 0], 1.0, atol=1e-6)


def _players(num_classes=0, **stages):
  stages = {"stage_widths": "32,16", "stage_blocks": 2, "expansion": 2, "group_size": 8,
            **stages}
  cond = dict(g_conditioning="concat", d_conditioning="projection") if num_classes else {}
  return registry.build_players("r3gan", (8, 8, 3), num_classes=num_classes,
                                settings=r3gan.R3GANSettings(**stages), **cond)


def test_each_residual_block_starts_as_the_identity_and_the_fixup_scale_is_right():
  block = r3gan.ResidualBlock(expansion=2, group_size=8, num_blocks=16)
  x = jax.random.normal(jax.random.key(0), (4, 8, 8, 64))
  params = block.init(jax.random.key(1), x)
  np.testing.assert_array_equal(block.apply(params, x), x)
  kernels = [params["params"][name]["kernel"] for name in ("Conv_0", "GroupedConv_0", "Conv_1")]
  assert not np.any(np.asarray(kernels[2]))  # the branch's last layer
  gain = math.sqrt(2 / (1 + 0.2 ** 2)) * 16 ** -0.25
  # 1x1, 64 -> 128: fan-in 64; grouped 3x3 of 8 channels a group: fan-in 72.
  for kernel, fan_in in ((kernels[0], 64), (kernels[1], 72)):
    assert float(jnp.std(kernel)) == pytest.approx(gain / math.sqrt(fan_in), rel=0.05)
  assert kernels[1].shape == (3, 3, 8, 128)


def test_the_dense_form_of_the_grouped_convolution_is_the_grouped_one():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 32))
  forms = {impl: r3gan.GroupedConv(48, 3, 4, 1.0, impl) for impl in ("grouped", "dense")}
  params = forms["grouped"].init(jax.random.key(1), x)
  assert params["params"]["kernel"].shape == (3, 3, 8, 48)
  outputs = {impl: form.apply(params, x) for impl, form in forms.items()}
  np.testing.assert_allclose(outputs["dense"], outputs["grouped"], atol=1e-5)
  # Group 1's outputs (channels 12..23) see only its inputs (channels 8..15).
  bumped = x.at[..., 0].add(1.0)
  delta = forms["dense"].apply(params, bumped) - outputs["dense"]
  assert np.any(np.asarray(delta[..., :12])) and not np.any(np.asarray(delta[..., 12:]))


def test_players_shapes_conditioning_and_refusals():
  generator, discriminator = _players()
  z = jax.random.normal(jax.random.key(0), (3, generator.latent_dim))
  g_vars = generator.init(jax.random.key(1), z)
  images = generator.apply(g_vars, z)
  assert images.shape == (3, 8, 8, 3)
  assert discriminator.widths == (16, 32)  # G's reversed
  d_vars = discriminator.init(jax.random.key(2), images)
  assert discriminator.apply(d_vars, images).shape == (3,)
  # The basis scales a learned constant by a linear map of z: G is linear in that map's
  # output at init up to the blocks, which start as identities; so G(0) = 0.
  np.testing.assert_allclose(generator.apply(g_vars, jnp.zeros_like(z)), 0.0, atol=1e-6)
  cg, cd = _players(num_classes=5)
  y = jnp.array([0, 1, 4])
  cg_vars = cg.init(jax.random.key(1), z, y)
  cd_vars = cd.init(jax.random.key(2), images, y)
  logits = cd.apply(cd_vars, images, y)
  assert logits.shape == (3,) and not np.allclose(logits, cd.apply(cd_vars, images, y[::-1]))
  assert not np.allclose(cg.apply(cg_vars, z, y), cg.apply(cg_vars, z, y[::-1]))
  with pytest.raises(ValueError, match="conditioning='cbn' is not accepted; choose one of: "
                                       "concat"):
    registry.build_players("r3gan", (8, 8, 3), num_classes=5, g_conditioning="cbn",
                           settings=r3gan.R3GANSettings(stage_widths="32,16"))[0].init(
                               jax.random.key(0), z, y)
  with pytest.raises(ValueError, match="4 stages do not fit 28 px"):
    _check = r3gan.R3GANGenerator(28, 3, widths=(8, 8, 8, 8))
    _check.init(jax.random.key(0), z)
  with pytest.raises(ValueError, match="group_size=5 does not divide"):
    _players(group_size=5)[0].init(jax.random.key(1), z)


def test_the_schedules_r3gan_needs():
  section = config_lib.OptimisersSettings(g_lr=2e-4, d_lr=2e-4, lr_schedule="cosine",
                                  lr_decay_to=0.25, g_beta1=0.0, d_beta1=0.0, g_beta2=0.9,
                                  d_beta2=0.9, beta2_to=0.99)
  g_tx, _ = factories.optimizers(section, horizon=10, step=config_lib.StepSettings())
  params = {"w": jnp.zeros(())}
  state = g_tx.init(params)
  hyper = state.hyperparams
  assert float(hyper["b2"]) == pytest.approx(0.9) and float(hyper["learning_rate"]) == \
      pytest.approx(2e-4)
  for _ in range(11):  # the 11th update runs at count 10 and stores its values
    _, state = g_tx.update({"w": jnp.ones(())}, state, params)
  assert float(state.hyperparams["b2"]) == pytest.approx(0.99)
  assert float(state.hyperparams["learning_rate"]) == pytest.approx(5e-5)
  # The EMA's half-life grows from 0 to 1000 images along a cosine over 10 steps of batch 10.
  ema = config_lib.StepSettings(ema_half_life=1000.0, ema_growth="cosine").ema(10, 10)
  assert float(ema(0)) == 0.0
  assert float(ema(5)) == pytest.approx(0.5 ** (10 / 500.0), rel=1e-5)
  assert float(ema(10)) == pytest.approx(0.5 ** (10 / 1000.0), rel=1e-5)
  assert config_lib.StepSettings(ema_decay=0.9).ema(10, 10) == 0.9
  assert float(schedules.ema_half_life(100.0, 10, rampup=0.5)(4)) == pytest.approx(
      0.5 ** (10 / 20.0))


def test_the_augmentation_probability_gates_each_sample_and_grows_on_a_cosine():
  x = jax.random.normal(jax.random.key(0), (64, 8, 8, 3))
  key = jax.random.key(1)
  full = jaxgan.views.diff_augment("translation,cutout").apply(x, key, 0, None)
  assert jaxgan.views.diff_augment("translation,cutout", 0.0).apply(x, key, 0, None) \
      .tolist() == x.tolist()
  half = jaxgan.views.diff_augment("translation,cutout", 0.5).apply(x, key, 0, None)
  changed = np.any(np.asarray(half != x), axis=(1, 2, 3))
  assert 16 < changed.sum() < 48  # each sample on its own, about half of 64
  assert np.any(np.asarray(full != x), axis=(1, 2, 3)).sum() > 60
  objective = jaxgan.objective.build(augment="color", augment_p=0.55, augment_growth="cosine",
                                     horizon=100)
  grown = lambda step: objective.view.apply(x, key, step, None)
  assert grown(0).tolist() == x.tolist()  # p = 0 at the start
  assert np.any(np.asarray(grown(100) != x))
  with pytest.raises(ValueError, match="augment_p=1.5 is not accepted; it must lie in"):
    Config(augment_p=1.5).validate()


def _block_params(width, expansion, group_size):
  """1×1 in, grouped 3×3 (each output sees `group_size` inputs), 1×1 out, two biases."""
  wide = width * expansion
  return width * wide + 9 * group_size * wide + wide * width + 2 * wide


def _hand_counts(widths, blocks, expansion, group_size, latent, classes, channels, base,
                 embed=64):
  """R3GAN's (G, D) parameter counts written out from the architecture's description."""
  transitions = sum(a * b for a, b in zip(widths, widths[1:]) if a != b)
  body = transitions + blocks * sum(_block_params(w, expansion, group_size) for w in widths)
  g_in = latent + (embed if classes else 0)
  g = (classes * embed if classes else 0) + base * base * widths[0] + g_in * widths[0]
  g += body + widths[-1] * channels
  d = channels * widths[-1] + body + base * base * widths[0]
  d += widths[0] * widths[0] + classes * widths[0] if classes else widths[0]
  return g, d


@pytest.mark.parametrize("name, shape, classes, g_count, d_count", [
    # The paper's CIFAR-10 setting (class-conditional) and its FFHQ-64 setting.
    ("cifar10_r3gan", (32, 32, 3), 10, 20_781_952, 21_280_512),
    ("ffhq64_r3gan", (64, 64, 3), 0, 22_429_824, 22_381_440),
    # Ours, sized for the 2-core CPU (28 px).
    ("stacked_fmnist_r3gan", (28, 28, 3), 0, 132_768, 124_704),
    ("fashion_mnist_r3gan", (28, 28, 1), 0, 132_704, 124_640),
])
def test_parameter_counts_of_the_shipped_flagfiles(name, shape, classes, g_count, d_count):
  counts, G = flagfile_counts(name, shape, classes)
  base = shape[0] // 2 ** (len(G.widths) - 1)
  hand = _hand_counts(G.widths, G.blocks, G.expansion, G.group_size, G.latent_dim,
                      G.num_classes, shape[-1], base)
  assert counts == hand == (g_count, d_count), (counts, hand)
