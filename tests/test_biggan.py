"""BigGAN (`jaxgan.models.biggan`): sizes against the official classes, its regulariser, EMA
start and truncation trick by hand, the authors' .pth weights converted, and bad input.

Parity of the networks themselves is `tests/test_parity_biggan.py`.
"""

import collections
import dataclasses
import io
import os
import pickle
import struct
import subprocess
import sys
import types
import zipfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import flagfile_counts
from parity_fixtures import assert_close, entries

import jaxgan
from jaxgan import schedules
from jaxgan.convert import network_pickle
from jaxgan.convert.state_dict import ConvertError
from jaxgan.models import registry
from jaxgan.models.biggan import BigGANSettings
from jaxgan.regularisers import orthogonal
from jaxgan.sample import make_sample_fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("name, shape, classes, g_count, d_count", [
    # BigGAN-PyTorch's Generator and Discriminator built with each launch script's settings
    # and summed over .parameters() (commands in BUILD_NOTES, "BigGAN").
    ("cifar10_biggan", (32, 32, 3), 10, 4_304_387, 4_207_361),
    ("imagenet128_biggan", (128, 128, 3), 1000, 70_433_988, 87_982_370),
    # BigGANdeep.py's classes with launch_BigGAN_deep.sh's settings.
    ("imagenet128_biggan_deep", (128, 128, 3), 1000, 50_244_484, 34_590_210),
])
def test_the_shipped_flagfiles_build_the_official_parameter_counts(name, shape, classes,
                                                                   g_count, d_count):
  counts, _ = flagfile_counts(name, shape, classes)
  assert counts == (g_count, d_count)


def test_the_orthogonal_regulariser_is_the_off_diagonal_gram_penalty_by_hand():
  w = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)  # W Wᵀ = [[5, 11], [11, 25]]
  # ½ (11² + 11²) = 121, whatever the layout names the outputs' axis by.
  assert float(orthogonal.value({"a": {"weight": w}})) == 121.0
  assert float(orthogonal.value({"a": {"kernel": w.T}})) == 121.0
  assert float(orthogonal.value({"a": {"weight": w}, "shared": {"weight": 9 * w},
                                 "b": {"bias": np.ones(2, np.float32)}})) == 121.0
  assert float(orthogonal.value({"a": {"weight": np.eye(3, dtype=np.float32)}})) == 0.0


def test_the_ema_is_pegged_to_g_until_its_start():
  decay = schedules.pegged_until(3, 0.9)
  np.testing.assert_allclose([float(decay(jnp.asarray(s))) for s in range(4)],
                             [0.0, 0.0, 0.9, 0.9], rtol=1e-7)
  from jaxgan.runner.config import Config  # pylint: disable=import-outside-toplevel
  assert Config(ema_start=1, ema_decay=0.9).step.ema(10, 1) == 0.9  # from the first: as is


class _Z(nn.Module):
  """A generator that returns its z: what the sampler drew."""
  latent_dim: int = 64

  @nn.compact
  def __call__(self, z, train: bool = True):
    return z + 0.0 * self.param("unused", nn.initializers.zeros, ())


def test_truncation_draws_z_from_the_normal_truncated_to_the_threshold():
  g, tx = _Z(), optax.sgd(0.1)
  state = jaxgan.create_state(jax.random.key(0), g, jaxgan.models.MLPDiscriminator(), tx, tx,
                              {"x": jnp.zeros((1, 4, 64))})
  z = np.asarray(make_sample_fn(g, 0.5)(state, 0, 2000))
  assert np.max(np.abs(z)) <= 0.5
  # The normal truncated to ±0.5 has std sqrt(1 − 2·0.5·φ(0.5)/(2Φ(0.5) − 1)) = 0.2839.
  assert abs(float(np.std(z)) - 0.2839) < 0.002
  plain = np.asarray(make_sample_fn(g)(state, 0, 2000))
  assert np.max(np.abs(plain)) > 3.0
  for bad in (0.0, -1.0, float("inf")):
    with pytest.raises(ValueError, match="truncation"):
      make_sample_fn(g, bad)


def _players(**settings):
  settings = {"g_ch": 2, "d_ch": 2, "g_attention": "16", "d_attention": "16", **settings}
  return registry.build_players("biggan", (32, 32, 1), num_classes=3, latent_dim=8,
                                g_conditioning="cbn", d_conditioning="projection",
                                settings=BigGANSettings(**settings))


