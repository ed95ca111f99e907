r"""A flagfile's training step, timed in the papers' units: `python -m benchmarks.bench_flagfile
--flagfile=experiments/configs/ffhq256_stylegan2_ada.flags`.

Times the runner's compiled train function (`timing.jaxgan_contestant`: the whole set on the
device, the state donated, the EMA and the non-finite checks in) for the flagfile's model,
objective, schedules and batch, on random images shaped as its dataset (`image_folder` at
`--image_size`), so no dataset files are needed. Flags after `--flagfile` override it. Each
timed window is 16 steps, so lazy regularisers (R1 every 16 D updates, path length every 4 G
updates) take their share. Prints seconds per thousand real images (s/kimg, StyleGAN's
unit), images/s, the step's FLOPs by XLA's cost analysis (an upper bound where a lazy term
is a `lax.cond`, whose both branches count), model FLOPs utilisation against `--peak_tflops`
(a device's nominal peak) or a large f32 matmul measured in the same process, and the time
to `--images` real images (default: the flagfile's whole run). `--profile=N` traces N more
steps and prints their time per XLA operation (`benchmarks/profile_step.py`).

  # issue 21: StyleGAN2-ADA at 256 px on one H200 (NVIDIA: 21.6-24.2 s/kimg on one V100)
  python -m benchmarks.bench_flagfile --flagfile=experiments/configs/ffhq256_stylegan2_ada.flags \
      --peak_tflops=989
  # issue 20: R3GAN's CIFAR-10 setting at the paper's batch, to the paper's 250M images
  python -m benchmarks.bench_flagfile --flagfile=experiments/configs/cifar10_r3gan.flags \
      --images=250000000 --peak_tflops=989
  # the CPU's figure at 64 px, with the CPU flagfile's players
  python -m benchmarks.bench_flagfile \
      --flagfile=experiments/configs/fashion_mnist_stylegan2_ada.flags --pad_to=64 --windows=1
"""

import json
import statistics

import jax
from absl import app, flags, logging

from benchmarks import profile_step, timing
from experiments import run

WINDOW = 16  # steps: R1 every 16 D updates and path length every 4 G updates both fall in

flags.DEFINE_integer("windows", 3, "Timed windows of 16 steps.")
flags.DEFINE_integer("examples", 512, "Random images on the device to draw batches from.")
flags.DEFINE_float("images", 0, "Real images to project the time to (0: the run's own).")
flags.DEFINE_integer("matmul_size", 2048, "Side of the f32 matmul of the measured peak.")
flags.DEFINE_float("peak_tflops", 0.0, "A device's nominal peak TFLOP/s for MFU (0: the "
                   "measured f32 matmul).")
flags.DEFINE_string("out", None, "Optional path of a JSON file with the results.")
flags.DEFINE_integer("profile", 0, "Also trace this many steps and print the step's time per "
                     "XLA operation (benchmarks/profile_step.py); 0: no trace.", lower_bound=0)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  config = run.config_from_flags()
  data = timing.synthetic_images(config.data, FLAGS.examples)
  contestant = timing.jaxgan_contestant(config, data)  # compiled, and two steps taken
  logging.info("compiled in %.0f s; timing %d windows of %d steps", contestant["compile_s"],
               FLAGS.windows, WINDOW)
  rates = timing.alternate({"step": contestant["run"]}, WINDOW, FLAGS.windows)["step"]
  steps_per_s = statistics.median(rates)
  real_per_step = config.run.batch_size * config.step.d_steps
  images_per_s = steps_per_s * real_per_step
  peak = (FLAGS.peak_tflops * 1e12 if FLAGS.peak_tflops
          else timing.matmul_flops_per_s(FLAGS.matmul_size, FLAGS.windows))
  target = FLAGS.images or config.run.num_steps * real_per_step
  kind = jax.devices()[0].device_kind
  result = {
      "device": kind if kind.lower() == jax.default_backend() else f"{jax.default_backend()}: "
                f"{kind}",
      "model": config.players.model, "image_shape": list(data.image_shape),
      "classes": data.num_classes, "batch": config.run.batch_size,
      "compile_s": round(contestant["compile_s"], 1), "steps_per_s": steps_per_s,
      "images_per_s": images_per_s, "s_per_kimg": 1000.0 / images_per_s,
      "step_gflops_upper": contestant["flops"] / 1e9, "peak_gflops": peak / 1e9,
      "peak_source": "nominal" if FLAGS.peak_tflops else "measured f32 matmul",
      "mfu_upper": contestant["flops"] * steps_per_s / peak, "images": target,
      "hours_to_images": target / images_per_s / 3600, "window_rates": rates}
  print(f"{config.players.model} {'×'.join(map(str, data.image_shape))}, batch "
        f"{config.run.batch_size}, {result['device']}: {result['s_per_kimg']:.2f} s/kimg "
        f"({images_per_s:.1f} images/s), compile {contestant['compile_s']:.0f} s, step <= "
        f"{result['step_gflops_upper']:.1f} GFLOP, MFU <= {result['mfu_upper']:.1%} of "
        f"{peak / 1e9:.0f} GFLOP/s ({result['peak_source']}); {target / 1e6:g}M images in "
        f"{result['hours_to_images']:.1f} h")
  if FLAGS.profile:
    result["profile"] = profile_step.profile(contestant, FLAGS.profile)
    print(result["profile"])
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  app.run(main, flags_parser=run.parse_flags)
