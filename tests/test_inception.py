"""FID's Inception-v3: its shape, and its weights read from PyTorch files without PyTorch.

tests/data holds a small state dict that PyTorch 2.13 saved in both of its formats (zip and
legacy), with a non-contiguous view, an offset view into a shared storage, float16 and an
int64 scalar, beside the arrays it holds as .npz.
"""

import math
import os
import pickle

import jax
import numpy as np
import pytest

from jaxgan.metrics import inception_eval
from jaxgan.metrics import inception_weights as iw
from jaxgan.models import inception

DATA = os.path.join(os.path.dirname(__file__), "data")


def test_the_network_has_the_fid_inceptions_parameter_count_and_outputs():
  shapes = inception.variable_shapes()
  count = sum(math.prod(x.shape) for x in jax.tree.leaves(shapes["params"]))
  # torchvision's Inception-v3 without its auxiliary head, with 1008 logits instead of 1000.
  assert count == 23_834_568 + 8 * 2049 == 23_850_960
  assert shapes["params"]["fc"]["kernel"].shape == (2048, inception.NUM_LOGITS)
  assert shapes["params"]["Mixed_7c"]["branch_pool"]["conv"]["kernel"].shape == (1, 1, 2048, 192)


@pytest.mark.parametrize("name", ["state_dict_zip.pth", "state_dict_legacy.pth"])
def test_both_pytorch_formats_read_into_the_same_arrays(name):
  expected = dict(np.load(os.path.join(DATA, "state_dict_expected.npz")))
  got = iw.read_state_dict(os.path.join(DATA, name))
  assert sorted(got) == sorted(expected)
  for key, value in expected.items():
    assert got[key].dtype == value.dtype and np.array_equal(got[key], value), key
  np.testing.assert_array_equal(got["view.transposed"], np.arange(12.0).reshape(3, 4).T)


def test_a_file_that_asks_for_code_is_refused(tmp_path):
  class Evil:
    def __reduce__(self):
      return (os.system, ("echo pwned > " + str(tmp_path / "ran"),))

  path = tmp_path / "evil.pth"
  with open(path, "wb") as f:
    for header in (0x1950A86A20F9469CFC6C, 1001, {}):
      pickle.dump(header, f)
    pickle.dump({"x": Evil()}, f)
  with pytest.raises(iw.WeightsError, match="posix.system|os.system"):
    iw.read_state_dict(str(path))
  assert not (tmp_path / "ran").exists()


def test_missing_file_and_wrong_hash_are_named(tmp_path):
  with pytest.raises(iw.WeightsError, match="not found.*pt_inception-2015-12-05-6726825d.pth"):
    iw.read_state_dict(str(tmp_path / "nothing.pth"))
  fake = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
  fake.write_bytes(b"not the weights")
  with pytest.raises(iw.WeightsError, match="does not begin with 6726825d"):
    iw.read_state_dict(str(fake))


