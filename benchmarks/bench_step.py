r"""Measures step variants side by side: `python -m benchmarks.bench_step`.

Contestants run in one process, alternating A B A B ... (PROTOCOLS.md section 4); each
window times `--steps` calls after compilation and warm-up, with `block_until_ready`
before the clock stops. Prints steps/s medians, min-max, and ratios to the first
contestant; `--out` also writes the JSON.
"""

import json
import os
import statistics
import time

import jax
import jax.numpy as jnp
from absl import app, flags

import jaxgan
from benchmarks import timing
from jaxgan.runner.config import Config
from jaxgan.data import mixtures
from jaxgan.data.feeds import make_mixture_train_fn
from jaxgan.runner.factories import players_and_optimizers

flags.DEFINE_integer("batch_size", 256, "Batch size per D update.")
flags.DEFINE_integer("d_steps", 5, "k; the loop-form comparison needs k > 1.")
flags.DEFINE_integer("width", 128, "MLP width of both players.")
flags.DEFINE_integer("steps", 300, "Steps per timed window.")
flags.DEFINE_integer("windows", 7, "Timed windows per contestant.")
flags.DEFINE_string("out", None, "Optional path of a JSON file with the results.")
FLAGS = flags.FLAGS

VARIANTS = {
    "unrolled, fresh z": dict(unroll=True, reuse_fake=False),
    "scan, fresh z": dict(unroll=False, reuse_fake=False),
    "unrolled, reuse G forward": dict(unroll=True, reuse_fake=True),
}


def make_contestant(variant):
  # The runner's own composition (players, optimizers, on-device data), with this variant.
  config = Config(batch_size=FLAGS.batch_size, d_steps=FLAGS.d_steps, g_width=FLAGS.width,
                  d_width=FLAGS.width, g_lr=1e-4, d_lr=1e-4).validate()
  G, D, g_tx, d_tx = players_and_optimizers(config)
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, d_steps=config.step.d_steps, **variant)
  train_fn = make_mixture_train_fn(step, mixtures.get(config.data.dataset), jax.random.key(1),
                                   config.step.d_steps, config.run.batch_size)
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, jnp.zeros((config.run.batch_size, 2)))
  t0 = time.perf_counter()
  state = jax.block_until_ready(train_fn(state))[0]
  compile_s = time.perf_counter() - t0
  for _ in range(20):  # warm-up
    state, _ = train_fn(state)
  box = {"state": jax.block_until_ready(state)}

  def run(count):
    state = box["state"]
    for _ in range(count):
      state, metrics = train_fn(state)
    box["state"] = jax.block_until_ready(state)
    jax.block_until_ready(metrics)

  return {"run": run, "compile_s": compile_s}


def main(argv):
  del argv
  contestants = {name: make_contestant(v) for name, v in VARIANTS.items()}
  rates = timing.alternate({name: c["run"] for name, c in contestants.items()}, FLAGS.steps,
                           FLAGS.windows)
  first = statistics.median(rates[next(iter(rates))])
  print(f"MLP GAN, batch {FLAGS.batch_size}, d_steps {FLAGS.d_steps}, width {FLAGS.width}, "
        f"f32, backend {jax.default_backend()}, {os.cpu_count()} CPUs, "
        f"{FLAGS.windows} windows of {FLAGS.steps} steps")
  print("| variant | steps/s median | min-max | ratio | compile s |\n|---|---|---|---|---|")
  results = {}
  for name, r in rates.items():
    med = statistics.median(r)
    results[name] = {"median": med, "min": min(r), "max": max(r), "ratio": med / first,
                     "compile_s": contestants[name]["compile_s"]}
    print(f"| {name} | {med:.1f} | {min(r):.1f}-{max(r):.1f} | {med / first:.2f} | "
          f"{contestants[name]['compile_s']:.2f} |")
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=2)


if __name__ == "__main__":
  app.run(main)
