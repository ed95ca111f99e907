"""The step is right in every form a user may wrap it in (issue 37).

`tests/step_transforms_worker.py` runs one update of a small GAN (SGD on both players, k = 2,
R1 on D, 2 CPU devices) as one device on the global batch, under the user's own
`jax.shard_map` with `check_vma` on (JAX's default) and off, the user's `jax.pmap`, the
library's wrappers, two steps inside the user's `lax.scan`, and two states under `jax.vmap`.
Each must equal its plain one-device counterpart: a gradient N times too large (what the
user's `shard_map` gave before `Devices.mean_grads`) moves the parameters by ~0.05 here.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.xdist_group("step_transforms")  # one worker builds the module fixture, once
WORKER = os.path.join(ROOT, "tests", "step_transforms_worker.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  out = tmp_path_factory.mktemp("transforms") / "results.npz"
  proc = subprocess.run([sys.executable, WORKER, str(out)], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with np.load(out) as f:
    return {k: f[k] for k in f.files}


@pytest.mark.parametrize("form", ["shard_map_vma", "shard_map", "pmap", "mesh_fn", "pmap_fn"])
def test_data_parallel_forms_equal_one_device_on_the_global_batch(results, form):
  moved = np.max(np.abs(results["one_device"] - results["before"]))
  assert moved > 1e-3  # the update moves the parameters: a scale error would show
  np.testing.assert_allclose(results[form], results["one_device"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("form", ["shard_map_vma", "shard_map", "pmap"])
def test_the_metrics_are_the_global_ones(results, form):
  np.testing.assert_allclose(results[f"{form}/metrics"], results["one_device/metrics"],
                             rtol=1e-5)


def test_inside_the_users_scan_equals_a_loop(results):
  np.testing.assert_allclose(results["scan"], results["loop"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("i", [0, 1])
def test_vmap_over_stacked_states_equals_each_alone(results, i):
  np.testing.assert_allclose(results[f"vmap_{i}"], results[f"alone_{i}"], rtol=0, atol=1e-6)
  assert np.max(np.abs(results["vmap_0"] - results["vmap_1"])) > 1e-2  # two different runs