def random_variables(seed=0):
  """Random Inception variables, batch-norm variances positive, scaled to keep activations
  of order one through the depth."""
  shapes = inception.variable_shapes()
  rng = np.random.default_rng(seed)

  def draw(path, s):
    name = path[-1].key
    if name in ("var", "scale"):
      return rng.uniform(0.5, 1.5, s.shape).astype(np.float32)
    if name == "kernel":
      fan_in = math.prod(s.shape[:-1])
      return (rng.standard_normal(s.shape) * math.sqrt(2 / fan_in)).astype(np.float32)
    return (0.1 * rng.standard_normal(s.shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(
      draw, {"params": shapes["params"], "batch_stats": shapes["batch_stats"]})


def torch_named(flax_vars):
  """The variables the way PyTorch names and lays them out."""
  torch_dict = {}
  for collection in ("params", "batch_stats"):
    for path, value in jax.tree_util.tree_flatten_with_path(flax_vars[collection])[0]:
      keys = [p.key for p in path]
      if keys[-1] == "kernel":
        value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
      torch_dict[iw._torch_name(collection, keys)] = value
  return torch_dict


def test_a_pytorch_named_state_dict_maps_onto_the_flax_variables(tmp_path):
  flax_vars = random_variables()
  torch_dict = torch_named(flax_vars)
  assert "Mixed_5b.branch5x5_2.conv.weight" in torch_dict
  assert torch_dict["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
  assert torch_dict["Conv2d_1a_3x3.bn.running_var"].shape == (32,)
  torch_dict["Conv2d_1a_3x3.bn.num_batches_tracked"] = np.array(5)
  np.savez(tmp_path / "w.npz", **torch_dict)
  loaded = iw.load_variables(str(tmp_path / "w.npz"))
  jax.tree.map(np.testing.assert_array_equal, loaded, flax_vars)
  del torch_dict["fc.bias"]
  torch_dict["fc.extra"] = np.zeros(1)
  with pytest.raises(iw.WeightsError, match=r"missing \['fc.bias'\], unexpected \['fc.extra'\]"):
    iw.to_variables(torch_dict)


def test_inception_metrics_are_unavailable_with_the_reason_and_never_substituted(monkeypatch):
  monkeypatch.delenv(inception_eval.WEIGHTS_ENV, raising=False)
  metrics, reason = inception_eval.InceptionMetrics.from_path(None)
  assert metrics is None and "JAXGAN_INCEPTION_WEIGHTS" in reason
  monkeypatch.setenv(inception_eval.WEIGHTS_ENV, "/nowhere/w.pth")
  metrics, reason = inception_eval.InceptionMetrics.from_path(None)
  assert metrics is None and "not found at '/nowhere/w.pth'" in reason


def test_metrics_of_a_set_against_itself_with_random_weights(tmp_path):
  np.savez(tmp_path / "w.npz", **torch_named(random_variables()))
  metrics, reason = inception_eval.InceptionMetrics.from_path(str(tmp_path / "w.npz"),
                                                              batch_size=8)
  assert reason == ""
  assert metrics.weights_file == str(tmp_path / "w.npz")
  images = np.random.default_rng(1).uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
  read = lambda start, stop: images[start:stop]
  reference = metrics.reference("noise-train", 8, read, cache_dir=str(tmp_path / "cache"))
  cached = os.listdir(tmp_path / "cache")
  assert len(cached) == 1 and cached[0].startswith("inception-noise-train-8-")
  again = metrics.reference("noise-train", 8, lambda a, b: 1 / 0, str(tmp_path / "cache"))
  np.testing.assert_array_equal(again.stats.cov, reference.stats.cov)
  result = metrics.evaluate([images], reference, jax.random.key(0))
  # ≈ 0 up to the square root's rounding on a rank-7 covariance in 2048 dimensions.
  assert abs(result["fid"]) < 1e-5 * float(np.trace(reference.stats.cov))
  assert (result["precision"], result["recall"]) == (1.0, 1.0)
  assert result["inception_score"] >= 1.0 and result["inception_samples"] == 8
  # A different set is measurably far.
  other = np.clip(images + 0.5, -1, 1)
  moved = metrics.evaluate([other], reference, jax.random.key(0))
  assert moved["fid"] > 1e3 * abs(result["fid"]) and moved["precision"] < 1


def test_each_inception_record_says_how_it_was_made(tmp_path):
  from jaxgan.data import transforms  # pylint: disable=g-import-not-at-top
  from jaxgan.data.image_data import ImageData  # pylint: disable=g-import-not-at-top
  from jaxgan.runner.evaluation import InceptionEvaluation  # pylint: disable=g-import-not-at-top
  from jaxgan.models.mlp import MLPGenerator  # pylint: disable=g-import-not-at-top
  np.savez(tmp_path / "w.npz", **torch_named(random_variables()))
  metrics, _ = inception_eval.InceptionMetrics.from_path(str(tmp_path / "w.npz"))
  source = [{"image": np.zeros((28, 28, 1), np.uint8)}] * 30
  data = transforms.subset(ImageData("array", source, 30, (28, 28, 1), np.dtype(np.uint8), (),
                                     variant="mine_ab12"), 20)
  evaluation = InceptionEvaluation(MLPGenerator(), metrics, "", data, 50, jax.random.key(0),
                                   str(tmp_path / "cache"))
  protocol = evaluation.protocol()
  assert protocol["reference"] == ("array-mine_ab12-subset20s0, split train: its first 20 "
                                   "images, repeated to 50")
  assert protocol["generated"].startswith("50 images of the EMA generator")
  assert protocol["weights_file"] == str(tmp_path / "w.npz")
  assert protocol["weights_sha256"] == iw.sha256(str(tmp_path / "w.npz"))
  assert protocol["resize"].startswith("bilinear to 299x299")
