r"""What surviving interruptions costs: checkpoint save and restore, and the NaN check.

    python -m benchmarks.bench_checkpoint

For the ring8 MLP and the DCGAN-28 states: the time of a synchronous save, of a restore, and
of the SHA-256 inside each; then steps/s of the ring8 update with the runner's per-step
non-finite check (the host reads each step's mask one step late) against the same loop
without it, as a ratio.
"""

import tempfile
import time

import jax
import numpy as np
from absl import app, flags

from jaxgan.runner import checkpoint
from jaxgan.runner.config import Config
from jaxgan.data import mixtures
from jaxgan.state import create_state
from jaxgan.step import make_train_step
from jaxgan.data.feeds import make_mixture_train_fn
from jaxgan.runner.factories import players_and_optimizers

flags.DEFINE_integer("repeats", 5, "Saves and restores timed per state (the median is shown).")
flags.DEFINE_integer("steps", 2000, "ring8 steps per timing of the non-finite check.")
FLAGS = flags.FLAGS


def state_bytes(state) -> int:
  return sum(np.asarray(x).nbytes for x in jax.tree.leaves(state))


def time_checkpoints(name, config, data_shape, pixels):
  generator, discriminator, g_tx, d_tx = players_and_optimizers(config, data_shape, pixels=pixels)
  state = create_state(0, generator, discriminator, g_tx, d_tx,
                       np.zeros((config.run.batch_size, *data_shape), np.float32))
  saves, restores, hashes = [], [], []
  with tempfile.TemporaryDirectory() as folder:
    checkpoints = checkpoint.Checkpointer(folder, keep=2)
    for i in range(FLAGS.repeats):
      state = state.replace(step=state.step + 1)
      start = time.perf_counter()
      checkpoints.save(state, {"config": config.to_dict()})
      saves.append(time.perf_counter() - start)
      start = time.perf_counter()
      restored = checkpoints.restore(state)
      jax.block_until_ready(restored.state)
      restores.append(time.perf_counter() - start)
      start = time.perf_counter()
      checkpoint.state_digest(state)
      hashes.append(time.perf_counter() - start)
  print(f"| {name} | {state_bytes(state) / 2**20:.1f} MiB | {1e3 * np.median(saves):.0f} ms | "
        f"{1e3 * np.median(restores):.0f} ms | {1e3 * np.median(hashes):.1f} ms |")


def time_nonfinite_check():
  config = Config(dataset="ring8", batch_size=256)
  generator, discriminator, g_tx, d_tx = players_and_optimizers(config)
  state = create_state(0, generator, discriminator, g_tx, d_tx, np.zeros((256, 2), np.float32))
  step = make_train_step(generator, discriminator, g_tx, d_tx)
  train_fn = make_mixture_train_fn(step, mixtures.get("ring8"), jax.random.key(1), 1, 256)
  jax.block_until_ready(train_fn(state))

  def run(check: bool) -> float:
    s, pending = state, None
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
      s, metrics = train_fn(s)
      if check and pending is not None:
        int(pending["nonfinite"])  # the previous step's mask, as the runner reads it
      pending = metrics
    jax.block_until_ready(s)
    return FLAGS.steps / (time.perf_counter() - start)

  rates = {check: [] for check in (False, True)}
  for _ in range(3):  # interleaved, so that drifts of the machine hit both alike
    for check in (False, True):
      rates[check].append(run(check))
  plain, checked = np.median(rates[False]), np.median(rates[True])
  print(f"ring8 update, {FLAGS.steps} steps, median of 3: {plain:.0f} steps/s without the "
        f"check, {checked:.0f} with it (ratio {checked / plain:.3f})")


def main(argv):
  del argv
  print(f"devices: {jax.devices()}")
  print("| state | size | save (sync, incl. hash) | restore (incl. hash) | hash |\n"
        "| --- | --- | --- | --- | --- |")
  time_checkpoints("ring8 MLP (128 x 2)", Config(dataset="ring8", batch_size=256), (2,), False)
  time_checkpoints("DCGAN-28", Config(dataset="mnist", model="dcgan28", batch_size=64),
                   (28, 28, 1), True)
  time_nonfinite_check()


if __name__ == "__main__":
  app.run(main)
