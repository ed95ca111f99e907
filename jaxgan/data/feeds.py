"""The compiled update with its data feed: where each step's real minibatches come from.

Three feeds, one per kind of data, each a jitted function of the state:

- 2D mixtures are sampled inside the compiled step from `(data_key, step)`;
- device-resident images (the whole set on the accelerator) are gathered inside it by the
  epoch's permutation;
- host-fed images arrive as uint8 batches read ahead by grain's worker processes
  (`pipeline.HostFeed`).

All depend only on the seed and the step, so a resumed run sees the same minibatches.
`make_advance` picks the feed and returns `advance(state, step)`, the call that takes the
steps from `step` on.
"""

from typing import Callable

import jax
import jax.numpy as jnp
from absl import logging

from jaxgan import parallel
from jaxgan.data import images, mixtures, pipeline
from jaxgan.errors import ConfigError
from jaxgan.state import GANState


def make_mixture_train_fn(train_step, mixture: mixtures.Mixture, data_key: jax.Array,
                          d_steps: int, batch_size: int, steps_per_call: int = 1,
                          donate: bool = False):
  """Returns a jitted `train_fn(state) -> (state, metrics)` that draws its batch on the device.

  The batch is sampled inside the same compiled program as the step, and depends only on
  (data_key, state.step): a resumed run sees the same minibatches. With `steps_per_call`
  n > 1 one call takes n steps, written out one after another in the program (a `lax.scan`
  is slower on CPU; BUILD_NOTES.md), and each metric gains a leading axis of n, one value
  per step. XLA then fuses across steps, so the numbers match n calls of one step to
  rounding (~1e-8), not bit for bit. With `donate` the state passed in is donated (see
  `_jit`).
  """

  def one_step(state: GANState):
    x = mixture.sample(jax.random.fold_in(data_key, state.step), (d_steps, batch_size))
    return train_step(state, {"x": x})

  return _jit(donate)(_unrolled(one_step, steps_per_call))


def _unrolled(one_step, steps_per_call: int):
  """Returns `fn(state, *args)`: `steps_per_call` calls of `one_step(state, *args)` written
  out one after another, each metric stacked over them (as is, for one step)."""
  if steps_per_call == 1:
    return one_step

  def fn(state: GANState, *args):
    per_step = []
    for _ in range(steps_per_call):
      state, metrics = one_step(state, *args)
      per_step.append(metrics)
    return state, jax.tree.map(lambda *m: jnp.stack(m), *per_step)

  return fn


def _jit(donate: bool):
  """`jax.jit`, donating the state (argument 0) when `donate`: XLA then writes the new
  state into the old one's buffers instead of allocating a second copy, and the caller's
  old state is deleted (reading it raises). The runner donates (BUILD_NOTES.md, "Speed"
  has what it gains)."""
  return lambda fn: jax.jit(fn, donate_argnums=(0,) if donate else ())


def _prepare(batch: dict[str, jax.Array]) -> dict[str, jax.Array]:
  return {**batch, "x": images.scale_pixels(batch["x"])}