def test_the_paper_step_trains_with_the_orthogonal_term_logged_at_its_value():
  G, D = _players()
  tx = optax.adam(2e-4, b1=0.0, b2=0.999)
  objective = jaxgan.objective.build("hinge", ortho_weight=1e-4)
  rng = np.random.default_rng(0)
  batch = {"x": jnp.asarray(rng.uniform(-1, 1, (2, 4, 32, 32, 1)), jnp.float32),
           "y": jnp.asarray(rng.integers(0, 3, (2, 4)), jnp.int32)}
  state = jaxgan.create_state(jax.random.key(0), G, D, tx, tx, batch, objective)
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, objective, d_steps=2))
  for _ in range(2):
    before = state.g_params
    state, metrics = step(state, batch)
    assert int(metrics["nonfinite"]) == 0
    # G's update saw its regulariser at the weights it started from.
    np.testing.assert_allclose(float(metrics["g/penalty/orthogonal"]),
                               float(orthogonal.value(before)), rtol=1e-5)
  # Spectral norm's singular vectors and batch norm's statistics moved in training.
  assert not np.allclose(state.d_state["batch_stats"]["linear"]["u"],
                         jaxgan.create_state(jax.random.key(0), G, D, tx, tx, batch,
                                             objective).d_state["batch_stats"]["linear"]["u"])


def test_bad_settings_are_named_at_construction():
  with pytest.raises(ValueError, match=r"g_attention=48 is not accepted at 32 px: g's blocks "
                                       r"are at \[8, 16, 32\]"):
    _players(g_attention="48")
  with pytest.raises(ValueError, match=r"d_attention=32 .* d's blocks are at \[16\]"):
    _players(d_attention="32")
  with pytest.raises(ValueError, match="hierarchical_z needs shared_embedding"):
    _players(hierarchical_z=True)
  with pytest.raises(ValueError, match="g_conditioning=cbn and d_conditioning=projection"):
    registry.build_players("biggan", (32, 32, 1), num_classes=3,
                           settings=BigGANSettings(g_ch=2, d_ch=2))
  with pytest.raises(ValueError, match=r"latent_dim=10 does not split into the hierarchical "
                                       r"latent's 4 chunks"):
    g, _ = _players(shared_embedding=True, hierarchical_z=True)
    g.clone(latent_dim=10).init(jax.random.key(0), jnp.zeros((2, 10)),
                                jnp.zeros((2,), jnp.int32))
  # BigGAN-deep's G takes [shared(y), z] everywhere: its official code's --G_shared --hier.
  for missing in ({"shared_embedding": True}, {"hierarchical_z": True}, {}):
    with pytest.raises(ValueError, match="biggan_deep' needs --shared_embedding and "
                                         "--hierarchical_z"):
      registry.build_players("biggan_deep", (32, 32, 1), num_classes=3, latent_dim=8,
                             g_conditioning="cbn", d_conditioning="projection",
                             settings=BigGANSettings(g_ch=2, d_ch=2, g_attention="0",
                                                     d_attention="0", **missing))


def test_bad_flags_get_one_fatal_line_and_exit_2(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "experiments.run", "--dataset=fashion_mnist", "--model=biggan",
       "--g_conditioning=cbn", "--d_conditioning=projection", "--pad_to=32",
       "--g_attention=12", f"--workdir={tmp_path / 'w'}"], capture_output=True, text=True,
      cwd=ROOT, check=False)
  fatal = [line for line in done.stderr.splitlines() if line.startswith("FATAL")]
  assert done.returncode == 2 and len(fatal) == 1, done.stderr[-2000:]
  assert "g_attention=12" in fatal[0]


# --- the authors' .pth weights, written here in PyTorch's two formats ---------------------

def _fake_torch(monkeypatch):
  mods = {n: types.ModuleType(n) for n in ("torch", "torch._utils")}
  for name, module in mods.items():
    monkeypatch.setitem(sys.modules, name, module)

  def place(module, obj, name):
    obj.__module__, obj.__qualname__, obj.__name__ = module, name, name
    setattr(mods[module], name, obj)
    return obj

  return types.SimpleNamespace(
      rebuild=place("torch._utils", lambda *a: None, "_rebuild_tensor_v2"),
      FloatStorage=place("torch", type("FloatStorage", (), {}), "FloatStorage"))


class _Stored:
  def __init__(self, key, flat):
    self.key, self.flat = key, flat


