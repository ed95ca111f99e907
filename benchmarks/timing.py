"""Timing helpers shared by the benchmarks (PROTOCOLS.md section 4).

A contestant is a function `run(count)` that performs `count` steps and returns only once
their results exist (JAX contestants end with `jax.block_until_ready`). Contestants of one
comparison run in one process and alternate A B A B ..., so that a slow minute of a noisy
machine falls on all of them.
"""

import statistics
import time
from typing import Callable

import jax
import numpy as np

import jaxgan
from jaxgan.runner import config as config_lib
from jaxgan.runner.config import Config
from jaxgan.data import images, mixtures, pipeline, stacked, transforms
from jaxgan.data.feeds import make_device_train_fn, make_mixture_train_fn
from jaxgan.runner.factories import players_and_optimizers, objective_of


def synthetic_images(section: config_lib.DataSettings, examples: int, seed: int = 0
                     ) -> images.ImageData:
  """Returns `examples` random uint8 images as the run would see `section`'s dataset: a
  builder's shape and classes (a stacked set stacked from such a base), `image_folder` at
  `image_size` with `image_channels`, then `mirror` and `pad_to`: a step's cost without the
  data's files."""
  name = stacked.NAMES.get(section.dataset, section.dataset)
  if name in images.BUILDERS:
    builder = images.BUILDERS[name]
    shape, class_names = builder.IMAGE_SHAPE, builder.CLASS_NAMES
  elif name == "image_folder":
    shape, class_names = (section.image_size, section.image_size, section.image_channels), ()
  else:
    raise ValueError(f"dataset={section.dataset!r} has no known image shape; synthetic images "
                     f"cover {', '.join([*images.BUILDERS, *stacked.NAMES, 'image_folder'])}")
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (examples, *shape), np.uint8)
  labels = rng.integers(0, max(len(class_names), 1), examples)
  source = [{"image": p, "label": int(y)} if class_names else {"image": p}
            for p, y in zip(pixels, labels)]
  data = images.ImageData(name, source, examples, shape, np.dtype(np.uint8), class_names,
                          variant="synthetic")
  data = stacked.stacked(section.dataset, data) if section.dataset in stacked.NAMES else data
  data = transforms.mirrored(data) if section.mirror else data
  return transforms.padded(data, section.pad_to) if section.pad_to else data


def rate(run: Callable[[int], object], count: int) -> float:
  """Returns steps/s of one timed window of `count` steps."""
  t0 = time.perf_counter()
  run(count)
  return count / (time.perf_counter() - t0)


def alternate(contestants: dict[str, Callable[[int], object]], count: int,
              windows: int) -> dict[str, list[float]]:
  """Returns each contestant's steps/s over `windows` windows, taken in turns."""
  rates = {name: [] for name in contestants}
  for _ in range(windows):
    for name, run in contestants.items():
      rates[name].append(rate(run, count))
  return rates


def summarise(rates: dict[str, list[float]], baseline: str | None = None) -> dict[str, dict]:
  """Returns {name: {median, min, max, ratio}}; ratios are of medians, to `baseline`."""
  medians = {name: statistics.median(r) for name, r in rates.items()}
  base = medians[baseline if baseline is not None else next(iter(rates))]
  return {name: {"median": medians[name], "min": min(r), "max": max(r),
                 "ratio": medians[name] / base, "windows": r}
          for name, r in rates.items()}


def feed_rates(data: images.ImageData, batch_size: int, count: int,
               windows: int, workers: int = 0) -> dict[str, list[float]]:
  """Returns images/s of the two feeds of the runner, each alone, taken in turns.

  "device feed": the whole set on the device, a batch gathered by a compiled function
  (`--data_placement=device`); "host feed": grain's feed with `workers` processes, batches
  put on the device (`=host`).
  """
  key = jax.random.key(0)
  device = images.DeviceData(data, key, 1, batch_size)
  gather = jax.jit(lambda step, perm: images.scale_pixels(device.batch(step, perm)["x"]))
  counter = iter(range(10**9))

  def device_run(c):
    for _ in range(c):
      step = next(counter)
      out = gather(step, device.permutation(step))
    jax.block_until_ready(out)

  host = pipeline.HostFeed(data, images.key_seed(key), 1, batch_size, workers=workers,
                           place=jax.device_put)
  next(host)

  def host_run(c):
    for _ in range(c):
      jax.block_until_ready(next(host)[1]["x"])

  device_run(1)
  try:
    rates = alternate({"device feed": device_run, "host feed": host_run}, count, windows)
  finally:
    host.close()
  return {name: [r * batch_size for r in rs] for name, rs in rates.items()}


