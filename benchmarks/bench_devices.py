r"""Steps/s against device count: `python -m benchmarks.bench_devices`.

For each device count N (simulated CPU devices by default, via
`--xla_force_host_platform_device_count`, one subprocess per N), the runner's data-parallel
step (`jaxgan.parallel.shard_step` over a mesh) runs at a fixed global batch, and the
median steps/s of `--windows` timed windows is printed beside the ratio to N = 1.
On one CPU the simulated devices share the same cores: the numbers show the cost of the
sharding and collectives, not a speed-up. Run with `--devices=` the real count on a GPU host.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags

flags.DEFINE_list("counts", ["1", "2", "4"], "Device counts to measure (simulated on CPU).")
flags.DEFINE_enum("model", "mlp", ["mlp", "dcgan28"], "Players: grid25 MLP or DCGAN-28.")
flags.DEFINE_integer("batch_size", 512, "Global batch size.")
flags.DEFINE_integer("steps", 100, "Steps per timed window.")
flags.DEFINE_integer("windows", 5, "Timed windows.")
flags.DEFINE_string("child", None, "Internal: run one measurement with this many devices.")
FLAGS = flags.FLAGS


def measure() -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import jaxgan  # pylint: disable=g-import-not-at-top
  from jaxgan import parallel  # pylint: disable=g-import-not-at-top
  from jaxgan.runner.config import Config  # pylint: disable=g-import-not-at-top
  from jaxgan.runner.factories import players_and_optimizers  # pylint: disable=g-import-not-at-top

  n = jax.device_count()
  mesh = parallel.data_mesh()
  if FLAGS.model == "mlp":
    config = Config(dataset="grid25", batch_size=FLAGS.batch_size).validate()
    shape, pixels = (2,), False
  else:
    config = Config(dataset="fashion_mnist", model="dcgan28", batch_size=FLAGS.batch_size,
                    reuse_fake=True).validate()
    shape, pixels = (28, 28, 1), True
  G, D, g_tx, d_tx = players_and_optimizers(config, shape, 0, pixels, bn_axis=parallel.DATA_AXIS)
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, axis_name=parallel.DATA_AXIS,
                                reuse_fake=config.step.reuse_fake)
  train_fn = parallel.mesh_train_fn(step, mesh)
  x = np.random.default_rng(0).normal(size=(1, FLAGS.batch_size, *shape)).astype(np.float32)
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, {"x": x[0]})
  state = parallel.replicate_on_mesh(state, mesh)
  batch = {"x": jax.device_put(x, parallel.batch_sharding(mesh))}
  state = jax.block_until_ready(train_fn(state, batch))[0]
  rates = []
  for _ in range(FLAGS.windows):
    t0 = time.perf_counter()
    for _ in range(FLAGS.steps):
      state, metrics = train_fn(state, batch)
    jax.block_until_ready((state, metrics))
    rates.append(FLAGS.steps / (time.perf_counter() - t0))
  del jnp
  return {"devices": n, "median": statistics.median(rates), "min": min(rates),
          "max": max(rates), "backend": jax.default_backend()}


def main(argv):
  del argv
  if FLAGS.child:
    print("RESULT " + json.dumps(measure()))
    return
  results = []
  for count in FLAGS.counts:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_devices", f"--child={count}",
                          f"--model={FLAGS.model}", f"--batch_size={FLAGS.batch_size}",
                          f"--steps={FLAGS.steps}", f"--windows={FLAGS.windows}"],
                         env=env, capture_output=True, text=True, check=True).stdout
    results.append(json.loads(out.split("RESULT ", 1)[1]))
  base = results[0]["median"]
  print(f"{FLAGS.model}, global batch {FLAGS.batch_size}, backend {results[0]['backend']}, "
        f"{os.cpu_count()} CPUs, {FLAGS.windows} windows of {FLAGS.steps} steps")
  print("| devices | steps/s median | min-max | ratio to first |\n|---|---|---|---|")
  for r in results:
    print(f"| {r['devices']} | {r['median']:.2f} | {r['min']:.2f}-{r['max']:.2f} | "
          f"{r['median'] / base:.2f} |")


if __name__ == "__main__":
  app.run(main)