class _Tensor:
  def __init__(self, fake, key, array):
    self.fake, self.storage = fake, _Stored(key, np.ascontiguousarray(array, np.float32).ravel())
    self.shape = np.shape(array)

  def __reduce__(self):
    strides = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
    return self.fake.rebuild, (self.storage, 0, self.shape, strides, False,
                               collections.OrderedDict())


def _write_pth(path, arrays: dict, fake, legacy: bool):
  """`torch.save(state_dict)`: the zip format, or with legacy=True the stream before it."""
  tensors = collections.OrderedDict(
      (name, _Tensor(fake, str(i), a)) for i, (name, a) in enumerate(arrays.items()))

  class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
      if isinstance(obj, _Stored):
        return ("storage", fake.FloatStorage, obj.key, "cpu", obj.flat.size) + (
            (None,) if legacy else ())
      return None

  body = io.BytesIO()
  Pickler(body, protocol=2).dump(tensors)
  stored = [t.storage for t in tensors.values()]
  if legacy:
    with open(path, "wb") as f:
      for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001}):
        pickle.dump(header, f, protocol=2)
      f.write(body.getvalue())
      pickle.dump([s.key for s in stored], f, protocol=2)
      for s in stored:
        f.write(struct.pack("<q", s.flat.size) + s.flat.tobytes())
  else:
    with zipfile.ZipFile(path, "w") as archive:
      archive.writestr("G/data.pkl", body.getvalue())
      for s in stored:
        archive.writestr(f"G/data/{s.key}", s.flat.tobytes())


def test_the_authors_weights_convert_and_sample_the_official_images(tmp_path, monkeypatch):
  """The parity fixture's ImageNet-form networks as BigGAN-PyTorch saves them (G.pth in the
  zip format, D.pth and G_ema.pth in the legacy one): converted, the run's EMA generator
  draws the official eval-mode images."""
  g = {**entries("biggan", "h64/G/"), **entries("biggan", "h64/G_after/")}
  d = entries("biggan", "h64/D/")
  folder = tmp_path / "weights"
  folder.mkdir()
  fake = _fake_torch(monkeypatch)
  _write_pth(folder / "G.pth", g, fake, legacy=False)
  _write_pth(folder / "G_ema.pth", g, fake, legacy=True)
  _write_pth(folder / "D.pth", d, fake, legacy=True)
  # The training options beside the weights (epsilons cannot be read off the shapes).
  with open(folder / "state_dict.pth", "wb") as f:
    for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001},
                   {"itr": 7, "config": {"SN_eps": 1e-6, "BN_eps": 1e-4, "G_lr": 1e-4,
                                         "num_D_steps": 1, "ema_start": 20000}}, []):
      pickle.dump(header, f, protocol=2)
  monkeypatch.undo()
  assert network_pickle.read_tensors(str(folder / "G.pth")).keys() == g.keys()
  from jaxgan.runner import converted, runs  # pylint: disable=import-outside-toplevel
  settings = converted.convert(str(folder), str(tmp_path / "run"))
  assert (settings["g_ch"], settings["shared_dim"], settings["hierarchical_z"],
          settings["g_attention"], settings["d_attention"], settings["d_wide"],
          settings["sn_eps"], settings["ema_start"]) == (2, 8, True, "32", "8", False, 1e-6,
                                                         20000)
  run = runs.restore_run(str(tmp_path / "run"), with_data=False)
  z, y = jnp.asarray(entries("biggan", "h64/z")), jnp.asarray(entries("biggan", "h64/y"))
  images, _ = jaxgan.as_player(run.generator).apply(run.state.g_ema, run.state.g_state, z, y,
                                                    False)
  assert_close(np.transpose(np.asarray(images), (0, 3, 1, 2)),
               entries("biggan", "h64/img_eval"), rtol=1e-5, what="converted G_ema")
  # `experiments.sample --standing_stats=2`: the images of the EMA G with the standing
  # statistics of 2 batches of the run's batch size, drawn from the sampler's own seed.
  from jaxgan.runner.export import export  # pylint: disable=import-outside-toplevel
  from jaxgan.sample import STANDING_STREAM, standing_stats  # pylint: disable=import-outside-toplevel
  export(str(tmp_path / "run"), 4, str(tmp_path / "s.npz"), label=1, seed=3, batch=4,
         standing=2)
  drawn = np.load(tmp_path / "s.npz")["images"]
  key = jax.random.key(3)
  stood = standing_stats(run.generator, run.state, jax.random.fold_in(key, STANDING_STREAM), 2,
                         run.config.run.batch_size)
  sample = make_sample_fn(run.generator)
  from jaxgan.runner.pictures import to_uint8  # pylint: disable=import-outside-toplevel
  np.testing.assert_array_equal(drawn, to_uint8(sample(stood, jax.random.fold_in(key, 0), 4,
                                                       labels=1)))
  plain = to_uint8(sample(run.state, jax.random.fold_in(key, 0), 4, labels=1))
  assert np.abs(drawn.astype(int) - plain.astype(int)).max() > 8  # the statistics did change