def matmul_flops_per_s(n: int, windows: int) -> float:
  """Returns the median FLOP/s of an n x n f32 matmul (2 n^3 FLOPs), jitted: the machine's
  ceiling that model FLOPs utilisation is measured against."""
  a = jax.random.normal(jax.random.key(0), (n, n))
  f = jax.jit(lambda a, b: a @ b)
  jax.block_until_ready(f(a, a))
  count = max(3, int(2e10 / (2 * n ** 3)))  # >= ~20 GFLOP per window
  rates = alternate({"matmul": lambda c: jax.block_until_ready(
      [f(a, a) for _ in range(c)])}, count, windows)["matmul"]
  return float(np.median(rates)) * 2 * n ** 3


def jaxgan_contestant(config: Config, data=None, *, donate=True, steps_per_call=1,
                      scan=False, **overrides):
  """Returns {run, compile_s, flops, compiled}: the runner's train function, timed by
  `run(count)`, and its compiled program (for `benchmarks.profile_step`).

  `steps_per_call` > 1 compiles that many steps into one call: the runner's unrolled call
  (`--steps_per_call`), or a `lax.scan` of its one step. `donate`: the state's buffers are
  donated to the call, as the runner does.
  """
  settings = {**config.step.settings(config.horizon, config.run.batch_size), **overrides}
  unrolled = 1 if scan else steps_per_call  # the runner's own multi-step call
  if config.data.is_mixture:
    G, D, g_tx, d_tx = players_and_optimizers(config)
    objective = objective_of(config.objective, config.horizon)
    step = jaxgan.make_train_step(G, D, g_tx, d_tx, objective, **settings)
    fn = make_mixture_train_fn(step, mixtures.get(config.data.dataset), jax.random.key(1),
                               config.step.d_steps, config.run.batch_size, unrolled,
                               donate=donate)
    sample = {"x": np.zeros((config.run.batch_size, 2), np.float32)}
    perm_of = lambda i: ()
  else:
    G, D, g_tx, d_tx = players_and_optimizers(config, data.image_shape, data.num_classes,
                                              pixels=True)
    objective = objective_of(config.objective, config.horizon)
    step = jaxgan.make_train_step(G, D, g_tx, d_tx, objective, **settings)
    device_data = images.DeviceData(data, jax.random.key(1), config.step.d_steps,
                                    config.run.batch_size)
    fn = make_device_train_fn(step, device_data, donate=donate, steps_per_call=unrolled)
    sample = {"x": np.zeros((config.run.batch_size, *data.image_shape), np.float32)}
    perm_of = lambda i: (device_data.permutation(i) if unrolled == 1
                         else device_data.permutations(i, unrolled),)
  if scan and steps_per_call > 1:
    one = fn.__wrapped__
    fn = jax.jit(lambda state, *perm: jax.lax.scan(lambda s, _: one(s, *perm), state, None,
                                                   length=steps_per_call),
                 donate_argnums=(0,) if donate else ())
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, sample, objective)
  args = perm_of(0)
  t0 = time.perf_counter()
  compiled = fn.lower(state, *args).compile()
  compile_s = time.perf_counter() - t0
  flops = (compiled.cost_analysis() or {}).get("flops", float("nan")) / steps_per_call
  box = {"state": jax.block_until_ready(fn(state, *args)[0])}
  box["state"] = jax.block_until_ready(fn(box["state"], *args)[0])  # warm-up

  def run(count):
    state = box["state"]
    for _ in range(max(1, count // steps_per_call)):
      state, metrics = fn(state, *args)
    box["state"] = jax.block_until_ready(state)
    jax.block_until_ready(metrics)

  return {"run": run, "compile_s": compile_s, "flops": flops, "compiled": compiled}
