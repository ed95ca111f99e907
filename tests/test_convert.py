"""`experiments.convert`: official network pickles read as data, never run, into a run dir.

The pickles here are written by the test in the official format (persistent-class records
with their module source, tensors as `torch._utils._rebuild_tensor_v2` of storages pickled
as `torch.storage._load_from_bytes` of a legacy `torch.save` stream) with stand-in classes
registered under the official module names for the time of the write, so PyTorch is not
needed. Their weights are the StyleGAN2 parity fixture's (`tests/data/parity`), whose
official outputs are known.
"""

import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import types

import numpy as np
import pytest

from jaxgan.convert import network_pickle
from jaxgan.convert.state_dict import ConvertError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.xdist_group("converted")  # one worker builds the module fixture, once
FIXTURE = os.path.join(ROOT, "tests", "data", "parity", "stylegan2.npz")


# --- stand-ins for the classes an official pickle names ---------------------------------

def _fake_modules(monkeypatch):
  """Registers modules under the official names, holding the stand-ins pickle looks up."""
  mods = {}
  for name in ("torch", "torch._utils", "torch.storage", "torch_utils",
               "torch_utils.persistence", "dnnlib", "dnnlib.util", "training",
               "training.networks", "torch.nn", "torch.nn.modules",
               "torch.nn.modules.container"):
    mods[name] = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, mods[name])

  def place(module, obj, name):
    obj.__module__, obj.__qualname__, obj.__name__ = module, name, name
    setattr(mods[module], name, obj)
    return obj

  def rebuild_tensor(*args):
    raise AssertionError("never called while writing")

  fake = types.SimpleNamespace(
      rebuild_tensor=place("torch._utils", rebuild_tensor, "_rebuild_tensor_v2"),
      rebuild_parameter=place("torch._utils", lambda *a: None, "_rebuild_parameter"),
      load_from_bytes=place("torch.storage", lambda b: None, "_load_from_bytes"),
      reconstruct=place("torch_utils.persistence", lambda meta: None,
                        "_reconstruct_persistent_obj"),
      FloatStorage=place("torch", type("FloatStorage", (), {}), "FloatStorage"),
      EasyDict=place("dnnlib.util", type("EasyDict", (dict,), {}), "EasyDict"),
      # Classes pickled by reference, as R3GAN's training code pickles its networks.
      Generator=place("training.networks", type("Generator", (), {}), "Generator"),
      Discriminator=place("training.networks", type("Discriminator", (), {}),
                          "Discriminator"),
      ModuleList=place("torch.nn.modules.container", type("ModuleList", (), {}),
                       "ModuleList"))
  return fake


class _Storage:
  def __init__(self, fake, array):
    self.fake, self.array = fake, np.ascontiguousarray(array, np.float32).ravel()

  def __reduce__(self):
    return self.fake.load_from_bytes, (_legacy_storage_bytes(self.fake, self.array),)


def _legacy_storage_bytes(fake, flat: np.ndarray) -> bytes:
  """A storage as `torch.save(storage, _use_new_zipfile_serialization=False)` writes it."""
  f = io.BytesIO()
  for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001,
                                                "little_endian": True}):
    pickle.dump(header, f, protocol=2)

  class Inner(pickle.Pickler):
    def persistent_id(self, obj):
      if obj is flat:
        return ("storage", fake.FloatStorage, "0", "cpu", flat.size)
      return None

  Inner(f, protocol=2).dump(flat)
  pickle.dump(["0"], f, protocol=2)
  f.write(struct.pack("<q", flat.size) + flat.tobytes())
  return f.getvalue()


