"""Runs 3 steps of a small DCGAN and of the 2D MLP in one parallel arrangement; saves the results.

Started as a subprocess by test_parallel.py, because the number of CPU devices and the
distributed runtime are fixed when JAX starts:

  python tests/parallel_worker.py local OUT.npz
      4 CPU devices in one process: single device (plain jit), jit + mesh, and jax.pmap.
  python tests/parallel_worker.py process PID PORT OUT.npz
      one of 2 processes x 2 CPU devices joined by jax.distributed.initialize (gloo), jit + mesh.

Every arrangement starts from the same state and sees the same global batches; the test
compares the final states and the per-step metrics.
"""

import os
import sys

import jax

MODE = sys.argv[1]
if MODE == "local":
  jax.config.update("jax_num_cpu_devices", 4)
else:
  jax.config.update("jax_num_cpu_devices", 2)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"localhost:{sys.argv[3]}", num_processes=2,
                             process_id=int(sys.argv[2]))

import flax.linen as nn  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import optax  # pylint: disable=g-import-not-at-top,wrong-import-position

import jaxgan  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan import parallel  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxgan.models import layers, mlp  # pylint: disable=g-import-not-at-top,wrong-import-position

STEPS, BATCH = 3, 8
K = {"mlp": 2, "dcgan": 1}  # k = 2 exercises the D loop; the DCGAN keeps its compile short


class SmallDCGANGenerator(nn.Module):
  """A DCGAN in miniature (8x8 images): dense, BN, ReLU, stride-2 transposed conv, BN, tanh."""
  latent_dim: int = 4
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, z, train: bool = True):
    x = nn.Dense(4 * 4 * 8)(z)
    x = nn.relu(layers.GeneratorNorm(axis_name=self.bn_axis)(x, None, train))
    x = layers.ConvTranspose(4, (4, 4), (2, 2))(x.reshape(-1, 4, 4, 8))
    x = nn.relu(layers.GeneratorNorm(axis_name=self.bn_axis)(x, None, train))
    return jnp.tanh(nn.Conv(1, (3, 3))(x))


class SmallDCGANDiscriminator(nn.Module):
  """Stride-2 convolutions with batch norm and leaky ReLU, then a dense logit."""
  bn_axis: str | None = None

  @nn.compact
  def __call__(self, x, train: bool = True):
    x = nn.leaky_relu(nn.Conv(4, (4, 4), (2, 2))(x), 0.2)
    x = nn.Conv(8, (4, 4), (2, 2))(x)
    x = nn.BatchNorm(use_running_average=not train, axis_name=self.bn_axis)(x)
    x = nn.leaky_relu(x, 0.2).reshape(x.shape[0], -1)
    return nn.Dense(1)(x)[:, 0]


def players(name, bn_axis):
  if name == "dcgan":
    return SmallDCGANGenerator(bn_axis=bn_axis), SmallDCGANDiscriminator(bn_axis=bn_axis)
  return mlp.MLPGenerator(latent_dim=2, width=16), mlp.MLPDiscriminator(width=16)


def data(name):
  rng = np.random.default_rng(0)
  shape = (8, 8, 1) if name == "dcgan" else (2,)
  return [rng.normal(size=(K[name], BATCH, *shape)).astype(np.float32) for _ in range(STEPS)]


def setup(name, bn_axis):
  G, D = players(name, bn_axis)
  # SGD: Adam would turn rounding-level differences of near-zero gradients into +-lr steps.
  g_tx, d_tx = optax.sgd(0.05, momentum=0.5), optax.sgd(0.1, momentum=0.5)
  x = data(name)[0][0]
  state = jax.jit(lambda: jaxgan.create_state(0, G, D, g_tx, d_tx, {"x": x}))()
  axis = parallel.DATA_AXIS if bn_axis else None
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=K[name], ema_decay=0.5,
                                axis_name=axis)
  return state, step


def host(tree):
  return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), tree)


def run_single(name):
  state, step = setup(name, None)
  step = jax.jit(step)
  metrics = []
  for x in data(name):
    state, m = step(state, {"x": x})
    metrics.append(m)
  return host(state), host(metrics)


def run_mesh(name):
  state, step = setup(name, parallel.DATA_AXIS)
  mesh = parallel.data_mesh()
  train_fn = parallel.mesh_train_fn(step, mesh)
  rep = parallel.replicated(mesh)
  state = jax.tree.map(lambda a: jax.make_array_from_callback(
      a.shape, rep, lambda index, a=np.asarray(a): a[index]), state)
  rows = parallel.process_rows(BATCH)
  metrics = []
  for x in data(name):
    batch = parallel.global_batch({"x": x[:, rows]}, mesh, BATCH)
    state, m = train_fn(state, batch)
    metrics.append(m)
  return host(state), host(metrics)


def run_pmap(name):
  state, step = setup(name, parallel.DATA_AXIS)
  n = jax.local_device_count()
  train_fn = parallel.pmap_train_fn(step)
  state = parallel.replicate(state)
  metrics = []
  for x in data(name):
    state, m = train_fn(state, parallel.split_for_pmap({"x": x}, n))
    metrics.append(jax.tree.map(lambda v: v[0], m))
  return host(jax.tree.map(lambda a: a[0], state)), host(metrics)


def save(path, results):
  flat = {}
  for key, (state, metrics) in results.items():
    for i, leaf in enumerate(jax.tree.leaves(state)):
      flat[f"{key}/state/{i}"] = leaf
    for metric in metrics[0]:
      flat[f"{key}/metric/{metric}"] = np.array([m[metric] for m in metrics])
  np.savez(path, **flat)


if __name__ == "__main__":
  results = {}
  for model in ("mlp", "dcgan"):
    if MODE == "local":
      assert jax.device_count() == 4
      results[f"{model}/single"] = run_single(model)
      results[f"{model}/mesh"] = run_mesh(model)
      results[f"{model}/pmap"] = run_pmap(model)
    else:
      assert jax.device_count() == 4 and jax.local_device_count() == 2
      results[f"{model}/processes"] = run_mesh(model)
  if MODE == "local" or jax.process_index() == 0:
    save(sys.argv[-1], results)
  if MODE != "local":
    jax.distributed.shutdown()
  os._exit(0)  # pylint: disable=protected-access
