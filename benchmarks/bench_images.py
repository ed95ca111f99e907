r"""Measures the image path: `python -m benchmarks.bench_images`.

1. The DCGAN-28 step (PROTOCOLS.md section 3; batch 64, 1 D step, the fake batch reused
   as in the default flagfile) with its transposed convolutions computed two ways —
   sub-pixel phases (ours) and flax's dilated form — alternating A B A B in one process
   (PROTOCOLS.md section 4). Prints steps/s medians and the ratio.
   With `--layers`, each of DCGAN-28's three transposed convolutions alone: milliseconds
   of the forward pass, the kernel gradient and the input gradient, both ways.
2. The input pipeline on its own: images/s of `--data_placement=device` (a batch gathered
   by a compiled function) and `=host` (grain's feed, `--data_workers` processes, batches
   put on the device), beside the images/s that the DCGAN-28 step consumes.
"""

import os
import statistics
import time

import jax
import jax.numpy as jnp
import optax
from absl import app, flags

import jaxgan
from benchmarks import timing
from jaxgan.data import images
from jaxgan.models.dcgan import DCGAN28Discriminator, DCGAN28Generator
from jaxgan.models.layers import ConvTranspose

flags.DEFINE_string("dataset", "fashion_mnist", "Image dataset for the pipeline part.")
flags.DEFINE_string("data_dir", None, "Prepared datasets (TFDS default if unset).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("steps", 10, "Steps per timed window of the model part.")
flags.DEFINE_integer("windows", 5, "Timed windows per contestant.")
flags.DEFINE_integer("batches", 300, "Batches per timed window of the pipeline part.")
flags.DEFINE_integer("data_workers", 1, "Worker processes of the host feed.")
flags.DEFINE_bool("layers", True, "Also time each DCGAN-28 transposed convolution alone.")
FLAGS = flags.FLAGS


def _dcgan28_step(method: str):
  G, D = DCGAN28Generator(conv_transpose=method), DCGAN28Discriminator()
  tx = optax.adam(2e-4, b1=0.5)
  x = jnp.zeros((1, FLAGS.batch_size, 28, 28, 1))
  state = jaxgan.create_state(0, G, D, tx, tx, {"x": x[0]})
  step = jax.jit(jaxgan.make_train_step(G, D, tx, tx, reuse_fake=True))
  t0 = time.perf_counter()
  state = jax.block_until_ready(step(state, {"x": x}))[0]
  compile_s = time.perf_counter() - t0
  box = {"state": jax.block_until_ready(step(state, {"x": x}))[0]}  # warm-up

  def run(count):
    state = box["state"]
    for _ in range(count):
      state, metrics = step(state, {"x": x})
    box["state"] = jax.block_until_ready(state)
    jax.block_until_ready(metrics)

  return {"run": run, "compile_s": compile_s}


# DCGAN-28's transposed convolutions: (input side, in channels, out channels, stride).
_DCGAN28_LAYERS = ((7, 256, 128, 1), (7, 128, 64, 2), (14, 64, 1, 2))


def _layer_table():
  """Prints ms per call of each DCGAN-28 transposed convolution, forward and gradients."""
  print("\n| layer | method | forward ms | kernel grad ms | input grad ms |\n|---|---|---|---|---|")
  key = jax.random.key(0)
  for side, c_in, c_out, stride in _DCGAN28_LAYERS:
    x = jax.random.normal(key, (FLAGS.batch_size, side, side, c_in))
    for method in ("phases", "dilated"):
      layer = ConvTranspose(c_out, (5, 5), (stride, stride), use_bias=False, method=method)
      params = layer.init(key, x)
      loss = lambda p, v: jnp.sum(layer.apply(p, v) ** 2)
      fns = (jax.jit(layer.apply), jax.jit(jax.grad(loss)),
             jax.jit(jax.grad(loss, argnums=1)))
      ms = []
      for fn in fns:
        jax.block_until_ready(fn(params, x))
        rate = _median_rate(lambda fn=fn: fn(params, x), 5, FLAGS.windows)[0]
        ms.append(1000 / rate)
      print(f"| {side}->{side * stride}, {c_in}->{c_out} | {method} | {ms[0]:.1f} | "
            f"{ms[1]:.1f} | {ms[2]:.1f} |")


def _median_rate(fn, count, windows):
  """(median, min, max) steps/s of `fn()` called `count` times per window."""

  def run(c):
    out = None
    for _ in range(c):
      out = fn()
    jax.block_until_ready(out)

  rates = timing.alternate({"fn": run}, count, windows)["fn"]
  return statistics.median(rates), min(rates), max(rates)


def main(argv):
  del argv
  print(f"backend {jax.default_backend()}, {os.cpu_count()} CPUs, f32, batch {FLAGS.batch_size}")
  # --- 1. The model: transposed convolution as phases vs dilated ------------------
  contestants = {m: _dcgan28_step(m) for m in ("phases", "dilated")}
  rates = timing.alternate({m: c["run"] for m, c in contestants.items()}, FLAGS.steps,
                           FLAGS.windows)
  base = statistics.median(rates["phases"])
  print(f"\nDCGAN-28 step, {FLAGS.windows} windows of {FLAGS.steps} steps")
  print("| transposed conv | steps/s median | min-max | ratio to phases | compile s |")
  print("|---|---|---|---|---|")
  for name, r in rates.items():
    med = statistics.median(r)
    print(f"| {name} | {med:.2f} | {min(r):.2f}-{max(r):.2f} | {med / base:.2f} | "
          f"{contestants[name]['compile_s']:.1f} |")
  step_images = base * FLAGS.batch_size
  if FLAGS.layers:
    _layer_table()

  # --- 2. The input pipeline alone ---------------------------------------------------
  data = images.load(FLAGS.dataset, data_dir=FLAGS.data_dir)
  rates = timing.feed_rates(data, FLAGS.batch_size, FLAGS.batches, FLAGS.windows,
                            FLAGS.data_workers)
  print(f"\nInput pipeline, {FLAGS.dataset} ({data.num_examples} images), batch "
        f"{FLAGS.batch_size}")
  print("| feed | images/s median | min-max | ratio to what the step consumes |")
  print("|---|---|---|---|")
  print(f"| DCGAN-28 step consumes | {step_images:.0f} | | 1.00 |")
  for name, r in rates.items():
    med = statistics.median(r)
    print(f"| {name} | {med:.0f} | {min(r):.0f}-{max(r):.0f} | {med / step_images:.0f} |")

if __name__ == "__main__":
  app.run(main)
