"""Image models: the benchmark architectures exactly, spectral norm, conditioning, sub-pixel transposed conv."""


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import dcgan, layers, registry, resnet
from jaxgan.state import init_variables

KEY = jax.random.key(0)


def _count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def _init(module, shape):
  """Returns jitted-initialised `(params, model_state)` (eager init of big convs is slow)."""
  return jax.jit(lambda: init_variables(module, KEY, jnp.zeros(shape)))()


def _shapes(module, shape):
  """Returns the shapes of `(params, model_state)` without computing them."""
  return jax.eval_shape(lambda: init_variables(module, KEY, jnp.zeros(shape)))


def _apply(module, variables, *args):
  return jax.jit(lambda v, *a: module.apply(v, *a, train=False))(variables, *args)


@pytest.mark.parametrize("features, kernel, stride, padding, size", [
    (4, 5, 2, "SAME", 7), (3, 4, 2, ((2, 2), (2, 2)), 4), (5, 4, 1, ((3, 3), (3, 3)), 1),
    (3, 5, 3, "SAME", 3), (2, 4, 2, "VALID", 4),
])
def test_subpixel_transposed_conv_equals_flax_in_value_and_gradient(features, kernel, stride,
                                                                   padding, size):
  ref = nn.ConvTranspose(features, (kernel, kernel), (stride, stride), padding=padding)
  ours = layers.ConvTranspose(features, (kernel, kernel), (stride, stride), padding=padding)
  x = jax.random.normal(jax.random.key(1), (2, size, size, 3))
  params = ref.init(KEY, x)
  params = jax.tree.map(lambda p: jax.random.normal(jax.random.key(2), p.shape), params)
  np.testing.assert_allclose(jax.jit(ours.apply)(params, x), jax.jit(ref.apply)(params, x),
                             atol=2e-5)
  loss = lambda m: jax.jit(jax.grad(lambda p: jnp.sum(jnp.sin(m.apply(p, x)))))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-4),
               loss(ours)(params), loss(ref)(params))


def test_dcgan28_is_the_protocol_model():
  g_params, g_state = _init(dcgan.DCGAN28Generator(), (2, 64))
  shapes = jax.tree.map(jnp.shape, g_params)
  assert shapes["Dense_0"] == {"kernel": (64, 7 * 7 * 256)}               # no bias
  assert [shapes[f"ConvTranspose_{i}"]["kernel"] for i in range(3)] == [
      (5, 5, 256, 128), (5, 5, 128, 64), (5, 5, 64, 1)]
  assert all("bias" not in shapes[f"ConvTranspose_{i}"] for i in range(3))
  assert len(g_state["batch_stats"]) == 3
  assert _count(g_params) == 1_853_888
  d_params, d_state = _shapes(dcgan.DCGAN28Discriminator(), (2, 28, 28, 1))
  shapes = jax.tree.map(jnp.shape, d_params)
  assert shapes["Conv_0"]["kernel"] == (5, 5, 1, 64)
  assert shapes["Conv_1"]["kernel"] == (5, 5, 64, 128)
  assert shapes["DiscriminatorHead_0"]["Dense_0"]["kernel"] == (7 * 7 * 128, 1)
  assert _count(d_params) == 212_865 and not d_state
  z = jax.random.normal(KEY, (3, 64))
  x = _apply(dcgan.DCGAN28Generator(), {"params": g_params, **g_state}, z)
  assert x.shape == (3, 28, 28, 1) and float(jnp.max(jnp.abs(x))) <= 1.0


def test_dcgan64_matches_pytorch_parameter_counts_and_init():
  g_params, _ = _init(dcgan.DCGAN64Generator(), (2, 100))
  d_params, _ = _shapes(dcgan.DCGAN64Discriminator(), (2, 64, 64, 3))
  assert _count(g_params) == 3_576_704 and _count(d_params) == 2_765_568
  kernel = np.asarray(g_params["ConvTranspose_1"]["kernel"])
  assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
  scale = np.asarray(g_params["GeneratorNorm_0"]["BatchNorm_0"]["scale"])
  assert abs(scale.mean() - 1) < 0.005 and 0.01 < scale.std() < 0.03
  G, D = dcgan.DCGAN64Generator(), dcgan.DCGAN64Discriminator()
  g_shapes, d_shapes = _shapes(G, (2, 100)), _shapes(D, (2, 64, 64, 3))
  x = jax.eval_shape(lambda v, z: G.apply(v, z, train=False),
                     {"params": g_shapes[0], **g_shapes[1]}, jnp.ones((2, 100)))
  assert x.shape == (2, 64, 64, 3)
  logits = jax.eval_shape(lambda v, x: D.apply(v, x, train=False),
                          {"params": d_shapes[0], **d_shapes[1]}, x)
  assert logits.shape == (2,)


@pytest.mark.parametrize("resolution", [32, 64])
def test_generic_dcgan_shapes(resolution):
  G = dcgan.DCGANGenerator(resolution=resolution, channels=3)
  g_params, g_state = _shapes(G, (2, 128))
  x = jax.eval_shape(lambda v, z: G.apply(v, z, train=False),
                     {"params": g_params, **g_state}, jnp.ones((2, 128)))
  assert x.shape == (2, resolution, resolution, 3)
  for norm in ("spectral", "batch", "none"):
    D = dcgan.DCGANDiscriminator(resolution=resolution, norm=norm)
    d_params, d_state = _shapes(D, (2, resolution, resolution, 3))
    logits = jax.eval_shape(lambda v, x: D.apply(v, x, train=False),
                            {"params": d_params, **d_state}, x)
    assert logits.shape == (2,)
    assert ("SpectralNorm_0" in d_state.get("batch_stats", {})) == (norm == "spectral")
  with pytest.raises(ValueError, match="resolution=48"):
    _shapes(dcgan.DCGANGenerator(resolution=48), (2, 128))


