"""The host feed, through grain: each step's batch read and decoded in worker processes.

Element s of the grain dataset is the whole batch of step s (`StepBatch`), so the dataset is
random access by step: a resumed run rebuilds it at its checkpoint's step, whatever the
number of workers, and an uninterrupted run and a resumed one see the same batches. The
batch of a step follows the order `jaxgan.data.images` defines (`epoch_order`), which
`DeviceData` follows too: the placement never changes what is trained.

    MapDataset.range(start, ...)      steps
      .map(StepBatch)                 indices of the step's examples, read and decoded
      .to_iter_dataset()              (in `--data_workers` spawned processes: mp_prefetch)
      .map(place)                     onto the device (asynchronously)

With several processes each reads only its own rows of every batch (`rows`) and `place`
assembles the global batch (`jaxgan.parallel.global_batch`).
"""

import os

import numpy as np

from jaxgan.data.image_data import ImageData
from jaxgan.data.readers import DataError

_LAST_STEP = 2**62  # the dataset's end: runs stop long before


def epoch_order(seed: tuple[int, ...], epoch: int, num_examples: int) -> np.ndarray:
  """Returns the order of the examples in `epoch`, an int32 permutation fixed by `seed`.

  NumPy's PCG64 seeded by `SeedSequence((*seed, epoch))`: the worker processes compute it
  without JAX, and `DeviceData` takes the same one.
  """
  rng = np.random.default_rng([*seed, epoch])
  return rng.permutation(num_examples).astype(np.int32)


def steps_per_epoch(num_examples: int, samples_per_step: int) -> int:
  """Returns N // (k*B), or raises if the dataset cannot fill one step."""
  if num_examples < samples_per_step:
    raise DataError(f"the dataset has {num_examples} examples, fewer than the "
                    f"{samples_per_step} (d_steps x batch_size) one step needs")
  return num_examples // samples_per_step


def default_workers() -> int:
  """The worker processes `--data_workers=-1` means: the cores but one, 1 to 8."""
  return max(1, min(8, (os.cpu_count() or 2) - 1))


class StepBatch:
  """Step -> its batch `{"step", "x" (k, R, ...), "y" (k, R) if labelled}` (numpy, uint8 or
  float as stored), R the `rows` of the B axis this process reads. Picklable: the worker
  processes run it."""

  def __init__(self, data: ImageData, seed: tuple[int, ...], d_steps: int, batch_size: int,
               rows: slice = slice(None)):
    self.data, self.seed, self.rows = data, tuple(int(s) for s in seed), rows
    self.shape, self.per_step = (d_steps, batch_size), d_steps * batch_size
    self.per_epoch = steps_per_epoch(data.num_examples, self.per_step)
    self._epoch, self._order = -1, None

  def indices(self, step: int) -> np.ndarray:
    """Returns the example indices of `step`, (k, R)."""
    epoch, within = divmod(int(step), self.per_epoch)
    if epoch != self._epoch:
      self._epoch, self._order = epoch, epoch_order(self.seed, epoch, self.data.num_examples)
    idx = self._order[within * self.per_step:(within + 1) * self.per_step]
    return idx.reshape(self.shape)[:, self.rows]

  def __call__(self, step: int) -> dict:
    idx = self.indices(step)
    images, labels = self.data.read(idx.reshape(-1))
    out = {"step": int(step), "x": images.reshape(*idx.shape, *images.shape[1:])}
    if labels is not None:
      out["y"] = labels.reshape(idx.shape)
    return out


def _grain():
  """Returns grain, imported on first use (0.6 s: only runs that feed from the host pay it)."""
  import grain  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():  # grain's workers read its absl flags (library use, tests)
    flags.FLAGS.mark_as_parsed()
  return grain


class _Chunk:
  """Chunk i -> the examples i*size ... of `data` (picklable, for the worker processes)."""

  def __init__(self, data: ImageData, size: int):
    self.data, self.size = data, size

  def __call__(self, i: int):
    return self.data.read(range(i * self.size, min((i + 1) * self.size, self.data.num_examples)))


def read_all(data: ImageData, workers: int = 0, chunk: int = 1024):
  """Returns every example as `(images (N, ...), labels (N,) or None)`, decoded by `workers`
  grain processes in chunks (0: in this process); the same arrays either way."""
  if workers <= 0:
    return data.read_all(chunk)
  grain = _grain()
  chunks = -(-data.num_examples // chunk)
  dataset = grain.MapDataset.range(chunks).map(_Chunk(data, chunk)).to_iter_dataset(
      grain.ReadOptions(num_threads=1, prefetch_buffer_size=2)).mp_prefetch(
          grain.MultiprocessingOptions(num_workers=min(workers, chunks)))
  iterator = iter(dataset)
  try:  # concatenating copies the parts out of grain's shared memory
    return data.joined(iterator)
  finally:
    iterator.close()


class HostFeed:
  """Iterating yields `(step, batch on the device)` from `start_step` on.

  `workers` processes read and decode (0: a thread of this process does); `prefetch`
  batches wait in each worker's buffer. An error while reading is raised here, in
  the consumer. `close()` stops the workers.
  """

  def __init__(self, data: ImageData, seed: tuple[int, ...], d_steps: int, batch_size: int,
               *, start_step: int = 0, workers: int = 0, prefetch: int = 2,
               rows: slice = slice(None), place=None):
    grain = _grain()
    steps = grain.MapDataset.range(start_step, _LAST_STEP).map(
        StepBatch(data, seed, d_steps, batch_size, rows))
    dataset = steps.to_iter_dataset(
        grain.ReadOptions(num_threads=1, prefetch_buffer_size=max(prefetch, 1)))
    if workers > 0:
      dataset = dataset.mp_prefetch(grain.MultiprocessingOptions(
          num_workers=workers, per_worker_buffer_size=max(prefetch, 1)))
    if place is not None:  # asynchronous: the copy overlaps the step it waits for
      # A worker's batch is copied out of grain's shared memory first: on the CPU
      # `device_put` may alias a NumPy buffer, and an aliased block cannot be unlinked
      # when the feed closes.
      own = (lambda v: np.array(v, copy=True)) if workers > 0 else (lambda v: v)
      dataset = dataset.map(lambda batch: {"step": batch["step"], **place(
          {k: own(v) for k, v in batch.items() if k != "step"})})
    self._iterator = iter(dataset)

  def __iter__(self):
    return self

  def __next__(self):
    batch = dict(next(self._iterator))
    return batch.pop("step"), batch

  def close(self) -> None:
    close = getattr(self._iterator, "close", None)
    if close is not None:
      close()