class _Tensor:
  def __init__(self, fake, array):
    self.fake, self.array = fake, np.asarray(array, np.float32)

  def __reduce__(self):
    a = self.array
    strides = tuple(s // 4 for s in np.ascontiguousarray(a).strides) if a.ndim else ()
    return self.fake.rebuild_tensor, (_Storage(self.fake, a), 0, a.shape, strides, False,
                                      collections.OrderedDict())


class _Parameter(_Tensor):
  def __reduce__(self):
    return self.fake.rebuild_parameter, (_Tensor(self.fake, self.array), False,
                                         collections.OrderedDict())


class _Persistent:
  """A persistent-class instance as the official persistence hook pickles it."""

  def __init__(self, fake, class_name, state, module_src):
    self.fake, self.meta = fake, dict(type="class", version=6, module_src=module_src,
                                      class_name=class_name, state=state)

  def __reduce__(self):
    return self.fake.reconstruct, (self.meta,)


def _module_tree(fake, arrays: dict, class_name: str, init_kwargs: dict, source: str):
  """Nested persistent records holding `arrays` (dotted names) as parameters / buffers."""
  def node(name, prefix):
    own = {k[len(prefix):]: v for k, v in arrays.items()
           if k.startswith(prefix) and "." not in k[len(prefix):]}
    children = sorted({k[len(prefix):].split(".")[0] for k in arrays
                       if k.startswith(prefix) and "." in k[len(prefix):]})
    buffers = ("resample_filter", "noise_const", "w_avg", "p")
    state = {
        "training": False,
        "_parameters": collections.OrderedDict(
            (k, _Parameter(fake, v)) for k, v in own.items() if k not in buffers),
        "_buffers": collections.OrderedDict(
            (k, _Tensor(fake, v)) for k, v in own.items() if k in buffers),
        "_modules": collections.OrderedDict(
            (c, node("SynthesisNetwork" if c == "synthesis" and not prefix else "Layer",
                     f"{prefix}{c}.")) for c in children),
        "weight_gain": np.float64(0.25),  # official layers keep numpy scalars
    }
    if not prefix:
      state["_init_kwargs"] = fake.EasyDict(init_kwargs)
    return _Persistent(fake, name, state, source)
  return node(class_name, "")


def _by_reference(fake, arrays: dict, root):
  """`root` (an instance of a stand-in class) holding `arrays` through by-reference modules."""
  def node(obj, prefix):
    own = {k[len(prefix):]: v for k, v in arrays.items()
           if k.startswith(prefix) and "." not in k[len(prefix):]}
    children = sorted({k[len(prefix):].split(".")[0] for k in arrays
                       if k.startswith(prefix) and "." in k[len(prefix):]})
    obj.__dict__.update(
        training=False, _non_persistent_buffers_set=set(),
        _parameters=collections.OrderedDict(
            (k, _Parameter(fake, v)) for k, v in own.items() if k != "Kernel"),
        _buffers=collections.OrderedDict(
            (k, _Tensor(fake, v)) for k, v in own.items() if k == "Kernel"),
        _modules=collections.OrderedDict(
            (c, node(fake.ModuleList(), f"{prefix}{c}.")) for c in children))
    return obj
  return node(root, "")


def _r3gan_pickle(path, monkeypatch, cfg="b"):
  """Writes a pickle as R3GAN's training code does, of the R3GAN parity fixture's `cfg`."""
  with np.load(os.path.join(ROOT, "tests", "data", "parity", "r3gan.npz")) as f:
    arrays = {k: f[k] for k in f.files}
  spec = json.loads(str(arrays["config"]))[cfg]["G"]
  with monkeypatch.context() as m:
    fake = _fake_modules(m)
    part = lambda who: {k[len(f"{cfg}/{who}/"):]: v for k, v in arrays.items()
                        if k.startswith(f"{cfg}/{who}/")}
    G = _by_reference(fake, part("G"), fake.Generator())
    G.__dict__.update(z_dim=spec["NoiseDimension"], c_dim=spec["c_dim"],
                      img_resolution=spec["img_resolution"])
    D = _by_reference(fake, part("D"), fake.Discriminator())
    with open(path, "wb") as f:
      pickle.dump(dict(G=G, D=D, G_ema=G, training_set_kwargs=dict(path="/data/c.zip"),
                       cur_nimg=1000), f)
  return arrays


def _fixture(cfg: str) -> tuple[dict, dict]:
  with np.load(FIXTURE) as f:
    arrays = {k: f[k] for k in f.files}
  spec = json.loads(str(arrays["config"]))[cfg]
  return arrays, spec


def _official_pickle(path, monkeypatch, cfg="b", *, evil_path=None, g_changes=None,
                     pipe_kwargs=None, top=None, classes="class Generator: pass\n",
                     d_changes=None, drop_init_kwargs=False, g_as=None):
  """Writes an official-format pickle of the fixture's configuration `cfg`."""
  arrays, spec = _fixture(cfg)
  with monkeypatch.context() as m:
    fake = _fake_modules(m)
    source = ("import os\n"
              f"open({str(evil_path)!r}, 'w').write('the pickle ran code')\n" if evil_path
              else "") + classes
    part = lambda who: {k[len(f"{cfg}/{who}/"):]: v for k, v in arrays.items()
                        if k.startswith(f"{cfg}/{who}/")}
    g_kwargs = json.loads(json.dumps(spec["G"]))
    g_kwargs.update(g_changes or {})
    G = _module_tree(fake, part("G"), "Generator", g_kwargs, source)
    D = _module_tree(fake, part("D"), "Discriminator", {**spec["D"], **(d_changes or {})},
                     source)
    if drop_init_kwargs:
      del G.meta["state"]["_init_kwargs"]
    pipe = _module_tree(fake, {"p": np.float32(0.375)}, "AugmentPipe",
                        pipe_kwargs or dict(xflip=1, rotate90=1, xint=1), source)
    data = top if top is not None else dict(
        training_set_kwargs=dict(path="/data/train.zip", resolution=16),
        G=G if g_as is None else g_as, D=D, G_ema=G, augment_pipe=pipe)
    with open(path, "wb") as f:
      pickle.dump(data, f)
  return arrays


def _convert(*args, cwd=ROOT):
  return subprocess.run([sys.executable, "-m", "experiments.convert", *args], cwd=cwd,
                        capture_output=True, text=True, timeout=600)


def _sample(*args):
  return subprocess.run([sys.executable, "-m", "experiments.sample", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=600)


# --- the tests ---------------------------------------------------------------------------

def test_the_reader_gives_the_arrays_and_settings_and_runs_nothing(tmp_path, monkeypatch):
  evil = tmp_path / "ran.txt"
  arrays = _official_pickle(tmp_path / "net.pkl", monkeypatch, evil_path=evil)
  data = network_pickle.read(str(tmp_path / "net.pkl"))
  assert not evil.exists()
  assert sorted(data) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
  assert "the pickle ran code" in data["G"].module_src  # kept as text, never executed
  assert data["G"].init_kwargs["w_dim"] == 8
  state = network_pickle.state_dict(data["G"])
  want = {k[len("b/G/"):]: v for k, v in arrays.items() if k.startswith("b/G/")}
  assert sorted(state) == sorted(want)
  for name, value in want.items():
    np.testing.assert_array_equal(state[name], value, err_msg=name)
  assert float(network_pickle.state_dict(data["augment_pipe"])["p"]) == 0.375


def test_a_pickle_that_asks_for_anything_else_is_refused_by_name(tmp_path):
  evil = tmp_path / "ran.txt"

  class Evil:
    def __reduce__(self):
      return os.system, (f"touch {evil}",)

  with open(tmp_path / "evil.pkl", "wb") as f:
    pickle.dump({"G": Evil()}, f)
  with pytest.raises(ConvertError, match=r"asks for (posix|os|nt)\.system"):
    network_pickle.read(str(tmp_path / "evil.pkl"))
  assert not evil.exists()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  """A stand-in official pickle (the StyleGAN2 fixture's configuration b, its embedded source
  writing a file if run) converted by the command: (workdir, the fixture's arrays, folder)."""
  root = tmp_path_factory.mktemp("converted")
  evil = root / "ran.txt"
  with pytest.MonkeyPatch.context() as monkeypatch:
    arrays = _official_pickle(root / "net.pkl", monkeypatch, evil_path=evil)
  out = _convert(f"--network={root / 'net.pkl'}", f"--workdir={root / 'run'}")
  assert out.returncode == 0, out.stderr[-2000:]
  assert not evil.exists()
  return root / "run", arrays, root


def test_convert_then_sample_gives_the_official_images(converted):
  """The converted run's EMA G, given the fixture's z and labels with const noise, draws the
  images the official synthesis drew (to uint8 rounding); the config is read from the file."""
  workdir, arrays, root = converted
  config = json.loads((workdir / "config.json").read_text())
  assert (config["model"], config["latent_dim"], config["w_dim"], config["mapping_layers"],
          config["d_architecture"], config["mbstd_channels"], config["d_mapping_layers"],
          config["augment"], config["ada_pipeline"]) == (
              "stylegan2", 8, 8, 3, "orig", 2, 2, "ada", "xflip,rotate90,xint")
  assert config["num_classes"] == 4 and config["image_shape"] == [16, 16, 1]
  assert config["ema_debias"] is False  # fine-tuning keeps the file's trained G_ema
  np.save(root / "z.npy", arrays["b/z"])
  result = _sample(f"--workdir={workdir}", f"--latents={root / 'z.npy'}",
                   "--noise_mode=const", f"--out={root / 's.npz'}", "--class=0")
  assert result.returncode == 0, result.stderr[-2000:]
  with np.load(root / "s.npz") as f:
    images = f["images"]
  # The fixture's labels are 0, 1, 2, 3 (one-hot c): the first image is class 0's.
  official = np.transpose(arrays["b/img_const"], (0, 2, 3, 1))[:1]
  want = np.clip(np.round(official * 127.5 + 127.5), 0, 255)
  assert np.max(np.abs(images[:1].astype(float) - want)) <= 1


def test_latents_of_the_wrong_shape_get_one_fatal_line(converted):
  workdir, _, root = converted
  np.save(root / "z5.npy", np.zeros((2, 5), np.float32))
  again = _sample(f"--workdir={workdir}", f"--latents={root / 'z5.npy'}",
                  f"--out={root / 'other.npz'}")
  fatal = [line for line in again.stderr.splitlines() if line.startswith("FATAL")]
  assert again.returncode == 2 and len(fatal) == 1, again.stderr[-2000:]
  assert "(2, 5)" in fatal[0] and "(N, 8)" in fatal[0] and "Usage" not in again.stderr
  assert not (root / "other.npz").exists()


def test_the_converted_state_holds_g_d_ada_and_buffers(converted):
  from jaxgan.runner.runs import restore_run
  workdir, arrays, _ = converted
  run = restore_run(str(workdir), with_data=False)
  state = run.state
  np.testing.assert_array_equal(state.g_state["stats"]["w_avg"], arrays["b/G/mapping.w_avg"])
  np.testing.assert_array_equal(state.g_state["buffers"]["b16_conv1"]["noise_const"],
                                arrays["b/G/synthesis.b16.conv1.noise_const"])
  np.testing.assert_array_equal(state.d_params["b16_conv0"]["bias"],
                                arrays["b/D/b16.conv0.bias"])
  np.testing.assert_array_equal(state.g_ema["mapping"]["fc0"]["bias"],
                                arrays["b/G/mapping.fc0.bias"])
  assert float(state.objective["view"]["ada"]["p"]) == 0.375
  assert int(state.step) == 0


def test_an_r3gan_pickle_converts_to_the_official_generator(tmp_path, monkeypatch):
  """R3GAN's pickles name their classes by reference; read as records, never imported, they
  give a run whose EMA G draws the official images from the same z and labels."""
  import jax
  from jaxgan.runner import converted as converted_run
  from jaxgan.runner.runs import restore_run
  from jaxgan.sample import make_sample_fn
  arrays = _r3gan_pickle(tmp_path / "r3.pkl", monkeypatch)
  found = converted_run.convert(str(tmp_path / "r3.pkl"), str(tmp_path / "run"))
  assert (found["model"], found["stage_widths"], found["stage_blocks"], found["expansion"],
          found["group_size"], found["latent_dim"], found["num_classes"]) == (
              "r3gan", "12,12,8,8", 1, 3, 6, 10, 5)
  run = restore_run(str(tmp_path / "run"), with_data=False)
  z, labels = arrays["b/z"], np.argmax(arrays["b/c"], axis=1).astype(np.int32)
  images = make_sample_fn(run.generator)(run.state, jax.random.key(0), len(z), labels, z=z)
  official = np.transpose(arrays["b/fake"], (0, 2, 3, 1))
  assert np.max(np.abs(np.asarray(images) - official)) <= 1e-5 * np.max(np.abs(official))


@pytest.mark.parametrize("case, message", [
    ("stylegan3", "StyleGAN3's"),
    ("skip_d", "architecture='skip'"),
    ("cutout", "cutout=1"),
    ("not_a_network", "not a network pickle"),
    ("truncated", "could not be read as a network pickle"),
    ("no_init_kwargs", "lack what their class keeps"),
    ("g_not_a_network", "not a network pickle"),
])
def test_bad_pickles_are_refused_by_name_and_leave_no_run(tmp_path, monkeypatch, case,
                                                          message):
  from jaxgan.runner import converted as converted_run
  path = tmp_path / "net.pkl"
  if case == "stylegan3":
    _official_pickle(path, monkeypatch, classes="class SynthesisInput: pass\n")
  elif case == "skip_d":
    _official_pickle(path, monkeypatch, d_changes={"architecture": "skip"})
  elif case == "cutout":
    _official_pickle(path, monkeypatch, pipe_kwargs=dict(xflip=1, cutout=1))
  elif case == "no_init_kwargs":
    _official_pickle(path, monkeypatch, drop_init_kwargs=True)
  elif case == "g_not_a_network":
    _official_pickle(path, monkeypatch, g_as=3)
  elif case == "not_a_network":
    with open(path, "wb") as f:
      pickle.dump({"weights": [1.0, 2.0]}, f)
  else:
    _official_pickle(path, monkeypatch)
    path.write_bytes(path.read_bytes()[:5000])
  workdir = tmp_path / "run"
  with pytest.raises(ConvertError, match=message):
    converted_run.convert(str(path), str(workdir))
  assert not workdir.exists()
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".convert-")]


