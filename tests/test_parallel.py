"""Data parallelism: 1 device, a 4-device mesh, pmap, and 2 processes x 2 devices agree.

The parallel arrangements run in subprocesses (tests/parallel_worker.py), because the number
of CPU devices and the distributed runtime are fixed when JAX starts. The local worker and
the two processes run at the same time.

Tolerance: the arrangements add the same float32 numbers in different orders (per-device
means combined by an all-reduce, against one reduction over the global batch), which moves
results by ~1e-7 relative per reduction; three SGD steps through batch norm grow that to
~1e-5 absolute at most on O(1) parameters (largest measured: 1.4e-5 with a bigger DCGAN;
9.5e-7 with these models, 2.4e-6 when compiled as below, BUILD_NOTES.md). The
tests allow atol 1e-4 and rtol 1e-4: well above rounding, far below any real difference (a
missed or doubled gradient average changes parameters by ~1e-1).
"""

import json
import os
import socket
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import parallel
from conftest import FAST_COMPILE, HOST_DEVICES, read_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "parallel_worker.py")
ATOL, RTOL = 1e-4, 1e-4
# Every process of these tests compiles with FAST_COMPILE (LLVM optimisations off): the programs are tiny
# and compiling dominates (64 s -> 38 s for the local worker). All arrangements compared
# run with the same flag.


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("parallel")
  env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
         "XLA_FLAGS": FAST_COMPILE, **HOST_DEVICES}
  port = str(_free_port())
  procs = [subprocess.Popen([sys.executable, WORKER, "local", str(tmp / "local.npz")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
  procs += [subprocess.Popen([sys.executable, WORKER, "process", str(pid), port,
                              str(tmp / "processes.npz")], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT) for pid in (0, 1)]
  for p in procs:
    out, _ = p.communicate(timeout=600)
    assert p.returncode == 0, out.decode()[-3000:]
  local, processes = np.load(tmp / "local.npz"), np.load(tmp / "processes.npz")
  return {**{k: local[k] for k in local.files}, **{k: processes[k] for k in processes.files}}


@pytest.mark.slow
@pytest.mark.xdist_group("parallel_results")  # one worker builds the fixture, once
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
@pytest.mark.parametrize("mode", ["mesh", "pmap", "processes"])
def test_parallel_update_equals_single_device_update(results, model, mode):
  single = {k.split("/", 2)[2]: v for k, v in results.items()
            if k.startswith(f"{model}/single/")}
  assert len([k for k in single if k.startswith("state/")]) > 10
  for key, want in single.items():
    got = results[f"{model}/{mode}/{key}"]
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=f"{model} {mode} {key}")
  # The runs trained: three steps moved the discriminator's losses.
  assert np.ptp(single["metric/d/loss"]) > 1e-3


def test_cross_replica_batch_norm_uses_the_global_batch():
  x = jax.random.normal(jax.random.key(0), (8, 3)) * jnp.arange(1, 4) + 2.0
  bn = nn.BatchNorm(use_running_average=False, momentum=0.5, axis_name="data")
  variables = bn.init(jax.random.key(1), x)
  single = nn.BatchNorm(use_running_average=False, momentum=0.5)
  want, want_stats = single.apply(variables, x, mutable=["batch_stats"])

  def per_device(x_local):
    return bn.apply(variables, x_local, mutable=["batch_stats"])

  got, got_stats = jax.vmap(per_device, axis_name="data")(x.reshape(4, 2, 3))
  np.testing.assert_allclose(got.reshape(8, 3), want, rtol=1e-5, atol=1e-5)
  for name in ("mean", "var"):
    stat = got_stats["batch_stats"][name]
    np.testing.assert_allclose(stat, np.broadcast_to(want_stats["batch_stats"][name], stat.shape),
                               rtol=1e-5)
  # Without the axis each device normalises by its own two samples: different outputs.
  local, _ = jax.vmap(lambda v: single.apply(variables, v, mutable=["batch_stats"]))(
      x.reshape(4, 2, 3))
  assert not np.allclose(local.reshape(8, 3), want, atol=1e-2)


def test_batch_that_does_not_divide_across_devices_is_refused_with_the_numbers():
  assert parallel.check_batch(64, 4) == 16
  with pytest.raises(ValueError, match=r"batch_size=30 does not divide across 4 devices.*28 or 32"):
    parallel.check_batch(30, 4)


def test_pmap_batch_split_keeps_rows_in_device_order():
  x = np.arange(2 * 8).reshape(2, 8)
  split = parallel.split_for_pmap({"x": x}, 4)["x"]
  assert split.shape == (4, 2, 2)
  np.testing.assert_array_equal(split[1], x[:, 2:4])


def _run(args, devices, env_extra=None):
  env = {**os.environ, **(env_extra or {}), **HOST_DEVICES,
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices} {FAST_COMPILE}"}
  return subprocess.Popen([sys.executable, "-m", "experiments.run", *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_runner_on_two_processes_writes_once_resumes_and_matches_one_process(tmp_path):
  """The same command on two 'hosts' (2 devices each), stopped at step 6 and continued to 9
  from the checkpoint both wrote, against one uninterrupted process with 4 devices."""
  common = ["--dataset=grid25", "--batch_size=16", "--d_steps=2", "--g_width=16",
            "--d_width=16", "--log_every=3", "--eval_every=6", "--checkpoint_every=3",
            "--eval_samples=100", "--notensorboard"]

  def two_hosts(num_steps):
    port = str(_free_port())
    return [_run([*common, f"--num_steps={num_steps}", f"--workdir={tmp_path / 'multi'}",
                  f"--coordinator_address=localhost:{port}", "--num_processes=2",
                  f"--process_id={pid}"], 2) for pid in (0, 1)]

  def finish(processes):
    errs = []
    for p in processes:
      _, err = p.communicate(timeout=600)
      assert p.returncode == 0, err[-3000:]
      errs.append(err)
    return errs

  one = _run([*common, "--num_steps=9", f"--workdir={tmp_path / 'one'}"], 4)
  errs = finish(two_hosts(6))
  assert "data parallel over 4 devices (2 processes)" in errs[0]
  assert sorted(os.listdir(tmp_path / "multi" / "checkpoints")) == ["3", "6"]
  errs = finish(two_hosts(9))
  assert all("resuming from step 6" in err for err in errs)
  assert "data parallel over 4 devices (1 processes)" in finish([one])[0]
  multi, single = read_records(tmp_path / "multi"), read_records(tmp_path / "one")
  assert [r["step"] for r in multi if "d/loss" in r] == [3, 6, 9]
  # One writer: a single metrics file, each record once.
  assert len(multi) == len(single)
  for a, b in zip(multi, single):
    assert a.keys() == b.keys()
    for key in a:
      if isinstance(a[key], float):
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
      else:
        assert a[key] == b[key], key
  assert sorted(os.listdir(tmp_path / "multi" / "checkpoints")) == ["3", "6", "9"]
  assert json.loads((tmp_path / "multi" / "summary.json").read_text())["resumed_from_step"] == 6


def test_runner_refuses_a_batch_that_does_not_divide_across_devices(tmp_path):
  proc = _run([f"--workdir={tmp_path / 'w'}", "--dataset=ring8", "--batch_size=30",
               "--num_steps=1"], 4)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 2, err[-2000:]
  assert "batch_size=30 does not divide across 4 devices" in err.splitlines()[-1]
  assert not (tmp_path / "w").exists()