def test_biggan_deep_weights_are_read_as_biggan_deep_with_their_sizes():
  """BigGAN-deep's state dicts (the parity fixture's 32 px networks under BigGANdeep.py's
  names: G's blocks listed apart, two a stage, D's by stage) give --model=biggan_deep and its
  sizes, and players built from them take every official variable (their parity with the
  official images is tests/test_parity_biggan.py's; the .pth reading is the test above's)."""
  from jaxgan.convert import biggan as convert  # pylint: disable=import-outside-toplevel
  g, d = entries("biggan", "d32/G/"), entries("biggan", "d32/D/")
  settings = convert.settings(g, d, {"SN_eps": 1e-8, "num_D_steps": 1})
  assert (settings["model"], settings["g_ch"], settings["d_ch"], settings["latent_dim"],
          settings["shared_dim"], settings["g_attention"], settings["d_attention"],
          settings["image_shape"], settings["num_classes"], settings["sn_eps"],
          settings["d_steps"]) == ("biggan_deep", 4, 4, 8, 8, "16", "16", (32, 32, 3), 3, 1e-8,
                                   1)
  fields = {f.name for f in dataclasses.fields(BigGANSettings)}
  G, D = registry.build_players(
      "biggan_deep", settings["image_shape"], num_classes=3, latent_dim=settings["latent_dim"],
      g_conditioning="cbn", d_conditioning="projection",
      settings=BigGANSettings(**{k: v for k, v in settings.items() if k in fields}))
  z, y = jnp.zeros((2, 8)), jnp.zeros((2,), jnp.int32)
  convert.variables(G, g, z, y)  # raises on a missing or unexpected name, or a shape
  convert.variables(D, d, jnp.zeros((2, 32, 32, 3)), y)
  with pytest.raises(ConvertError, match="D has 2 stages"):
    convert.settings(g, {k: v for k, v in d.items() if not k.startswith("blocks.2.")})
  with pytest.raises(ConvertError, match="G_depth=3: jaxgan's BigGAN-deep has 2 blocks"):
    convert.settings(g, d, {"G_depth": 3})
  with pytest.raises(ConvertError, match="D_depth=1"):  # read off D's names
    convert.settings(g, {k: v for k, v in d.items() if ".1.conv" not in k})
  # A G trained with --mybn: its norms' statistics under `.bn.`, summed over a counter.
  mybn = {"a.bn1.bn.stored_mean": np.array([2.0, 4.0]), "a.bn1.bn.stored_var": np.array([6.0]),
          "a.bn1.bn.accumulation_counter": np.array([2.0]), "a.bn1.gain.weight": np.ones(1),
          "b.bn.stored_mean": np.array([3.0]), "b.bn.accumulation_counter": np.array([0.0])}
  plain = convert.plain_batch_norms(mybn)
  assert sorted(plain) == ["a.bn1.gain.weight", "a.bn1.stored_mean", "a.bn1.stored_var",
                           "b.stored_mean"]
  np.testing.assert_array_equal(plain["a.bn1.stored_mean"], [1.0, 2.0])
  np.testing.assert_array_equal(plain["a.bn1.stored_var"], [3.0])
  np.testing.assert_array_equal(plain["b.stored_mean"], [3.0])  # a running average: as it is


def test_a_weights_file_that_asks_for_code_is_refused(tmp_path):
  with open(tmp_path / "G.pth", "wb") as f:
    pickle.dump(types.SimpleNamespace, f, protocol=2)  # names a global outside tensors
  with pytest.raises(ConvertError, match="types.SimpleNamespace"):
    network_pickle.read_tensors(str(tmp_path / "G.pth"))