def test_the_command_answers_a_bad_file_with_one_fatal_line(tmp_path):
  path = tmp_path / "net.pkl"
  path.write_bytes(b"not a pickle at all")
  out = _convert(f"--network={path}", f"--workdir={tmp_path / 'run'}")
  assert out.returncode == 2
  fatal = [line for line in out.stderr.splitlines() if line.startswith("FATAL")]
  assert len(fatal) == 1 and "could not be read as a network pickle" in fatal[0], out.stderr
  assert not (tmp_path / "run").exists()


def test_a_payload_hidden_in_a_tensors_bytes_or_strides_is_refused(tmp_path, monkeypatch):
  """The storage bytes are the file's too: their header pickles are read as restricted as
  the rest; a tensor's strides may not reach outside its storage; BUILD may not change an
  allowed function or class."""
  ran = tmp_path / "ran.txt"

  class Evil:
    def __reduce__(self):
      return os.system, (f"touch {ran}",)

  with monkeypatch.context() as m:
    fake = _fake_modules(m)

    class Hidden:  # _load_from_bytes of bytes whose first header is the payload
      def __reduce__(self):
        return fake.load_from_bytes, (pickle.dumps(Evil()),)

    with open(tmp_path / "nested.pkl", "wb") as f:
      pickle.dump({"G": Hidden()}, f)

    class Reaching:  # a 4-element storage read with a stride of 2^20
      def __reduce__(self):
        return fake.rebuild_tensor, (_Storage(fake, np.zeros(4)), 0, (2, 2), (1 << 20, 1),
                                     False, collections.OrderedDict())

    with open(tmp_path / "reach.pkl", "wb") as f:
      pickle.dump({"G": Reaching()}, f)
  with pytest.raises(ConvertError, match=r"asks for (posix|os|nt)\.system"):
    network_pickle.read(str(tmp_path / "nested.pkl"))
  assert not ran.exists()
  with pytest.raises(ConvertError, match=r"reaches outside its storage of 4 elements"):
    network_pickle.read(str(tmp_path / "reach.pkl"))
  # GLOBAL dnnlib.util EasyDict, then BUILD (None, {"pwned": 1}) on the class itself.
  build = (b"\x80\x02cdnnlib.util\nEasyDict\nN}X\x05\x00\x00\x00pwnedK\x01s\x86b.")
  (tmp_path / "build.pkl").write_bytes(build)
  with pytest.raises(ConvertError, match=r"tries to change _EasyDict.pwned"):
    network_pickle.read(str(tmp_path / "build.pkl"))
