"""BigGAN against its authors' code (ajbrock/BigGAN-PyTorch), weight for weight.

The fixture (`tests/data/parity/biggan.npz`, written by `parity/biggan_reference.py`; its
`meta` names the commit) holds two small random configurations of the official G and D with
every bias, gain, attention gamma, running statistic and singular vector non-zero: the
CIFAR-10 form (per-block class embeddings, 32 px) and the ImageNet form (a shared embedding
with a hierarchical z, 64 px, D_wide off), and BigGAN-deep (`BigGANdeep.py`) at 64 and 32 px.
Loaded by `jaxgan.convert.biggan`, jaxgan's
players must give the official images and logits in training and evaluation, store the same
singular vectors and running statistics after a training pass, accumulate the official
standing statistics (`utils.accumulate_standing_stats` on the same G built with myBN) and
sample the official images with them, and jaxgan's orthogonal regulariser must have the
gradient the official `utils.ortho` adds.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from parity_fixtures import assert_close, entries

from jaxgan.convert import biggan as convert
from jaxgan.models import registry
from jaxgan.models.biggan import BigGANSettings

CONFIGS = ("c32", "h64", "d64", "d32")
pytestmark = pytest.mark.xdist_group("parity_biggan")  # one worker converts each config once


def _players(prefix: str):
  cfg = json.loads(str(entries("biggan", f"{prefix}/sizes")))
  settings = BigGANSettings(
      g_ch=cfg["G_ch"], d_ch=cfg["D_ch"], g_attention=cfg["G_attn"], d_attention=cfg["D_attn"],
      shared_embedding=cfg["G_shared"], shared_dim=cfg["shared_dim"],
      hierarchical_z=cfg["hier"], d_wide=cfg.get("D_wide", True), sn_eps=cfg["SN_eps"],
      bn_eps=cfg["BN_eps"])
  res = cfg["resolution"]
  model = "biggan_deep" if cfg.get("model") == "BigGANdeep" else "biggan"
  return registry.build_players(model, (res, res, 3), num_classes=cfg["n_classes"],
                                latent_dim=cfg["dim_z"], g_conditioning="cbn",
                                d_conditioning="projection", settings=settings)


def _nhwc(x):
  return jnp.asarray(np.transpose(x, (0, 2, 3, 1)))


@functools.lru_cache(maxsize=None)  # each configuration converted once a worker
def _loaded(prefix: str):
  G, D = _players(prefix)
  z, y = jnp.asarray(entries("biggan", f"{prefix}/z")), jnp.asarray(entries("biggan", f"{prefix}/y"))
  x = _nhwc(entries("biggan", f"{prefix}/x"))
  g_vars = convert.variables(G, entries("biggan", f"{prefix}/G/"), z, y)
  d_vars = convert.variables(D, entries("biggan", f"{prefix}/D/"), x, y)
  return G, D, g_vars, d_vars, z, y, x


def _apply(module):
  """The module's apply, compiled (train and mutable static)."""
  return jax.jit(module.apply, static_argnames=("train", "mutable"))


def _state_names(tree) -> dict:
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {convert.official_name(("batch_stats",) + tuple(str(p.key) for p in path)): np.asarray(v)
          for path, v in flat}


@pytest.mark.parametrize("prefix", CONFIGS)
def test_the_generator_draws_the_official_images_and_keeps_the_official_state(prefix):
  G, _, g_vars, _, z, y, _ = _loaded(prefix)
  img, updates = _apply(G)(g_vars, z, y, train=True, mutable=("batch_stats",))
  assert_close(np.transpose(np.asarray(img), (0, 3, 1, 2)),
               entries("biggan", f"{prefix}/img_train"), what=f"{prefix} G train")
  after = entries("biggan", f"{prefix}/G_after/")
  for name, value in _state_names(updates["batch_stats"]).items():
    assert_close(value, after[name], what=f"{prefix} G {name}")
  img = _apply(G)({**g_vars, **updates}, z, y, train=False)
  assert_close(np.transpose(np.asarray(img), (0, 3, 1, 2)),
               entries("biggan", f"{prefix}/img_eval"), what=f"{prefix} G eval")


@pytest.mark.parametrize("prefix", CONFIGS)
def test_the_discriminator_gives_the_official_logits(prefix):
  _, D, _, d_vars, _, y, x = _loaded(prefix)
  logits, updates = _apply(D)(d_vars, x, y, train=True, mutable=("batch_stats",))
  assert_close(logits, entries("biggan", f"{prefix}/logit_train"), what=f"{prefix} D train")
  after = entries("biggan", f"{prefix}/D_after/")
  for name, value in _state_names(updates["batch_stats"]).items():
    assert_close(value, after[name], what=f"{prefix} D {name}")
  logits = _apply(D)({**d_vars, **updates}, x, y, train=False)
  assert_close(logits, entries("biggan", f"{prefix}/logit_eval"), what=f"{prefix} D eval")


@pytest.mark.parametrize("prefix", CONFIGS)
def test_standing_statistics_are_the_officials_and_sample_the_official_images(prefix):
  from jaxgan.sample import accumulate_standing  # pylint: disable=import-outside-toplevel
  G, _, g_vars, _, z, y, _ = _loaded(prefix)
  batches = list(zip(jnp.asarray(entries("biggan", f"{prefix}/standing_z")),
                     jnp.asarray(entries("biggan", f"{prefix}/standing_y"))))
  params, model_state = g_vars["params"], {"batch_stats": g_vars["batch_stats"]}
  stood = accumulate_standing(G, params, model_state, batches)
  want = entries("biggan", f"{prefix}/standing/")
  got = _state_names(stood["batch_stats"])
  assert sorted(got) == sorted(want)
  for name, value in want.items():
    assert_close(got[name], value, what=f"{prefix} standing {name}")
  img = _apply(G)({"params": params, **stood}, z, y, train=False)
  assert_close(np.transpose(np.asarray(img), (0, 3, 1, 2)),
               entries("biggan", f"{prefix}/img_standing"), what=f"{prefix} G standing")


@pytest.mark.parametrize("prefix", CONFIGS)
def test_the_orthogonal_regulariser_has_the_official_gradient(prefix):
  from jaxgan.regularisers import orthogonal  # pylint: disable=import-outside-toplevel
  _, _, g_vars, _, _, _, _ = _loaded(prefix)
  grads = jax.jit(jax.grad(orthogonal.value))(g_vars["params"])
  want = entries("biggan", f"{prefix}/ortho/")
  got = {convert.official_name(("params",) + tuple(str(p.key) for p in path)): np.asarray(g)
         for path, g in jax.tree_util.tree_flatten_with_path(grads)[0] if np.ndim(g) >= 2}
  got = {k: v for k, v in got.items() if not k.startswith("shared")}
  assert sorted(got) == sorted(want)
  for name, value in want.items():
    if not np.any(value):  # a one-row weight (a 1-channel attention map) has no off-diagonal
      assert not np.any(got[name]), name
    else:
      assert_close(got[name], value, what=f"{prefix} ortho {name}")
