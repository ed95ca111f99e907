"""One update of a small GAN in every form a user may wrap the step in; saves the results.

Started as a subprocess by test_step_transforms.py (2 CPU devices are fixed when JAX
starts): `python tests/step_transforms_worker.py OUT.npz`. Written as research code against
the README would be: `jaxgan.make_train_step(..., axis_name="data")` wrapped by the user.

Plain SGD on both players, so that a gradient off by a factor shows in the parameters (Adam
would hide it). Saved, each a flat vector of G's and D's parameters after the update (and
`<form>/metrics` where the form has them):
  one_device      plain jax.jit of the step made without an axis, on the global batch
  shard_map_vma   the user's jax.shard_map with check_vma=True (JAX's default)
  shard_map       the user's jax.shard_map with check_vma=False
  pmap            the user's jax.pmap (state and batch with a device axis)
  mesh_fn         jaxgan.parallel.mesh_train_fn, pmap_fn  jaxgan.parallel.pmap_train_fn
  scan, loop      two steps inside the user's lax.scan, and two calls in a Python loop
  vmap_0, vmap_1  two stacked states (seeds 0 and 1) under jax.vmap; alone_0, alone_1 each
                  by itself
"""

import sys

import jax

jax.config.update("jax_num_cpu_devices", 2)

import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import optax  # pylint: disable=wrong-import-position
from jax.sharding import Mesh, PartitionSpec as P  # pylint: disable=wrong-import-position

import jaxgan  # pylint: disable=wrong-import-position
from jaxgan import parallel  # pylint: disable=wrong-import-position
from jaxgan.models import MLPDiscriminator, MLPGenerator  # pylint: disable=wrong-import-position

K, B = 2, 16
G, D = MLPGenerator(latent_dim=2), MLPDiscriminator()
g_tx, d_tx = optax.sgd(0.05), optax.sgd(0.05)
objective = jaxgan.Objective(jaxgan.losses.get("hinge"),
                             d_regularisers=(jaxgan.regularisers.penalty("r1", 1.0),))
ring = jaxgan.data.mixtures.get("ring8")


def make(axis_name=None):
  return jaxgan.make_train_step(G, D, g_tx, d_tx, objective, d_steps=K, ema_decay=0.9,
                                axis_name=axis_name)


def flat(state) -> np.ndarray:
  leaves = jax.tree.leaves((state.g_params, state.d_params, state.g_ema))
  return np.concatenate([np.ravel(np.asarray(x)) for x in leaves])


def main(out: str):
  state = jaxgan.create_state(jax.random.key(0), G, D, g_tx, d_tx,
                              ring.sample(jax.random.key(1), (B,)), objective)
  batch = {"x": ring.sample(jax.random.key(2), (K, B))}
  results = {}

  ref, metrics = jax.jit(make())(state, batch)
  results["one_device"], results["one_device/metrics"] = flat(ref), metrics["g/grad_norm"]

  mesh = Mesh(np.array(jax.devices()[:2]), ("data",))
  for name, check in (("shard_map_vma", True), ("shard_map", False)):
    fn = jax.jit(jax.shard_map(make("data"), mesh=mesh, in_specs=(P(), P(None, "data")),
                               out_specs=(P(), P()), check_vma=check))
    new, metrics = fn(state, batch)
    results[name], results[f"{name}/metrics"] = flat(new), metrics["g/grad_norm"]

  split = parallel.split_for_pmap(batch, 2)
  new, metrics = jax.pmap(make("data"), axis_name="data", in_axes=(None, 0))(state, split)
  results["pmap"] = flat(jax.tree.map(lambda x: x[0], new))
  results["pmap/metrics"] = metrics["g/grad_norm"][0]

  new, _ = parallel.mesh_train_fn(make(parallel.DATA_AXIS), mesh)(state, batch)
  results["mesh_fn"] = flat(new)
  new, _ = parallel.pmap_train_fn(make(parallel.DATA_AXIS))(parallel.replicate(state, 2), split)
  results["pmap_fn"] = flat(jax.tree.map(lambda x: x[0], new))

  batches = {"x": ring.sample(jax.random.key(3), (2, K, B))}
  step = make()
  scanned, _ = jax.jit(lambda s, bs: jax.lax.scan(step, s, bs))(state, batches)
  looped = state
  for i in range(2):
    looped, _ = jax.jit(step)(looped, {"x": batches["x"][i]})
  results["scan"], results["loop"] = flat(scanned), flat(looped)

  other = jaxgan.create_state(jax.random.key(5), G, D, g_tx, d_tx,
                              ring.sample(jax.random.key(1), (B,)), objective)
  stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), state, other)
  vbatch = {"x": jnp.stack([batch["x"], batches["x"][0]])}
  vmapped, _ = jax.jit(jax.vmap(step))(stacked, vbatch)
  for i, (alone_state, alone_batch) in enumerate(((state, batch),
                                                  (other, {"x": batches["x"][0]}))):
    results[f"vmap_{i}"] = flat(jax.tree.map(lambda x, i=i: x[i], vmapped))
    results[f"alone_{i}"] = flat(jax.jit(step)(alone_state, alone_batch)[0])
  results["before"] = flat(state)
  np.savez(out, **{k: np.asarray(v) for k, v in results.items()})


if __name__ == "__main__":
  main(sys.argv[1])
