"""Data parallelism: the step over a device mesh (the runner's way) or under `jax.pmap`.

Both wrap the same `make_train_step(..., axis_name=DATA_AXIS)`: every device holds the whole
state and its slice of the global batch (axis 1 of `batch["x"]`, shape (k, B, ...)); the step
averages gradients, metrics and batch statistics over the axis, so the state stays
replicated and N devices compute the update one device computes on the global batch.

- `mesh_train_fn`: `jax.jit` of `jax.shard_map` over a 1-D mesh named `data`. Works across
  hosts: the mesh spans every process's devices, and each process supplies only its rows
  of the batch (`global_batch`).
- `pmap_train_fn`: the classic form; the state carries a leading device axis
  (`replicate`), and so does the batch (`split_for_pmap`). Single host only.
"""

from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def varying_axes(x) -> frozenset:
  """The mesh axes `x` varies over inside `shard_map` with `check_vma=True` (JAX's default);
  empty where JAX does not track it (`check_vma=False`, `pmap`) or outside any map."""
  aval = jax.typeof(x)
  vma = getattr(aval, "vma", None)  # the documented name
  if vma is None:  # jax 0.10 keeps it on the aval's manual axis type
    vma = getattr(getattr(aval, "mat", None), "varying", None)
  return frozenset(vma or ())


class Devices(NamedTuple):
  """The data-parallel axis (None: one device): averaging, keys and noise per device."""
  axis_name: str | None = None
  parts: int = 1  # micro-batch parts of an update: `total` counts the whole minibatch

  def mean(self, tree):
    return tree if self.axis_name is None else jax.lax.pmean(tree, self.axis_name)

  def mean_grads(self, grads):
    """Returns the mean over devices of each device's gradient of its own mean cost, with
    respect to parameters every device holds alike, however the step is mapped.

    Under `shard_map` with `check_vma=True` (JAX's default) such parameters are invariant
    across the axis, and differentiating them already sums the devices' gradients (the
    transpose of their implicit broadcast to each device is a sum): that sum is divided by
    the device count; averaging it again would make it N times too large. Under `pmap` or
    `check_vma=False` each device holds its own gradient, and they are averaged (`pmean`).
    """
    if self.axis_name is None:
      return grads
    axis = self.axis_name
    if axis not in varying_axes(jax.lax.axis_index(axis)):  # not tracked: pmap, check_vma off
      return jax.lax.pmean(grads, axis)
    n = jax.lax.axis_size(axis)
    return jax.tree.map(lambda g: jax.lax.pmean(g, axis) if axis in varying_axes(g) else g / n,
                        grads)

  def total(self, n: int):
    """Returns n times the number of devices and of micro-batch parts (a global count from
    a per-device, per-part one)."""
    n = n * self.parts
    return n if self.axis_name is None else n * jax.lax.axis_size(self.axis_name)

  def key(self, key):
    if self.axis_name is None:
      return key
    return jax.random.fold_in(key, jax.lax.axis_index(self.axis_name))

  def noise(self, key, batch_size: int, latent_dim: int, dtype) -> jax.Array:
    """Returns this device's z: its own slice of the global batch's draw."""
    if self.axis_name is None:
      return jax.random.normal(key, (batch_size, latent_dim), dtype)
    devices = jax.lax.axis_size(self.axis_name)
    z = jax.random.normal(key, (devices * batch_size, latent_dim), dtype)
    return jax.lax.dynamic_slice_in_dim(z, jax.lax.axis_index(self.axis_name) * batch_size,
                                        batch_size)



def data_mesh(devices=None) -> Mesh:
  """Returns a 1-D mesh named `data` over `devices` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else list(devices)
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def check_batch(batch_size: int, num_devices: int) -> int:
  """Returns the per-device batch, or raises if `batch_size` does not divide evenly."""
  if batch_size % num_devices:
    lower = batch_size // num_devices * num_devices
    raise ValueError(f"batch_size={batch_size} does not divide across {num_devices} devices; "
                     f"use a multiple of {num_devices} (for example {lower or num_devices} "
                     f"or {lower + num_devices})")
  return batch_size // num_devices


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Returns the sharding of a (k, B, ...) batch: B split over the `data` axis."""
  return NamedSharding(mesh, P(None, DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def shard_step(train_step, mesh: Mesh):
  """Returns `train_step` (made with `axis_name=DATA_AXIS`) mapped over the mesh: each device
  runs it on its slice of the batch, the state replicated. Trace it inside `jax.jit`."""
  # check_vma=False, as under pmap. The step is right either way (`Devices.mean_grads`: with
  # the check on, differentiating replicated parameters already sums over devices, and the
  # step divides that sum instead of averaging it again); tests/test_step_transforms.py.
  return jax.shard_map(train_step, mesh=mesh, in_specs=(P(), P(None, DATA_AXIS)),
                       out_specs=(P(), P()), check_vma=False)


def mesh_train_fn(train_step, mesh: Mesh):
  """Returns jitted `train_fn(state, batch)`: `shard_step` compiled as one program."""
  return jax.jit(shard_step(train_step, mesh))


def replicate_on_mesh(tree, mesh: Mesh):
  """Returns `tree` as global arrays replicated over the mesh (every process passes the same
  values, as a same-seed `create_state` gives)."""
  sharding = replicated(mesh)
  return jax.tree.map(lambda a: jax.make_array_from_callback(
      np.shape(a), sharding, lambda index, a=np.asarray(a): a[index]), tree)


def to_host(tree):
  """Returns numpy copies of (replicated) arrays, also where they span other processes."""
  def fetch(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(x.addressable_data(0))
    return np.asarray(x)
  return jax.tree.map(fetch, tree)


def pmap_train_fn(train_step):
  """Returns `jax.pmap(train_step)` over `DATA_AXIS` (state and batch with a device axis)."""
  return jax.pmap(train_step, axis_name=DATA_AXIS)


def replicate(tree, num_devices: int | None = None):
  """Returns `tree` with a leading axis of one copy per local device, as pmap takes it."""
  n = jax.local_device_count() if num_devices is None else num_devices
  return jax.tree.map(lambda x: np.broadcast_to(np.asarray(x), (n, *np.shape(x))), tree)


def split_for_pmap(batch, num_devices: int):
  """Returns a (k, B, ...) batch as (devices, k, B / devices, ...)."""
  def split(x):
    check_batch(x.shape[1], num_devices)
    x = x.reshape(x.shape[0], num_devices, x.shape[1] // num_devices, *x.shape[2:])
    return np.moveaxis(np.asarray(x), 1, 0)
  return jax.tree.map(split, batch)


def process_rows(batch_size: int) -> slice:
  """Returns the rows of a global batch that this process supplies (processes in order)."""
  per_process = check_batch(batch_size, jax.process_count())
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def global_batch(local_batch: Any, mesh: Mesh, batch_size: int):
  """Returns the global (k, B, ...) arrays from this process's rows `process_rows(B)`."""
  sharding = batch_sharding(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(
          sharding, x, (x.shape[0], batch_size, *x.shape[2:])), local_batch)