def test_resnet_sn_shapes_and_every_discriminator_layer_is_spectrally_normalised():
  G, D = resnet.ResNetGenerator(), resnet.ResNetDiscriminator()
  g_params, g_state = _init(G, (2, 128))
  x = _apply(G, {"params": g_params, **g_state}, jax.random.normal(KEY, (2, 128)))
  assert x.shape == (2, 32, 32, 3) and float(jnp.max(jnp.abs(x))) <= 1.0
  d_params, d_state = _shapes(D, (2, 32, 32, 3))
  logits = jax.eval_shape(lambda v, x: D.apply(v, x, train=False),
                          {"params": d_params, **d_state}, x)
  assert logits.shape == (2,)
  kernels = [p for p, _ in jax.tree_util.tree_flatten_with_path(d_params)[0]
             if "kernel" in jax.tree_util.keystr(p)]
  sigmas = [p for p, _ in jax.tree_util.tree_flatten_with_path(d_state)[0]
            if "sigma" in jax.tree_util.keystr(p)]
  assert len(kernels) == len(sigmas) == 4 * 2 + 2 + 1  # block convs, 2 shortcuts, head


def test_spectral_norm_sigma_is_close_to_one_after_power_iteration():
  D = dcgan.DCGANDiscriminator(resolution=32, width=8, norm="spectral")
  x = jax.jit(lambda: jax.random.normal(KEY, (2, 32, 32, 3)))()
  params, state = _init(D, (2, 32, 32, 3))
  params = jax.jit(lambda params: jax.tree.map(
      lambda p: 3.0 * jax.random.normal(jax.random.key(5), p.shape), params))(params)

  # params and x as arguments: as closure constants they slow the compile ~10x
  @jax.jit
  def power_step(params, state, x):
    _, updates = D.apply({"params": params, **state}, x, train=True, mutable=["batch_stats"])
    return updates

  for _ in range(30):
    state = power_step(params, state, x)
  stats = state["batch_stats"]["SpectralNorm_0"]
  kernel = params["Conv_0"]["kernel"]
  matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])
  true_sigma = np.linalg.svd(matrix, compute_uv=False)[0]
  sigma = float(stats["Conv_0/kernel/sigma"])
  assert abs(sigma - true_sigma) / true_sigma < 1e-3
  assert abs(np.linalg.svd(matrix / sigma, compute_uv=False)[0] - 1.0) < 1e-3


def _conditional_pair(g_cond, d_cond):
  return (dcgan.DCGAN28Generator(num_classes=10, conditioning=g_cond),
          dcgan.DCGAN28Discriminator(num_classes=10, conditioning=d_cond))


@pytest.mark.parametrize("g_cond", ["concat", "cbn"])
def test_conditional_generator_routes_each_label_to_its_own_sample(g_cond):
  G, _ = _conditional_pair(g_cond, "projection")
  params, state = _init(G, (4, 64))
  params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(9), p.shape),
                        params)  # make the class embeddings differ from their init
  z = jax.random.normal(KEY, (4, 64))
  apply = lambda y: _apply(G, {"params": params, **state}, z, jnp.asarray(y))
  base = apply([1, 2, 3, 4])
  changed = apply([1, 2, 7, 4])
  diff = np.abs(np.asarray(changed - base)).reshape(4, -1).max(axis=1)
  assert diff[2] > 1e-3 and np.all(diff[[0, 1, 3]] == 0)


@pytest.mark.parametrize("d_cond", ["projection", "acgan"])
def test_conditional_discriminator_routes_labels(d_cond):
  _, D = _conditional_pair("concat", d_cond)
  params, _ = _init(D, (4, 28, 28, 1))
  params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(9), p.shape),
                        params)
  x = jax.random.normal(KEY, (4, 28, 28, 1))
  out = _apply(D, {"params": params}, x, jnp.array([0, 1, 2, 3]))
  out2 = _apply(D, {"params": params}, x, jnp.array([0, 1, 5, 3]))
  if d_cond == "acgan":
    (logit, classes), (logit2, classes2) = out, out2
    assert classes.shape == (4, 10)
    np.testing.assert_array_equal(logit, logit2)       # AC-GAN's logit ignores the label
    np.testing.assert_array_equal(classes, classes2)
  else:
    diff = np.abs(np.asarray(out2 - out))
    assert diff[2] > 1e-4 and np.all(diff[[0, 1, 3]] == 0)


def test_registry_checks_resolution_and_labels():
  G, D = registry.build_players("dcgan28", (28, 28, 1))
  assert G.latent_dim == 64 and isinstance(D, dcgan.DCGAN28Discriminator)
  with pytest.raises(ValueError, match="resnet_sn.*32"):
    registry.build_players("resnet_sn", (28, 28, 1))
  with pytest.raises(ValueError, match="labelled data"):
    registry.build_players("dcgan28", (28, 28, 1), g_conditioning="cbn")
  G, D = registry.build_players("dcgan28", (28, 28, 1), num_classes=10,
                                g_conditioning="cbn", d_conditioning="acgan")
  assert G.num_classes == 10 and G.conditioning == "cbn" and D.conditioning == "acgan"
  G, _ = registry.build_players("mlp", (28, 28, 1), pixels=True)
  params, _ = init_variables(G, KEY, jnp.zeros((2, 2)))
  out = G.apply({"params": params}, 10 * jnp.ones((2, 2)))
  assert out.shape == (2, 28, 28, 1) and float(jnp.max(jnp.abs(out))) <= 1.0
