"""R3GAN against its authors' code (brownvc/R3GAN): the same weights give the same numbers.

The fixture (`tests/data/parity/r3gan.npz`, written by `parity/r3gan_reference.py` from the
authors' code at 19a7ddf4) holds two small random official networks (`a`: 16 px,
unconditional; `b`: 32 px, 5 classes), every bias and every fix-up-zeroed layer drawn
non-zero, their inputs, and what the authors' networks and their `AdversarialTraining`
compute: G's images, D's logits, both players' RpGAN costs, R1 and R2, and the gradients of
D's and G's costs in every parameter. Each test converts the weights
(`jaxgan.convert.r3gan`), runs jaxgan's players, loss (`rpgan`) and penalties (`r1`, `r2`
through `jaxgan.regularisers`), and compares.
"""

import functools
import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import losses, regularisers
from jaxgan.regularisers import penalties
from jaxgan.convert import r3gan as convert
from jaxgan.convert.state_dict import ConvertError, variable_shapes
from jaxgan.models import r3gan

import parity_fixtures

CONFIGS = ["a", "b"]


def _arrays(cfg: str, prefix: str) -> dict | np.ndarray:
  """The entry cfg/prefix, or, for a prefix ending in "/", the entries under it by name."""
  return parity_fixtures.entries("r3gan", f"{cfg}/{prefix}")


def _spec(cfg: str) -> dict:
  return json.loads(str(parity_fixtures.load("r3gan")["config"]))[cfg]


def _nhwc(x):
  return jnp.asarray(np.transpose(x, (0, 2, 3, 1)))


def _labels(cfg):
  c = _arrays(cfg, "c")
  return jnp.asarray(np.argmax(c, 1)) if c.shape[1] else None


