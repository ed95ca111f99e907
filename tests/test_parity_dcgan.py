"""DCGAN-64 against PyTorch's examples DCGAN (dcgan/main.py): the same weights, the same numbers.

The fixture (`tests/data/parity/dcgan.npz`, written by `parity/dcgan_reference.py` from the
example's own Generator and Discriminator classes; BUILD_NOTES names the commit) holds a
small random netG and netD (ngf = ndf = 8, nz = 10, 64 px) with every batch-norm weight,
bias and running statistic non-zero, their inputs, their outputs in eval and train mode, and
the running statistics after that one train-mode pass. Each test converts the weights
(`jaxgan.convert.dcgan`), runs jaxgan, and compares.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.convert import dcgan as convert
from jaxgan.convert.state_dict import ConvertError, variable_shapes
from jaxgan.models import dcgan

import parity_fixtures

def _fixture():
  return parity_fixtures.load("dcgan")


def _sizes() -> dict:
  return json.loads(str(_fixture()["sizes"]))


def _under(prefix: str) -> dict:
  return parity_fixtures.entries("dcgan", prefix)


def _nhwc(x):
  return jnp.asarray(np.transpose(x, (0, 2, 3, 1)))


@functools.lru_cache(maxsize=None)  # converted once per configuration
def _players():
  """The jaxgan DCGAN-64 G and D with the fixture's sizes, and their converted variables."""
  s = _sizes()
  G = dcgan.DCGAN64Generator(latent_dim=s["nz"], channels=s["nc"], width=s["ngf"])
  D = dcgan.DCGAN64Discriminator(width=s["ndf"])
  z, x = jnp.asarray(_fixture()["z"]), _nhwc(_fixture()["x"])
  g_vars = convert.generator_variables(_under("G/"), variable_shapes(G, z))
  d_vars = convert.discriminator_variables(_under("D/"), variable_shapes(D, x))
  return G, g_vars, D, d_vars


def _close(got, want, rtol=parity_fixtures.RTOL):
  return parity_fixtures.assert_close(got, want, rtol)


def _run(module, variables, inputs, mode):
  """The output in `mode`, and (train mode) the batch statistics after the pass."""
  if mode == "eval":
    return module.apply(variables, inputs, train=False), None
  out, updates = module.apply(variables, inputs, train=True, mutable=["batch_stats"])
  return out, updates["batch_stats"]


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_generator_matches_the_example(mode):
  G, g_vars, _, _ = _players()
  images, _ = _run(G, g_vars, jnp.asarray(_fixture()["z"]), mode)
  _close(images, _nhwc(_fixture()[f"img_{mode}"]))


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_discriminator_matches_the_example(mode):
  _, _, D, d_vars = _players()
  logits, _ = _run(D, d_vars, _nhwc(_fixture()["x"]), mode)
  _close(logits, _fixture()[f"logit_{mode}"])
  _close(jax.nn.sigmoid(logits), _fixture()[f"prob_{mode}"])  # what the example's netD returns


def _running_stats(player: str):
  """[(jaxgan's mean and var, the example's name, elements per channel)] after one pass."""
  G, g_vars, D, d_vars = _players()
  s = _sizes()
  if player == "G":
    _, stats = _run(G, g_vars, jnp.asarray(_fixture()["z"]), "train")
    return [(stats[f"GeneratorNorm_{k}"]["BatchNorm_0"], f"main.{3 * k + 1}",
             s["batch"] * (4 * 2 ** k) ** 2) for k in range(4)]
  _, stats = _run(D, d_vars, _nhwc(_fixture()["x"]), "train")
  return [(stats[f"BatchNorm_{j}"], f"main.{3 * j + 3}",
           s["batch"] * (s["image_size"] // 2 ** (j + 2)) ** 2) for j in range(3)]


@pytest.mark.parametrize("player", ["G", "D"])
def test_running_statistics_after_one_train_pass(player):
  """Momentum 0.1 on the mean as PyTorch; the variance up to the known Bessel factor.

  PyTorch moves `running_var` toward the unbiased batch variance (÷ n − 1), flax's
  BatchNorm toward the biased one (÷ n), n the elements per channel; the test asserts
  exactly that and nothing else differs (the strict xfail below is the gap itself).
  """
  for stats, name, n in _running_stats(player):
    after = _under(f"{player}_after/{name}.")
    _close(stats["mean"], after["running_mean"])
    before = _fixture()[f"{player}/{name}.running_var"]
    moved = after["running_var"] - 0.9 * before  # 0.1 × the unbiased batch variance
    _close(stats["var"], 0.9 * before + moved * (n - 1) / n)


@pytest.mark.xfail(strict=True, reason="flax's BatchNorm tracks the biased batch variance; "
                   "PyTorch's the unbiased one (up to 5e-4 of the range here)")
@pytest.mark.parametrize("player", ["G", "D"])
def test_running_variance_is_the_examples(player):
  for stats, name, _ in _running_stats(player):
    _close(stats["var"], _under(f"{player}_after/{name}.")["running_var"])


def test_a_misnamed_or_misshapen_array_is_refused_by_name():
  G, _, D, _ = _players()
  state = _under("G/")
  shapes = variable_shapes(G, jnp.asarray(_fixture()["z"]))
  bad = dict(state, **{"main.3.weight": state["main.3.weight"][:, :4]})
  with pytest.raises(ConvertError,
                     match=r"main\.3\.weight: shape .* at params/ConvTranspose_1/kernel"):
    convert.generator_variables(bad, shapes)
  bad = {k: v for k, v in state.items() if k != "main.4.running_var"}
  with pytest.raises(ConvertError, match=r"missing \['main\.4\.running_var'\]"):
    convert.generator_variables(bad, shapes)
  bad = dict(state, **{"main.13.weight": state["main.10.weight"]})
  with pytest.raises(ConvertError, match=r"unexpected \['main\.13\.weight'\]"):
    convert.generator_variables(bad, shapes)
  # G's arrays are not D's: refused, naming what D lacks.
  d_shapes = variable_shapes(D, _nhwc(_fixture()["x"]))
  with pytest.raises(ConvertError, match=r"missing \['main\.11\.weight'"):
    convert.discriminator_variables(state, d_shapes)