def test_the_truncation_curve_is_one_command_one_plot(tmp_path):
  """`experiments.evaluate --truncation_curve`: the run's samples at each threshold scored by
  the domain classifier; the numbers in truncation_<step>.json, the plot beside them. A
  conditional DCGAN-28 stands in (the trick truncates any model's z)."""
  from conftest import write_idx_dataset  # pylint: disable=import-outside-toplevel
  from jaxgan.runner.config import Config  # pylint: disable=import-outside-toplevel
  from jaxgan.runner.train import train_and_evaluate  # pylint: disable=import-outside-toplevel
  config = Config(dataset="fashion_mnist", data_dir=str(tmp_path / "tfds"),
                  manual_dir=write_idx_dataset(str(tmp_path / "raw")), model="dcgan28",
                  g_conditioning="cbn", d_conditioning="projection", num_steps=2,
                  batch_size=8, domain_samples=40, eval_every=2, log_every=1,
                  tensorboard=False).validate()
  workdir = tmp_path / "run"
  train_and_evaluate(config, str(workdir))
  done = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}",
                         "--truncation_curve=2,0.5,0.1"], capture_output=True, text=True,
                        cwd=ROOT, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  import json  # pylint: disable=import-outside-toplevel
  with open(workdir / "truncation_2.json", encoding="utf-8") as f:
    curve = json.load(f)
  assert (curve["x"], curve["y"]) == ("conditional_accuracy", "fd_fashion_mnist_classifier")
  assert [r["truncation"] for r in curve["rows"]] == [2.0, 0.5, 0.1]
  fds = [r["fd_fashion_mnist_classifier"] for r in curve["rows"]]
  assert len(set(fds)) == 3  # each threshold draws other samples
  assert (workdir / "truncation_2.png").stat().st_size > 1000
  bad = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}",
                        "--truncation_curve=1,-0.5"], capture_output=True, text=True,
                       cwd=ROOT, check=False)
  fatal = [line for line in bad.stderr.splitlines() if line.startswith("FATAL")]
  assert bad.returncode == 2 and len(fatal) == 1 and "-0.5" in fatal[0], bad.stderr[-1000:]
  # Standing statistics need batch norms that report their moments (BigGAN's): DCGAN's
  # flax BatchNorm does not, and is refused by name.
  bad = subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}",
                        "--standing_stats=4"], capture_output=True, text=True, cwd=ROOT,
                       check=False)
  fatal = [line for line in bad.stderr.splitlines() if line.startswith("FATAL")]
  assert bad.returncode == 2 and len(fatal) == 1, bad.stderr[-1000:]
  assert "--standing_stats" in fatal[0] and "no batch norm that reports" in fatal[0], fatal[0]


