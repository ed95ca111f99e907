"""StyleGAN2 against NVIDIA's stylegan2-ada-pytorch: the same weights give the same numbers.

The fixture (`tests/data/parity/stylegan2.npz`, written by `parity/stylegan2_reference.py`
from the authors' code; BUILD_NOTES names the commit) holds two small random official
networks with every bias and noise strength non-zero, their inputs and their outputs. Each
test converts the weights (`jaxgan.convert.stylegan2`), runs jaxgan, and compares.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.regularisers import path_length
from jaxgan.convert import stylegan2 as convert
from jaxgan.convert.state_dict import ConvertError, variable_shapes
from jaxgan.models import stylegan2

import parity_fixtures

def _fixture():
  return parity_fixtures.load("stylegan2")


def _arrays(cfg: str, prefix: str) -> dict | np.ndarray:
  """The entry cfg/prefix, or, for a prefix ending in "/", the entries under it by name."""
  return parity_fixtures.entries("stylegan2", f"{cfg}/{prefix}")


def _nhwc(x):
  return jnp.asarray(np.transpose(x, (0, 2, 3, 1)))


@functools.lru_cache(maxsize=None)  # converted once per configuration
def _players(cfg: str):
  """The jaxgan G and D with the official configuration's sizes, and their variables."""
  spec = json.loads(str(_fixture()["config"]))[cfg]
  g, d = spec["G"], spec["D"]
  mbstd = d["epilogue_kwargs"]
  G = stylegan2.StyleGAN2Generator(
      g["img_resolution"], g["img_channels"], g["z_dim"], w_dim=g["w_dim"],
      mapping_layers=g["mapping_kwargs"]["num_layers"], num_classes=g["c_dim"],
      mixing_prob=0.0, **g["synthesis_kwargs"])
  D = stylegan2.StyleGAN2Discriminator(
      d["img_resolution"], channel_base=d["channel_base"], channel_max=d["channel_max"],
      num_classes=d["c_dim"], architecture=d["architecture"],
      mapping_layers=d.get("mapping_kwargs", {}).get("num_layers", 8),
      mbstd_group=mbstd["mbstd_group_size"], mbstd_channels=mbstd["mbstd_num_channels"])
  z = jnp.asarray(_arrays(cfg, "z"))
  labels = _labels(cfg)
  g_vars = convert.generator_variables(_arrays(cfg, "G/"), variable_shapes(G, z, labels))
  x = _nhwc(_arrays(cfg, "x"))
  d_vars = convert.discriminator_variables(_arrays(cfg, "D/"), variable_shapes(D, x, labels))
  return G, g_vars, D, d_vars


def _labels(cfg):
  c = _arrays(cfg, "c")
  return jnp.asarray(np.argmax(c, 1)) if c.shape[1] else None


def _close(got, want, rtol=parity_fixtures.RTOL):
  return parity_fixtures.assert_close(got, want, rtol)


def _synthesise(G, g_vars, cfg, noise_mode, ws_delta=None, psi=1.0):
  g = G.clone(noise_mode=noise_mode, truncation_psi=psi)
  return g.apply(g_vars, jnp.asarray(_arrays(cfg, "z")), _labels(cfg), train=False,
                 ws_delta=ws_delta)


@pytest.mark.parametrize("cfg", ["a", "b"])
def test_mapping_matches_the_official_mapping(cfg):
  G, g_vars, _, _ = _players(cfg)
  z = jnp.asarray(_arrays(cfg, "z"))
  mapping = stylegan2.MappingNetwork(G.w_dim, G.mapping_layers, G.num_classes)
  w = mapping.apply({"params": g_vars["params"]["mapping"]}, z, _labels(cfg))
  _close(w, _arrays(cfg, "ws")[:, 0])
  # ψ 0.7 pulls every layer's w toward the tracked mean, the fixture's non-zero w_avg.
  w_avg = g_vars["stats"]["w_avg"]
  _close(w_avg + 0.7 * (w - w_avg), _arrays(cfg, "ws_psi")[:, 0])


@pytest.mark.parametrize("cfg", ["a", "b"])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_synthesis_matches_the_official_images(cfg, noise_mode):
  G, g_vars, _, _ = _players(cfg)
  images = _synthesise(G, g_vars, cfg, noise_mode)
  _close(images, _nhwc(_arrays(cfg, f"img_{noise_mode}")))


@pytest.mark.parametrize("cfg", ["a", "b"])
def test_discriminator_and_its_input_gradient_match(cfg):
  _, _, D, d_vars = _players(cfg)
  x, labels = _nhwc(_arrays(cfg, "x")), _labels(cfg)
  logits = D.apply(d_vars, x, labels)
  _close(logits, _arrays(cfg, "logits"))
  grad = jax.grad(lambda x: jnp.sum(D.apply(d_vars, x, labels)))(x)
  _close(grad, _nhwc(_arrays(cfg, "r1_grad")))


@pytest.mark.parametrize("cfg", ["a", "b"])
def test_path_length_matches_the_official_penalty(cfg):
  G, g_vars, _, _ = _players(cfg)
  pl_noise = _nhwc(_arrays(cfg, "pl_noise"))
  ws_shape = (G.num_ws, G.w_dim)
  synthesise = lambda delta: _synthesise(G, g_vars, cfg, "const", ws_delta=delta)
  lengths = path_length.lengths_along(synthesise, pl_noise, (pl_noise.shape[0], *ws_shape))
  _close(lengths, _arrays(cfg, "pl_lengths"))
  penalty, _ = path_length.penalty(lengths, jnp.asarray(_arrays(cfg, "pl_mean")))
  _close(penalty, _arrays(cfg, "pl_penalty"))


def test_a_misnamed_or_misshapen_array_is_refused_by_name():
  G, _, _, _ = _players("b")
  state = dict(_arrays("b", "G/"))
  shapes = variable_shapes(G, jnp.asarray(_arrays("b", "z")), _labels("b"))
  bad = dict(state, **{"synthesis.b8.conv1.weight": state["synthesis.b8.conv1.weight"][:, :4]})
  with pytest.raises(ConvertError, match=r"synthesis\.b8\.conv1\.weight: shape"):
    convert.generator_variables(bad, shapes)
  bad = {k: v for k, v in state.items() if k != "mapping.fc1.bias"}
  with pytest.raises(ConvertError, match=r"missing \['mapping\.fc1\.bias'\]"):
    convert.generator_variables(bad, shapes)
  bad = dict(state, **{"synthesis.b8.resample_filter": np.full((4, 4), 1 / 16)})
  with pytest.raises(ConvertError, match=r"b8\.resample_filter is not the \[1, 3, 3, 1\]"):
    convert.generator_variables(bad, shapes)