def make_device_train_fn(train_step, data: images.DeviceData, donate: bool = False,
                         steps_per_call: int = 1):
  """Returns a jitted `train_fn(state, perm)` gathering its batch from device-resident data
  (`donate`: see `_jit`).

  `perm` is `data.permutation(step)`, the order of the epoch of the step. With
  `steps_per_call` n > 1 one call takes n steps (as `make_mixture_train_fn` does, metrics
  stacked), and `perm` is `data.permutations(step, n)`: the orders of the epochs of the
  call's first and last steps, so a call may cross one epoch's end. An n over the steps of
  one epoch raises `ConfigError` (a `ValueError`).
  """
  if not 1 <= steps_per_call <= data.per_epoch:
    raise ConfigError(f"steps_per_call={steps_per_call} is not accepted: one epoch of this "
                      f"dataset holds {data.per_epoch} steps, and a call may span two epochs "
                      f"at most; give at most {data.per_epoch}")

  def one_step(state: GANState, perm: jax.Array):
    return train_step(state, _prepare(data.batch(state.step, perm)))

  if steps_per_call == 1:
    return _jit(donate)(one_step)

  @_jit(donate)
  def train_fn(state: GANState, perms: jax.Array):
    first_epoch = state.step // data.per_epoch
    in_call = lambda state, perms: one_step(
        state, perms[state.step // data.per_epoch - first_epoch])
    return _unrolled(in_call, steps_per_call)(state, perms)

  return train_fn


def device_advance(train_fn, data: images.DeviceData, steps_per_call: int = 1):
  """Returns `advance(state, step)`: the call of `train_fn` (`make_device_train_fn`'s, with
  the same `steps_per_call`) that takes the steps from `step` (counted from 0) on."""
  if steps_per_call == 1:
    return lambda state, step: train_fn(state, data.permutation(step))
  return lambda state, step: train_fn(state, data.permutations(step, steps_per_call))


def make_host_train_fn(train_step, donate: bool = False):
  """Returns a jitted `train_fn(state, batch)` for batches fed from the host (uint8 pixels;
  `donate`: see `_jit`)."""
  return _jit(donate)(lambda state, batch: train_step(state, _prepare(batch)))


class Feed:
  """`advance(state, step)`: the compiled call taking the steps from `step` (counted from 0) on.

  `stats` are the (mean, std) of up to 10,000 real images in [-1, 1] (None for mixtures),
  for the sample grids; `close()` stops a host feed's worker processes.
  """

  def __init__(self, advance: Callable, stats=None, reader=None):
    self.advance, self.stats, self._reader = advance, stats, reader

  def close(self) -> None:
    if self._reader is not None:
      self._reader.close()


def make_feed(train_step, data, data_key: jax.Array, d_steps: int, batch_size: int, *,
              steps_per_call: int = 1, placement: str = "device", mesh=None,
              start_step: int = 0, workers: int = 0, donate: bool = True) -> Feed:
  """Returns the feed of `data` (a `mixtures.Mixture` or an `images.ImageData`) for the step.

  Images stay on the device (`placement="device"`, one process) or come from the host
  (otherwise; each process reads its own rows of every batch, `workers` grain processes
  decoding them, 0 for a thread of this one). Several steps per call need the batches on
  the device: asking otherwise raises `ConfigError`.
  """
  n = steps_per_call
  if isinstance(data, mixtures.Mixture):
    train_fn = make_mixture_train_fn(train_step, data, data_key, d_steps, batch_size, n,
                                     donate=donate)
    return Feed(lambda state, step: train_fn(state))
  multi_process = jax.process_count() > 1
  if placement == "device" and not multi_process:
    device_data = images.DeviceData(
        data, data_key, d_steps, batch_size,
        sharding=parallel.replicated(mesh) if mesh is not None else None,
        workers=workers if data.decodes else 0)
    advance = device_advance(
        make_device_train_fn(train_step, device_data, donate=donate, steps_per_call=n),
        device_data, n)
    return Feed(advance, _stats(images.scale_pixels(device_data.images[:10_000])))
  if n > 1:
    raise ConfigError(f"steps_per_call={n} needs the batches on the device: one process "
                      f"with --data_placement=device (the host feed gives one batch per "
                      f"call); give steps_per_call=1")
  place = jax.device_put
  if mesh is not None:
    place = lambda batch: parallel.global_batch(batch, mesh, batch_size)
  if multi_process and placement == "device":
    logging.info("several processes: each reads its own rows of every batch from the host")
  reader = pipeline.HostFeed(data, images.key_seed(data_key), d_steps, batch_size,
                             start_step=start_step, workers=workers,
                             rows=parallel.process_rows(batch_size), place=place)
  train_fn = make_host_train_fn(train_step, donate=donate)

  def advance(state, step):
    feed_step, batch = next(reader)
    if feed_step != step:  # the feed and the loop must agree on the batch order
      raise RuntimeError(f"the host feed gave the batch of step {feed_step} at step {step}")
    return train_fn(state, batch)

  stats = images.scale_pixels(data.read(range(min(10_000, data.num_examples)))[0])
  return Feed(advance, _stats(stats), reader)


def _stats(pixels) -> tuple[float, float]:
  return float(pixels.mean()), float(pixels.std())
