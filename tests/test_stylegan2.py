"""StyleGAN2's layers against plain per-sample references, and its players' structure."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import flagfile_counts, param_count

import jaxgan
from jaxgan.models import equalized, registry, resample, stylegan2


def _conv(x, w, stride=1, padding="SAME"):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      precision="highest")


def test_modulated_conv_is_each_sample_convolved_with_its_own_normalised_kernel():
  kx, kw, ks = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (3, 5, 5, 4))
  w = jax.random.normal(kw, (3, 3, 4, 6))
  s = jax.random.uniform(ks, (3, 4), minval=0.2, maxval=2.0)
  for demodulate in (True, False):
    want = []
    for b in range(3):
      kernel = w * s[b][None, None, :, None]
      if demodulate:
        kernel = kernel / jnp.sqrt(jnp.sum(kernel ** 2, axis=(0, 1, 2)) + 1e-8)
      want.append(_conv(x[b:b + 1], kernel)[0])
    with jax.default_matmul_precision("highest"):
      got = stylegan2.modulated_conv(x, w, s, demodulate)
    np.testing.assert_allclose(got, jnp.stack(want), rtol=1e-5, atol=1e-5)
  # Demodulated, the kernel's and the style's scales do not matter.
  np.testing.assert_allclose(stylegan2.modulated_conv(x, 3.0 * w, 0.5 * s),
                             stylegan2.modulated_conv(x, w, s), rtol=1e-5, atol=1e-5)


def test_equalised_dense_scales_its_stored_weights_at_every_call():
  layer = equalized.Dense(3, lr_mul=0.01, bias_init=1.0, activate=True)
  x = jax.random.normal(jax.random.key(0), (2, 5))
  params = layer.init(jax.random.key(1), x)["params"]
  # Stored as N(0, 1) / lr_mul: std ≈ 100; the bias stored as init / lr_mul.
  assert 50 < float(jnp.std(params["kernel"])) < 200
  np.testing.assert_allclose(params["bias"], 100.0)
  pre = x @ (params["kernel"] * 0.01 / math.sqrt(5)) + params["bias"] * 0.01
  want = np.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2)
  np.testing.assert_allclose(layer.apply({"params": params}, x), want, rtol=1e-5, atol=1e-6)
  # Adam's step on the stored weight moves the used one lr_mul / √fan_in as far.
  grad = jax.grad(lambda p: layer.apply({"params": p}, x).sum())(params)["kernel"]
  pre_grad = jax.grad(lambda k: equalized.lrelu(x @ k + 1.0).sum())(
      params["kernel"] * 0.01 / math.sqrt(5))
  np.testing.assert_allclose(grad, pre_grad * 0.01 / math.sqrt(5), rtol=1e-5)


def test_minibatch_stddev_by_hand():
  x = np.random.default_rng(0).normal(size=(8, 2, 2, 3)).astype(np.float32)
  got = np.asarray(stylegan2.minibatch_stddev(jnp.asarray(x), group_size=4))
  assert got.shape == (8, 2, 2, 4)
  np.testing.assert_array_equal(got[..., :3], x)
  for j in range(8):
    group = x[j % 2::2]  # samples j mod 2, +2, +4, +6: the group of 4 that j belongs to
    want = np.mean(np.sqrt(np.var(group, axis=0) + 1e-8))
    np.testing.assert_allclose(got[j, :, :, 3], want, rtol=1e-5)
  with pytest.raises(ValueError, match="batch 6"):
    stylegan2.minibatch_stddev(jnp.zeros((6, 2, 2, 3)), group_size=4)


def test_blur_is_the_separable_1331_filter_and_a_stride_two_conv_after_it_halves():
  x = np.random.default_rng(1).normal(size=(1, 6, 6, 1)).astype(np.float32)
  f = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
  padded = np.pad(x[0, :, :, 0], 2)
  want = np.array([[np.sum(padded[i:i + 4, j:j + 4] * f) for j in range(7)] for i in range(7)])
  got = resample.blur(jnp.asarray(x), pad=2)
  np.testing.assert_allclose(got[0, :, :, 0], want, rtol=1e-5, atol=1e-6)
  # D's downsampling 3×3: that blur, then a VALID stride-2 convolution, bias, leaky ReLU × √2.
  layer = stylegan2.DConv(2, down=True)
  params = layer.init(jax.random.key(0), jnp.asarray(x))
  w = np.asarray(params["params"]["kernel"])[:, :, 0, :] / 3.0  # equalised: 1/√(3·3·1)
  pre = np.array([[[np.sum(want[2 * i:2 * i + 3, 2 * j:2 * j + 3] * w[:, :, o])
                    for o in range(2)] for j in range(3)] for i in range(3)])
  np.testing.assert_allclose(layer.apply(params, jnp.asarray(x))[0],
                             np.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2), rtol=1e-4,
                             atol=1e-5)


def _tiny(**kw):
  g = dict(resolution=8, channels=1, latent_dim=8, w_dim=8, mapping_layers=2,
           channel_base=64, channel_max=8)
  return stylegan2.StyleGAN2Generator(**{**g, **kw})


def test_noise_starts_at_zero_strength_and_is_drawn_from_the_noise_stream():
  G = _tiny(mixing_prob=0.0)
  z = jax.random.normal(jax.random.key(0), (4, 8))
  variables = jax.jit(G.init)({"params": jax.random.key(1)}, z)
  run = jax.jit(lambda v, key: G.apply(v, z, train=False, rngs={"noise": key}))
  np.testing.assert_array_equal(run(variables, jax.random.key(2)),
                                run(variables, jax.random.key(3)))
  params = jax.tree_util.tree_map_with_path(
      lambda path, p: p + 0.5 if "noise_strength" in jax.tree_util.keystr(path) else p,
      variables["params"])
  noisy = {**variables, "params": params}
  assert not np.allclose(run(noisy, jax.random.key(2)), run(noisy, jax.random.key(3)))
  np.testing.assert_array_equal(run(noisy, jax.random.key(2)), run(noisy, jax.random.key(2)))
  with pytest.raises(ValueError, match="rngs=\\{'noise': key\\}"):
    G.apply(variables, z, train=False)


def test_w_avg_tracks_the_mapping_and_truncation_pulls_toward_it():
  z = jax.random.normal(jax.random.key(0), (16, 8))
  G = _tiny(mixing_prob=0.0, use_noise=False)
  variables = jax.jit(G.init)({"params": jax.random.key(1)}, z)
  assert not np.any(variables["stats"]["w_avg"])
  _, stats = G.apply(variables, z, rngs={"noise": jax.random.key(2)}, mutable=["stats"])
  w = stylegan2.MappingNetwork(8, 2).apply({"params": variables["params"]["mapping"]}, z)
  np.testing.assert_allclose(stats["stats"]["w_avg"], 0.005 * np.mean(w, axis=0), rtol=1e-4,
                             atol=1e-7)
  # ψ = 0: every sample is the image of w̄, whatever its z.
  tracked = {**variables, **stats}
  images = jax.jit(lambda v: _tiny(truncation_psi=0.0, use_noise=False).apply(
      v, z, train=False, rngs={"noise": jax.random.key(3)}))(tracked)
  np.testing.assert_allclose(images, jnp.broadcast_to(images[:1], images.shape), atol=1e-6)
  full = jax.jit(lambda v: G.apply(v, z, train=False, rngs={"noise": jax.random.key(3)}))(
      tracked)
  assert float(jnp.std(full, axis=0).mean()) > 1e-3


def test_style_mixing_takes_later_layers_from_a_second_latent():
  z = jax.random.normal(jax.random.key(0), (4, 8))
  plain, mixed = _tiny(mixing_prob=0.0, use_noise=False), _tiny(mixing_prob=1.0, use_noise=False)
  variables = plain.init({"params": jax.random.key(1)}, z)
  run = lambda G, key: G.apply(variables, z, rngs={"noise": key}, mutable=["stats"])[0]
  base = run(plain, jax.random.key(2))
  assert not np.allclose(run(mixed, jax.random.key(2)), base, atol=1e-4)
  # Without training, no mixing: the plain generator's image.
  np.testing.assert_allclose(
      mixed.apply(variables, z, train=False, rngs={"noise": jax.random.key(2)}), base,
      rtol=1e-5, atol=1e-6)


def test_style_layers_name_what_each_latent_drives():
  assert stylegan2.style_layers(16) == ["4: conv", "8: up-conv, 4: toRGB", "8: conv",
                                        "16: up-conv, 8: toRGB", "16: conv", "16: toRGB"]
  assert _tiny().num_ws == len(stylegan2.style_layers(8)) == 4
  np.testing.assert_array_equal(stylegan2.layer_mask([0, 2], 4), [True, False, True, False])
  for bad in ([4], [-1], []):
    with pytest.raises(ValueError, match="indices in 0..3"):
      stylegan2.layer_mask(bad, 4)


def test_style_mixing_at_sampling_takes_the_chosen_layers_from_the_second_latent():
  z = jax.random.normal(jax.random.key(0), (4, 8))
  z2 = jax.random.normal(jax.random.key(5), (4, 8))
  G = _tiny(mixing_prob=0.0, use_noise=False)
  variables = G.init({"params": jax.random.key(1)}, z)
  run = lambda g, v, *a, **kw: g.apply(v, *a, train=False, rngs={"noise": jax.random.key(2)},
                                       **kw)
  w = stylegan2.MappingNetwork(8, 2).apply({"params": variables["params"]["mapping"]}, z)
  w2 = stylegan2.MappingNetwork(8, 2).apply({"params": variables["params"]["mapping"]}, z2)
  # The reference: z's image with the chosen layers' latents moved to w2 through ws_delta.
  chosen = np.array([False, True, True, False])
  delta = np.where(chosen[None, :, None], (w2 - w)[:, None, :], 0.0)
  want = run(G, variables, z, ws_delta=jnp.asarray(delta))
  got = run(G, variables, z, mix_z=z2, mix_layers=(1, 2))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert not np.allclose(got, run(G, variables, z), atol=1e-3)
  # Every layer from z2 is z2's image; mixing a latent with itself changes nothing.
  np.testing.assert_allclose(run(G, variables, z, mix_z=z2, mix_layers=range(4)),
                             run(G, variables, z2), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(run(G, variables, z, mix_z=z, mix_layers=(0, 3)),
                                run(G, variables, z))
  # mix_z is truncated as z is: at ψ = 0 both are w̄, so mixing moves nothing.
  tracked = {**variables, "stats": {"w_avg": jnp.mean(w, axis=0)}}
  flat = _tiny(mixing_prob=0.0, use_noise=False, truncation_psi=0.0)
  np.testing.assert_allclose(run(flat, tracked, z, mix_z=z2, mix_layers=(0, 1)),
                             run(flat, tracked, z), rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match="indices in 0..3"):
    run(G, variables, z, mix_z=z2, mix_layers=(4,))
  with pytest.raises(ValueError, match="style mixing at sampling"):
    G.apply(variables, z, mix_z=z2, mix_layers=(0,), rngs={"noise": jax.random.key(2)},
            mutable=["stats"])


def test_players_run_conditionally_and_refuse_what_they_cannot_be():
  z = jax.random.normal(jax.random.key(0), (4, 8))
  y = jnp.array([0, 1, 2, 1])
  G = _tiny(num_classes=3, use_noise=False, mixing_prob=0.0)
  g_vars = jax.jit(G.init)({"params": jax.random.key(1)}, z, y)
  generate = jax.jit(lambda labels: G.apply(g_vars, z, labels, train=False,
                                            rngs={"noise": jax.random.key(2)}))
  images = generate(y)
  assert images.shape == (4, 8, 8, 1)
  assert not np.allclose(images, generate(y[::-1]))
  D = stylegan2.StyleGAN2Discriminator(8, channel_base=64, channel_max=8, num_classes=3,
                                       mapping_layers=2)
  d_vars = jax.jit(D.init)(jax.random.key(3), images, y)
  judge = jax.jit(lambda labels: D.apply(d_vars, images, labels))
  logits = judge(y)
  assert logits.shape == (4,) and not np.allclose(logits, judge(y[::-1]))
  with pytest.raises(ValueError, match="power-of-two resolution of at least 8 px; got 28"):
    _tiny(resolution=28).init({"params": jax.random.key(0)}, z)
  with pytest.raises(ValueError, match="conditioning='cbn' is not accepted"):
    _tiny(num_classes=3, conditioning="cbn").init({"params": jax.random.key(0)}, z, y)


def test_parameter_counts_equal_the_official_ones_for_ffhq_1024_config_f():
  G = stylegan2.StyleGAN2Generator(1024, 3, channel_base=32768)
  D = stylegan2.StyleGAN2Discriminator(1024, channel_base=32768)
  # The counts the official implementation prints for its players.
  assert (param_count(G, jnp.zeros((4, 512))),
          param_count(D, jnp.zeros((4, 1024, 1024, 3)))) == (
      30_370_060, 29_012_513)


@pytest.mark.parametrize("name, shape, classes, g_count, d_count", [
    # ADA's paper256 configuration (FFHQ / image folders at 256 px).
    ("ffhq256_stylegan2_ada", (256, 256, 3), 0, 24_767_458, 24_001_089),
    # ADA's CIFAR-10 configuration (conditional, a 2-layer mapping in G, D without residual
    # skips); both counts are what stylegan2-ada-pytorch's own networks give at d72cc7d.
    ("cifar10_stylegan2_ada", (32, 32, 3), 10, 20_215_315, 23_089_664),
    # Ours, sized for the 2-core CPU (32 px grey, 10 classes, unconditional).
    ("fashion_mnist_stylegan2_ada", (32, 32, 1), 0, 837_867, 288_929),
])
def test_parameter_counts_of_the_shipped_flagfiles(name, shape, classes, g_count, d_count):
  counts, _ = flagfile_counts(name, shape, classes)
  assert counts == (g_count, d_count), counts


def test_path_lengths_by_hand_on_a_linear_synthesis():
  from jaxgan.regularisers import path_length
  rng = np.random.default_rng(0)
  a = rng.normal(size=(3, 4, 2 * 2 * 1)).astype(np.float32)  # (layers, w_dim, pixels)

  def synthesise(params, z, y, ws_delta, key):
    ws = jnp.broadcast_to(z[:, None, :], (z.shape[0], 3, 4)) + ws_delta
    return jnp.einsum("blw,lwp->bp", ws, params).reshape(-1, 2, 2, 1)

  z = jnp.asarray(rng.normal(size=(5, 4)).astype(np.float32))
  key = jax.random.key(0)
  got = path_length.lengths(synthesise, jnp.asarray(a), z, None, (3, 4), key)
  noise_key, _ = jax.random.split(key)
  y = np.asarray(jax.random.normal(noise_key, (5, 2, 2, 1))) / 2.0  # / √(H·W)
  grads = np.einsum("lwp,bp->blw", a, y.reshape(5, 4))                # J_wᵀ y
  want = np.sqrt(np.mean(np.sum(grads ** 2, axis=2), axis=1))
  np.testing.assert_allclose(got, want, rtol=1e-5)

  reg = path_length.path_length(weight=2.0, every=2, decay=0.01, batch_shrink=1)
  assert reg.weight == 4.0 and float(reg.init()) == 0.0
  inputs = path_length.GInputs(synthesise, lambda k, n: z[:n], jnp.asarray(a),
                               jnp.zeros((5,), jnp.int32), (3, 4), jax.random.key(1),
                               jnp.asarray(0))
  z_key, key = jax.random.split(inputs.key)
  a_step = path_length.lengths(synthesise, jnp.asarray(a), z, None, (3, 4), key)
  value, mean = reg.cost(inputs, jnp.asarray(0.5))
  new_mean = 0.5 + 0.01 * (np.mean(a_step) - 0.5)
  np.testing.assert_allclose(mean, new_mean, rtol=1e-6)
  np.testing.assert_allclose(value, np.mean((np.asarray(a_step) - new_mean) ** 2), rtol=1e-5)
  # Lazy: the odd G updates leave it out and keep the mean.
  skipped = reg.cost(inputs._replace(step=jnp.asarray(1)), jnp.asarray(0.5))
  assert (float(skipped[0]), float(skipped[1])) == (0.0, 0.5)


def test_the_step_gives_g_its_noise_stream_and_path_length_and_the_sampler_its_noise():
  from jaxgan import objective as objective_lib
  G, D = registry.build_players("stylegan2", (8, 8, 1), latent_dim=4,
                                settings=stylegan2.StyleGAN2Settings(
                                    channel_base=32, channel_max=4, mapping_layers=1,
                                    style_mixing=0.5, mbstd_group=2))
  assert (G.mixing_prob, D.mbstd_group, D.mapping_layers) == (0.5, 2, 8)
  objective = objective_lib.build("non_saturating", pl_weight=2.0, pl_every=1)
  tx = optax.adam(1e-3)
  x = jax.random.normal(jax.random.key(0), (1, 4, 8, 8, 1))
  state = jaxgan.create_state(0, G, D, tx, tx, x[0], objective)
  assert float(state.objective["path_length"]) == 0.0
  new, metrics = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective))(state, {"x": x})
  assert np.isfinite(float(metrics["d/loss"])) and np.any(new.g_state["stats"]["w_avg"])
  # The noise strengths got gradients (so the noise reached G's layers) and moved.
  strengths = lambda s: [v for p, v in jax.tree_util.tree_flatten_with_path(s.g_params)[0]
                         if "noise_strength" in jax.tree_util.keystr(p)]
  assert all(float(a) != float(b) for a, b in zip(strengths(new), strengths(state)))
  # Path length: its running mean moved, its cost is logged and changed G's update.
  assert float(new.objective["path_length"]) > 0 and float(metrics["g/penalty"]) > 0
  plain, _ = jax.jit(jaxgan.make_train_step(G, D, tx, tx, "non_saturating"))(state, {"x": x})
  assert not np.allclose(new.g_params["mapping"]["fc0"]["kernel"],
                         plain.g_params["mapping"]["fc0"]["kernel"])
  mlp_g, mlp_d = registry.build_players("mlp", (2,))
  with pytest.raises(ValueError, match="path_length regularises G in its per-layer latents"):
    jaxgan.make_train_step(mlp_g, mlp_d, tx, tx, objective)
  sample = jaxgan.make_sample_fn(G)
  np.testing.assert_array_equal(sample(new, 3, 4), sample(new, 3, 4))
  assert not np.allclose(sample(new, 3, 4), sample(new, 4, 4))


def _conv_inputs(jaxpr):
  """(spatial size, dtype) of every convolution's input in a jaxpr, sub-jaxprs included."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      aval = eqn.invars[0].aval
      found.append((aval.shape[1], str(aval.dtype)))
    for value in eqn.params.values():
      inner = getattr(value, "jaxpr", None)
      if inner is not None and hasattr(inner, "eqns"):
        found += _conv_inputs(inner)
  return found