def test_a_run_given_data_of_another_class_count_is_refused_by_name(tmp_path):
  """Resuming (or fine-tuning a converted network) on data of another class count: one FATAL
  line naming both counts, exit 2, the run left as it was."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  def folder(name, classes):
    for c in range(classes):
      os.makedirs(tmp_path / name / f"class{c}")
      for i in range(4):
        Image.fromarray(np.full((32, 32, 3), 40 * c + i, np.uint8)).save(
            tmp_path / name / f"class{c}" / f"{i}.png")
    return str(tmp_path / name)
  common = ["-m", "experiments.run", "--dataset=image_folder", "--image_size=32",
            "--model=dcgan", "--g_conditioning=cbn", "--d_conditioning=projection",
            "--batch_size=4", "--num_steps=2", "--checkpoint_every=1", "--eval_every=100",
            "--notensorboard", f"--workdir={tmp_path / 'run'}", f"--data_dir={tmp_path / 'tfds'}"]
  first = subprocess.run([sys.executable, *common, f"--data_path={folder('two', 2)}",
                          "--num_steps=1"], capture_output=True, text=True, cwd=ROOT,
                         check=False)
  assert first.returncode == 0, first.stderr[-2000:]
  with open(tmp_path / "run" / "metrics.jsonl", encoding="utf-8") as f:
    before = f.read()
  done = subprocess.run([sys.executable, *common, f"--data_path={folder('three', 3)}"],
                        capture_output=True, text=True, cwd=ROOT, check=False)
  fatal = [line for line in done.stderr.splitlines() if line.startswith("FATAL")]
  assert done.returncode == 2 and len(fatal) == 1, done.stderr[-2000:]
  assert "classes 2" in fatal[0] and "classes 3" in fatal[0], fatal[0]
  with open(tmp_path / "run" / "metrics.jsonl", encoding="utf-8") as f:
    assert f.read() == before


def test_cross_replica_batch_norm_takes_the_global_batchs_statistics():
  """G's batch norms over a data-parallel axis (--sync_batch_norm): two halves of a batch,
  mapped over the axis, normalise and update their statistics as the whole batch does."""
  G, _ = _players()
  z = jax.random.normal(jax.random.key(0), (8, 8))
  y = jnp.arange(8) % 3
  variables = G.init(jax.random.key(1), z, y, train=False)
  whole, whole_state = G.apply(variables, z, y, train=True, mutable=["batch_stats"])
  mapped = G.clone(axis_name="d")
  halves, states = jax.vmap(
      lambda zz, yy: mapped.apply(variables, zz, yy, train=True, mutable=["batch_stats"]),
      axis_name="d")(z.reshape(2, 4, 8), y.reshape(2, 4))
  np.testing.assert_allclose(np.asarray(halves).reshape(whole.shape), whole, atol=2e-5)
  stats = lambda tree, pick: {k: pick(v) for k, v in jax.tree_util.tree_flatten_with_path(
      tree)[0] if "stored" in str(k)}
  for (path, got), want in zip(stats(states, lambda v: v[0]).items(),
                               stats(whole_state, lambda v: v).values()):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=str(path))


def test_standing_statistics_are_the_mean_of_each_batchs_moments_by_hand():
  """`standing_stats` (BigGAN's --accumulate_stats): each batch norm's stored mean and variance
  become the average over the batches of that batch's mean and biased variance, G run in
  training mode with the EMA parameters. Checked at the first norm (its input is G's linear
  map of z) and the output norm, from activations captured independently."""
  from jaxgan.sample import standing_stats  # pylint: disable=import-outside-toplevel
  G, D = _players()
  tx = optax.sgd(0.1)
  batch = {"x": jnp.zeros((1, 4, 32, 32, 1)), "y": jnp.zeros((1, 4), jnp.int32)}
  state = jaxgan.create_state(jax.random.key(0), G, D, tx, tx, batch)
  # An EMA apart from G, so that using the wrong parameters shows.
  state = state.replace(g_ema=jax.tree.map(lambda w: 1.3 * w + 0.05, state.g_params))
  key, num, size = jax.random.key(7), 3, 5
  got = standing_stats(G, state, key, num, size)

  @jax.jit
  def captured(model_state, z, y):
    return G.apply({"params": state.g_ema, **model_state}, z, y, train=True,
                   mutable=["batch_stats", "intermediates"],
                   capture_intermediates=lambda mdl, _: mdl.name in ("linear", "block2"))[1]

  model_state, first, last = dict(state.g_state), [], []
  for i in range(num):  # the same draws, the activations captured by flax
    k = jax.random.fold_in(key, i)
    z = jax.random.normal(k, (size, 8))
    y = jax.random.randint(jax.random.fold_in(k, 1), (size,), 0, 3)
    updates = captured(model_state, z, y)
    model_state["batch_stats"] = updates["batch_stats"]
    lin = np.asarray(updates["intermediates"]["linear"]["__call__"][0], np.float64)
    first.append(lin.reshape(size, -1, 4, 4).transpose(0, 2, 3, 1))
    last.append(np.asarray(updates["intermediates"]["block2"]["__call__"][0], np.float64))
  stats = got.g_state["batch_stats"]
  for name, acts in (("block0/bn1", first), ("output_bn", last)):
    node = stats
    for part in name.split("/"):
      node = node[part]
    np.testing.assert_allclose(node["stored_mean"],
                               np.mean([a.mean(axis=(0, 1, 2)) for a in acts], axis=0),
                               rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(node["stored_var"],
                               np.mean([a.var(axis=(0, 1, 2)) for a in acts], axis=0),
                               rtol=1e-5, atol=1e-6, err_msg=name)
  # Spectral norm's vectors advanced once a batch, as in the official training-mode passes.
  np.testing.assert_allclose(got.g_state["batch_stats"]["linear"]["u"],
                             model_state["batch_stats"]["linear"]["u"], rtol=1e-6)
  # Nothing else changes, and sampling reads the new statistics.
  assert jax.tree.all(jax.tree.map(np.array_equal, got.g_params, state.g_params))
  sample = make_sample_fn(G)
  assert not np.allclose(sample(got, 0, 4, labels=0), sample(state, 0, 4, labels=0))
  with pytest.raises(ValueError, match="standing_stats=0"):
    standing_stats(G, state, key, 0, size)
  mlp_state = jaxgan.create_state(jax.random.key(0), _Z(), jaxgan.models.MLPDiscriminator(),
                                  tx, tx, {"x": jnp.zeros((1, 4, 64))})
  with pytest.raises(ValueError, match="no batch norm that reports"):
    standing_stats(_Z(), mlp_state, key, 1, size)