def _arch(kw: dict) -> dict:
  """jaxgan's sizes for the official constructor arguments (one block count and one group
  size for every stage, which the fixture's configurations keep)."""
  widths, cards, blocks = kw["WidthPerStage"], kw["CardinalityPerStage"], kw["BlocksPerStage"]
  groups = {kw["ExpansionFactor"] * w // c for w, c in zip(widths, cards)}
  assert len(groups) == 1 and len(set(blocks)) == 1
  return dict(widths=tuple(widths), blocks=blocks[0], expansion=kw["ExpansionFactor"],
              group_size=groups.pop(), num_classes=kw["c_dim"])


@functools.lru_cache(maxsize=None)  # converted once per configuration
def _players(cfg: str):
  """The jaxgan G and D with the official configuration's sizes, and their variables."""
  spec = _spec(cfg)
  g, d = spec["G"], spec["D"]
  G = r3gan.R3GANGenerator(g["img_resolution"], 3, g["NoiseDimension"], **_arch(g))
  D = r3gan.R3GANDiscriminator(d["img_resolution"], **_arch(d))
  z, labels = jnp.asarray(_arrays(cfg, "z")), _labels(cfg)
  g_vars = convert.generator_variables(_arrays(cfg, "G/"), variable_shapes(G, z, labels))
  real = _nhwc(_arrays(cfg, "real"))
  d_vars = convert.discriminator_variables(_arrays(cfg, "D/"), variable_shapes(D, real, labels))
  return G, g_vars, D, d_vars


def _close(got, want, rtol=parity_fixtures.RTOL, what=""):
  return parity_fixtures.assert_close(got, want, rtol, what)


def _d_cost(D, d_vars, cfg, real, fake):
  """D's cost as a jaxgan run with loss=rpgan, penalty=r1,r2 at weight γ adds it up, with
  its parts."""
  labels, gamma = _labels(cfg), _spec(cfg)["gamma"]
  d_fn = lambda x: D.apply(d_vars, x, labels)
  real_logits, fake_logits = d_fn(real), d_fn(fake)
  rpgan = losses.get("rpgan")(real_logits, fake_logits)
  inputs = regularisers.DInputs(d_fn, real, fake, real_logits, fake_logits,
                                jax.random.key(0), jnp.zeros((), jnp.int32))
  regs = [regularisers.penalty("r1", gamma), regularisers.penalty("r2", gamma)]
  penalty, _, _ = regularisers.total(regs, inputs, {}, 0, jnp.float32)
  r1, _ = regs[0].cost(inputs, None)
  r2, _ = regs[1].cost(inputs, None)
  return rpgan.d + penalty, dict(rpgan=rpgan, r1=r1, r2=r2)


def _g_cost(G, g_vars, D, d_vars, cfg):
  z, labels = jnp.asarray(_arrays(cfg, "z")), _labels(cfg)
  fake = G.apply(g_vars, z, labels)
  real_logits = D.apply(d_vars, _nhwc(_arrays(cfg, "real")), labels)
  return losses.get("rpgan")(real_logits, D.apply(d_vars, fake, labels)).g


@pytest.mark.parametrize("cfg", CONFIGS)
def test_generator_matches_the_official_images(cfg):
  G, g_vars, _, _ = _players(cfg)
  images = G.apply(g_vars, jnp.asarray(_arrays(cfg, "z")), _labels(cfg))
  _close(images, _nhwc(_arrays(cfg, "fake")), what="G's images")


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("backend", ["cpu", "gpu"])
def test_discriminator_matches_the_official_logits(cfg, backend, monkeypatch):
  """On either form of the grouped convolution: "auto" takes the dense block-diagonal form
  on the CPU and XLA's grouped one elsewhere."""
  monkeypatch.setattr(r3gan.jax, "default_backend", lambda: backend)
  _, _, D, d_vars = _players(cfg)
  for which in ("real", "fake"):
    logits = D.apply(d_vars, _nhwc(_arrays(cfg, which)), _labels(cfg))
    _close(logits, _arrays(cfg, f"{which}_logits"), what=f"D's logits on {which}")


@pytest.mark.parametrize("cfg", CONFIGS)
def test_rpgan_costs_and_r1_r2_match_the_official_loss(cfg):
  G, g_vars, D, d_vars = _players(cfg)
  real, fake = _nhwc(_arrays(cfg, "real")), _nhwc(_arrays(cfg, "fake"))
  cost, parts = _d_cost(D, d_vars, cfg, real, fake)
  want = {k: _arrays(cfg, k) for k in ("d_rpgan", "g_rpgan", "r1", "r2")}
  _close(parts["rpgan"].d, want["d_rpgan"].mean(), what="D's RpGAN cost")
  _close(_g_cost(G, g_vars, D, d_vars, cfg), want["g_rpgan"].mean(), what="G's RpGAN cost")
  # jaxgan's r1 and r2 are ½ E‖∇D‖², weighted by γ: the official (γ / 2) ‖∇D‖², averaged.
  _close(2 * parts["r1"], want["r1"].mean(), what="R1")
  _close(2 * parts["r2"], want["r2"].mean(), what="R2")
  d_fn = lambda x: D.apply(d_vars, x, _labels(cfg))
  for x, name in ((real, "r1"), (fake, "r2")):
    norms = jnp.sum(jnp.square(penalties.input_gradients(d_fn, x)), axis=(1, 2, 3))
    _close(norms, want[name], what=f"‖∇D‖² per sample ({name})")
  gamma = _spec(cfg)["gamma"]
  _close(cost, (want["d_rpgan"] + gamma / 2 * (want["r1"] + want["r2"])).mean(),
         what="D's cost")


@pytest.mark.parametrize("cfg", CONFIGS)
def test_parameter_gradients_match_the_official_updates(cfg):
  """Every parameter's gradient of D's cost (RpGAN + R1 + R2) and of G's (RpGAN): the
  official gradients, arranged by the converter like the weights they belong to."""
  G, g_vars, D, d_vars = _players(cfg)
  real, fake = _nhwc(_arrays(cfg, "real")), _nhwc(_arrays(cfg, "fake"))
  d_grad = jax.grad(lambda v: _d_cost(D, v, cfg, real, fake)[0])(d_vars)
  g_grad = jax.grad(lambda v: _g_cost(G, v, D, d_vars, cfg))(g_vars)
  want_d = convert.discriminator_variables(_arrays(cfg, "d_grad/"), d_vars)
  want_g = convert.generator_variables(_arrays(cfg, "g_grad/"), g_vars)
  worst = 0.0
  for got, want, who in ((d_grad, want_d, "D"), (g_grad, want_g, "G")):
    flat_got = jax.tree_util.tree_flatten_with_path(got)[0]
    flat_want = jax.tree_util.tree_leaves(want)
    assert len(flat_got) == len(flat_want)
    for (path, g), w in zip(flat_got, flat_want):
      name = "/".join(str(getattr(p, "key", p)) for p in path)
      worst = max(worst, _close(g, w, what=f"∂ {who}'s cost / ∂ {name}"))
  print(f"worst parameter gradient: {worst:.2e} of its range")


def test_a_misnamed_or_misshapen_array_is_refused_by_name():
  G, _, D, _ = _players("a")
  z, real = jnp.asarray(_arrays("a", "z")), _nhwc(_arrays("a", "real"))
  g_shapes, d_shapes = variable_shapes(G, z), variable_shapes(D, real)
  state = dict(_arrays("a", "G/"))
  name = "Model.MainLayers.1.Layers.2.LinearLayer2.Layer.weight"
  bad = dict(state, **{name: state[name][:, :2]})  # cardinality 12 where jaxgan's is 6
  with pytest.raises(ConvertError, match=re.escape(name) + ": shape"):
    convert.generator_variables(bad, g_shapes)
  bad = {k: v for k, v in state.items() if k != "Model.MainLayers.0.Layers.1.NonLinearity2.Bias"}
  with pytest.raises(ConvertError, match=r"missing \['Model\.MainLayers\.0\.Layers\.1\."
                                         r"NonLinearity2\.Bias'\]"):
    convert.generator_variables(bad, g_shapes)
  bad = dict(state, **{"Model.MainLayers.2.Layers.0.Resampler.Kernel": np.full((4, 4), 1 / 16)})
  with pytest.raises(ConvertError, match=r"MainLayers\.2\.Layers\.0\.Resampler\.Kernel is not"):
    convert.generator_variables(bad, g_shapes)
  # A G's weights offered as D's: every name is wrong.
  with pytest.raises(ConvertError, match=r"missing \['Model\.ExtractionLayer"):
    convert.discriminator_variables(state, d_shapes)
  # D with one block fewer in its middle stage: not a network jaxgan builds.
  state = {k: v for k, v in _arrays("a", "D/").items()
           if not k.startswith("Model.MainLayers.1.Layers.1.")}
  with pytest.raises(ConvertError, match=r"blocks per stage \[2, 1, 2\] differ"):
    convert.discriminator_variables(state, d_shapes)
