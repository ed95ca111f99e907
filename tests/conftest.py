"""Shared tiny GAN pieces for the tests."""

import gzip
import json
import os
import tempfile

# One persistent compilation cache for the whole session, set before JAX is imported, so that
# the runs the tests start as subprocesses (and in process) compile each program once.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="jaxgan-xla-cache-"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# Every program the tests compile, in this process and in the runs it starts, is compiled
# without LLVM's optimisation passes: the same XLA program (the same fusions, the same
# operations), generated as unoptimised machine code. The tests compile far more than they
# run, so this cuts the suite's time by a third (BUILD_NOTES.md, "Test suite"). Naming the
# flag in $XLA_FLAGS yourself (say, to test at full optimisation) overrides it.
FAST_COMPILE = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in FAST_COMPILE:
  FAST_COMPILE = f"{FAST_COMPILE} --xla_backend_optimization_level=0".strip()
  os.environ["XLA_FLAGS"] = FAST_COMPILE

import chex  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan.runner import factories
from jaxgan.runner.config import Config
from jaxgan.models import MLPDiscriminator, MLPGenerator
from jaxgan.runner.train import train_and_evaluate


# The tests check values to float32 rounding. On a GPU, JAX's default float32 matmuls and
# convolutions run in TF32 (~1e-3 relative), so there the tests, and the runs they start,
# ask for full float32. On a CPU this changes nothing and is not set.
if jax.default_backend() == "gpu":
  os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "float32"
  jax.config.update("jax_default_matmul_precision", "float32")

# Two different programs computing the same values (a jitted and an eager init, a step fed
# from the device or from the host) give the same bits on XLA:CPU, which the tests check.
# On a GPU they agree only to rounding: fusion changes the order of float operations there.
BITWISE = jax.default_backend() == "cpu"


def assert_same(a, b):
  """Asserts two pytrees are equal: bit for bit where BITWISE holds, else to rounding."""
  if BITWISE:
    chex.assert_trees_all_equal(a, b)
  else:
    chex.assert_trees_all_close(a, b, rtol=1e-4, atol=1e-6)


# For subprocesses that simulate several devices on the host
# (`--xla_force_host_platform_device_count`, which only the CPU platform reads), or that test
# XLA:CPU itself: they run on the CPU also on a machine with a GPU.
HOST_DEVICES = {"JAX_PLATFORMS": "cpu"}

# The environment of the runs the tests start as subprocesses (XLA_FLAGS as above).
FAST_ENV = dict(os.environ)


def tiny_stylegan2_run(root, num_images: int, seed: int, **config) -> tuple[str, np.ndarray]:
  """Trains a tiny StyleGAN2 (latent 4, 4 channels, minibatch stddev in groups of 2, batch 4)
  on `num_images` random 8×8 grey images drawn with `seed`, with `config`'s other settings,
  in `root/run`; returns the workdir and the images."""
  pixels = np.random.default_rng(seed).integers(0, 256, (num_images, 8, 8, 1), dtype=np.uint8)
  np.savez(os.path.join(root, "d.npz"), x=pixels)
  workdir = os.path.join(root, "run")
  train_and_evaluate(Config(
      dataset="array", data_path=os.path.join(root, "d.npz"),
      data_dir=os.path.join(root, "tfds"), model="stylegan2", latent_dim=4, channel_base=32,
      channel_max=4, mapping_layers=1, mbstd_group=2, batch_size=4, log_every=1, grid_size=4,
      tensorboard=False, **config), workdir)
  return workdir, pixels


def read_records(workdir) -> list[dict]:
  """Returns a run's metrics.jsonl records without `steps_per_sec` (which varies by run)."""
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return [{k: v for k, v in json.loads(line).items() if k != "steps_per_sec"}
            for line in f if line.strip()]


def train_records(workdir) -> list[dict]:
  """Returns the training records (not the evaluations) of `read_records`."""
  return [r for r in read_records(workdir) if "d/loss" in r]


def poison_real_batch(monkeypatch, step: int):
  """Makes the runner's real batch of `step` (counted from 1) NaN, as a data glitch would."""
  make = factories.make_train_step

  def make_poisoned(*args, **kwargs):
    train_step = make(*args, **kwargs)
    return lambda state, batch: train_step(state, {**batch, "x": jnp.where(
        state.step == step - 1, jnp.nan, batch["x"])})

  monkeypatch.setattr(factories, "make_train_step", make_poisoned)


@pytest.fixture
def players():
  """Returns a tiny (generator, discriminator, g_tx, d_tx) with distinct optimizers."""
  generator = MLPGenerator(latent_dim=3, data_dim=2, width=16, depth=2)
  discriminator = MLPDiscriminator(width=16, depth=2)
  return generator, discriminator, optax.adam(1e-2, b1=0.5), optax.adam(2e-2, b1=0.0, b2=0.9)


def batches(num, d_steps, batch_size, seed=0):
  """Returns `num` batches {'x': (d_steps, batch_size, 2)} from a fixed key."""
  key = jax.random.key(seed)
  return [{"x": jax.random.normal(jax.random.fold_in(key, i), (d_steps, batch_size, 2)) + 2.0}
          for i in range(num)]


def _idx_bytes(array: np.ndarray) -> bytes:
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  return header + array.astype(np.uint8).tobytes()


def write_idx_dataset(folder, n_train=24, n_test=12, gz=True):
  """Image i of a split is filled with value i; its label is i % 10."""
  os.makedirs(folder, exist_ok=True)
  for split, n in (("train", n_train), ("t10k", n_test)):
    imgs = np.repeat(np.arange(n, dtype=np.uint8), 28 * 28).reshape(n, 28, 28)
    labels = np.arange(n, dtype=np.uint8) % 10
    for kind, array in (("images-idx3", imgs), ("labels-idx1", labels)):
      data = _idx_bytes(array)
      name = os.path.join(folder, f"{split}-{kind}-ubyte")
      if gz:
        with gzip.open(name + ".gz", "wb") as f:
          f.write(data)
      else:
        with open(name, "wb") as f:
          f.write(data)
  return folder


def param_count(module, *inputs) -> int:
  """Parameters of a linen module for these inputs (shapes only: nothing is computed)."""
  shapes = jax.eval_shape(lambda: module.init({"params": jax.random.key(0)}, *inputs))
  return sum(a.size for a in jax.tree.leaves(shapes["params"]))


def flagfile_counts(name: str, shape: tuple[int, ...], classes: int):
  """Returns ((G's, D's) parameter counts, G) of the players a shipped flagfile builds for
  data of `shape` with `classes` classes."""
  import logging
  from experiments import run
  from jaxgan.runner import factories
  # Parsing and unparsing absl's flags sets the absl logger's level (to warnings), which would
  # hide the INFO lines later tests read: its level is put back as it was.
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  try:
    run.FLAGS.unparse_flags()
    run.FLAGS(["run", f"--flagfile=experiments/configs/{name}.flags"])
    config = run.config_from_flags()
  finally:
    run.FLAGS.unparse_flags()
    absl_logger.setLevel(level)
  G, D = factories.players_of(config.players, config.model_settings, shape, classes,
                              pixels=True)
  labels = (jnp.zeros((4,), jnp.int32),) if getattr(G, "num_classes", 0) else ()
  counts = (param_count(G, jnp.zeros((4, G.latent_dim)), *labels),
            param_count(D, jnp.zeros((4, *shape)), *labels))
  return counts, G
