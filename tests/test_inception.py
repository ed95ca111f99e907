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


def test_a_pytorch_named_state_dict_maps_onto_the_flax_variables(tmp_path):
  shapes = inception.variable_shapes()
  rng = np.random.default_rng(0)
  flax_vars = jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32),
                           {"params": shapes["params"], "batch_stats": shapes["batch_stats"]})
  # Write it the way PyTorch names and lays it out.
  torch_dict = {}
  for collection in ("params", "batch_stats"):
    for path, value in jax.tree_util.tree_flatten_with_path(flax_vars[collection])[0]:
      keys = [p.key for p in path]
      if keys[-1] == "kernel":
        value = value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T
      torch_dict[iw._torch_name(collection, keys)] = value
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