def test_mixed_precision_computes_the_top_resolutions_in_bfloat16_and_agrees_with_float32():
  sizes = dict(channel_base=256, channel_max=16)
  make = lambda n: (
      stylegan2.StyleGAN2Generator(16, 3, latent_dim=16, w_dim=16, mapping_layers=1,
                                   bf16_resolutions=n, **sizes),
      stylegan2.StyleGAN2Discriminator(16, mbstd_group=2, bf16_resolutions=n, **sizes))
  (G, D), (G16, D16) = make(0), make(1)  # 1: the 16 px block
  z = jax.random.normal(jax.random.key(0), (4, 16))
  g_vars = jax.jit(G.init)({"params": jax.random.key(1)}, z)
  generate = lambda g: jax.jit(lambda v: g.apply(v, z, rngs={"noise": jax.random.key(2)},
                                                 mutable=["stats"])[0])(g_vars)
  image, image16 = generate(G), generate(G16)  # the same parameters
  assert image16.dtype == jnp.float32
  np.testing.assert_allclose(image16, image, atol=0.05)
  d_vars = jax.jit(D.init)({"params": jax.random.key(3)}, image)
  judge16 = lambda v, x: D16.apply(v, x)
  logits16 = jax.jit(judge16)(d_vars, image)
  assert logits16.dtype == jnp.float32
  np.testing.assert_allclose(logits16, jax.jit(D.apply)(d_vars, image), atol=0.02)
  # D's 16 px block convolves in bfloat16 (its inputs are 16 px and more, its skip's 8 px),
  # the 8 and 4 px blocks in float32; without the option
  # every convolution is float32.
  convs = _conv_inputs(jax.make_jaxpr(judge16)(d_vars, image).jaxpr)
  assert {d for s, d in convs if s >= 16} == {"bfloat16"}
  assert {d for s, d in convs if s == 8} == {"bfloat16", "float32"}
  assert {d for s, d in convs if s <= 4} == {"float32"}
  assert {d for _, d in _conv_inputs(jax.make_jaxpr(D.apply)(d_vars, image).jaxpr)} == {
      "float32"}
  grads = jax.jit(jax.grad(lambda v: jnp.sum(D16.apply(v, image))))(d_vars)
  assert all(g.dtype == jnp.float32 and np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
