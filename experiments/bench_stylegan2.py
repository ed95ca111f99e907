r"""StyleGAN2-ADA's training step in the paper's unit: `python -m experiments.bench_stylegan2`.

Times the runner's compiled step (both players, lazy R1 every 16 D updates, path length every
4 G updates, ADA's pipeline at a fixed p, the EMA; the state donated) for `--resolution` in
the paper256 configuration (channel base 16384), on random images already on the device (the
feed is measured by the data benchmarks). Each timed window is 16 steps, so the lazy
regularisers take their share. Prints seconds per thousand real images (s/kimg), images/s,
the step's FLOPs (XLA's cost analysis), and model FLOPs utilisation against a large f32
matmul measured in the same process (or `--peak_tflops`, a device's nominal peak).

  python -m experiments.bench_stylegan2 --resolution=64 --batch=8 --windows=1  # CPU
  python -m experiments.bench_stylegan2 --resolution=256 --batch=64 \
      --bf16_resolutions=4 --peak_tflops=989                                   # one H200

NVIDIA's published figure for 256 px on one V100 is 21.6–24.2 s/kimg; the goal on one H200
is ≤ 3 s/kimg (issue 21).
"""

import json
import statistics
import time

import jax
from absl import app, flags, logging

import jaxgan
from experiments import timing
from jaxgan.config import Config
from jaxgan.wiring import build, objective_of

flags.DEFINE_integer("resolution", 64, "Image side (a power of two from 8).")
flags.DEFINE_integer("batch", 32, "Real images per D update.")
flags.DEFINE_integer("channel_base", 16384, "Channel base (the paper256 configuration).")
flags.DEFINE_integer("channel_max", 512, "Most channels of a layer.")
flags.DEFINE_integer("bf16_resolutions", 0, "Mixed precision: the top blocks in bfloat16.")
flags.DEFINE_float("ada_p", 0.2, "ADA's probability, fixed (its pipeline's cost is in).")
flags.DEFINE_integer("windows", 3, "Timed windows of 16 steps.")
flags.DEFINE_integer("warmup", 1, "Untimed steps after compiling (the lazy terms are branches "
                     "of the one compiled program, so nothing compiles later).")
flags.DEFINE_integer("matmul_size", 2048, "Side of the f32 matmul of the measured peak.")
flags.DEFINE_float("peak_tflops", 0.0, "A device's nominal peak TFLOP/s for MFU (0: the "
                   "measured f32 matmul).")
flags.DEFINE_string("out", None, "Optional path of a JSON file with the results.")
FLAGS = flags.FLAGS

WINDOW = 16  # steps: R1 every 16 D updates and path length every 4 G updates both fall in


def config() -> Config:
  return Config(
      dataset="array", model="stylegan2", channel_base=FLAGS.channel_base,
      channel_max=FLAGS.channel_max, bf16_resolutions=FLAGS.bf16_resolutions,
      mbstd_group=4, loss="non_saturating", penalty="r1", penalty_weight=1.0, penalty_every=16,
      pl_weight=2.0, pl_every=4, augment="ada", ada_p=FLAGS.ada_p, batch_size=FLAGS.batch,
      g_lr=0.0025, d_lr=0.0025, g_beta1=0.0, d_beta1=0.0, g_beta2=0.99, d_beta2=0.99,
      ema_half_life=10_000, num_steps=10**6).validate()


def main(argv):
  del argv
  cfg, size = config(), FLAGS.resolution
  shape = (size, size, 3)
  G, D, g_tx, d_tx = build(cfg, shape, 0, pixels=False)
  objective = objective_of(cfg.objective, cfg.horizon)
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, objective,
                                **cfg.step.settings(cfg.horizon, cfg.run.batch_size))
  batch = {"x": jax.random.uniform(jax.random.key(1), (1, FLAGS.batch, *shape), minval=-1,
                                   maxval=1)}
  state = jaxgan.create_state(0, G, D, g_tx, d_tx, batch["x"][0], objective)
  fn = jax.jit(step, donate_argnums=0)
  t0 = time.perf_counter()
  compiled = fn.lower(state, batch).compile()
  compile_s = time.perf_counter() - t0
  # One program serves every step; the lazy terms are taken inside it by `lax.cond`, so
  # its cost analysis counts both branches: an upper bound of a step's FLOPs.
  flops = (compiled.cost_analysis() or {}).get("flops", float("nan"))
  box = {"state": state}

  def run(count):
    s = box["state"]
    for _ in range(count):
      s, metrics = fn(s, batch)
    box["state"] = jax.block_until_ready(s)
    jax.block_until_ready(metrics)

  logging.info("compiled in %.0f s; %d warm-up steps", compile_s, FLAGS.warmup)
  t0 = time.perf_counter()
  run(FLAGS.warmup)
  logging.info("warm-up: %.1f s a step; timing %d windows of %d steps",
               (time.perf_counter() - t0) / max(FLAGS.warmup, 1), FLAGS.windows, WINDOW)
  rates = timing.alternate({"stylegan2": run}, WINDOW, FLAGS.windows)["stylegan2"]
  steps_per_s = statistics.median(rates)
  peak = (FLAGS.peak_tflops * 1e12 if FLAGS.peak_tflops
          else timing.matmul_flops_per_s(FLAGS.matmul_size, FLAGS.windows))
  params = [sum(a.size for a in jax.tree.leaves(tree))
            for tree in (box["state"].g_params, box["state"].d_params)]
  result = {
      "device": f"{jax.default_backend()}: {jax.devices()[0].device_kind}",
      "resolution": size, "batch": FLAGS.batch, "channel_base": FLAGS.channel_base,
      "bf16_resolutions": FLAGS.bf16_resolutions, "g_params": params[0], "d_params": params[1],
      "compile_s": round(compile_s, 1), "steps_per_s": steps_per_s,
      "images_per_s": steps_per_s * FLAGS.batch,
      "s_per_kimg": 1000.0 / (steps_per_s * FLAGS.batch),
      "step_gflops_upper": flops / 1e9, "peak_gflops": peak / 1e9,
      "peak_source": "nominal" if FLAGS.peak_tflops else "measured f32 matmul",
      "mfu_upper": flops * steps_per_s / peak, "window_rates": rates}
  print(f"StyleGAN2 {size} px, batch {FLAGS.batch}, {result['device']}: "
        f"{result['s_per_kimg']:.2f} s/kimg ({result['images_per_s']:.1f} images/s), "
        f"compile {compile_s:.0f} s, step <= {flops / 1e9:.1f} GFLOP, MFU <= "
        f"{result['mfu_upper']:.1%} of {peak / 1e9:.0f} GFLOP/s ({result['peak_source']})")
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  app.run(main)
