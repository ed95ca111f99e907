r"""The host feed's rate against the step's need: `python -m benchmarks.bench_feed`.

For each image side in `--sizes` it writes `--images` synthetic images (smooth colour fields
with noise, so PNG and JPEG compress as photographs do) as a PNG folder, a JPEG folder
(quality 90) and an `.npz` that the `array` dataset turns into array_record, then times
grain's feed (`jaxgan.data.pipeline.HostFeed`, batches put on the device) with each of
`--worker_counts` worker processes: images/s over `--batches` batches after a warm-up, the
median of `--windows`. Beside it, the images/s the matching shipped configuration's compiled
step consumes (`--need`): 28 px the default DCGAN-28 flagfile, 64 px `ffhq64_r3gan`, 256 px
`ffhq256_stylegan2_ada` (`timing.jaxgan_contestant` on the generated images, already on the
device; `--need_batch` shrinks the batch of the paper-sized models for a CPU, where their
step takes minutes). Prints one markdown table; the goal (issue 22) is a feed of at least 2x
the need at every size.

  python -m benchmarks.bench_feed --root=/tmp/feed                        # the whole table
  python -m benchmarks.bench_feed --root=/tmp/feed --sizes=28 --need=     # a quick look
  python -m benchmarks.bench_feed --folder=DIR --sizes=256                 # your folder
  python -m benchmarks.bench_feed --sizes=256 --source_size=512 --images=20000 \
      --formats=jpeg --need=                          # 20,000 JPEGs of 512 px read at 256
"""

import json
import os
import statistics
import sys
import time

import jax
import numpy as np
from absl import app, flags
from PIL import Image

from experiments import run as run_flags
from benchmarks import timing
from jaxgan.data import images, pipeline

flags.DEFINE_string("root", "/tmp/jaxgan_feed", "Where the generated folders and data go.")
flags.DEFINE_list("sizes", ["28", "64", "256"], "Image sides.")
flags.DEFINE_list("formats", ["png", "jpeg", "array_record"], "Stored forms.")
flags.DEFINE_list("worker_counts", ["1", "2"], "Worker processes of the feed.")
flags.DEFINE_integer("images", 2048, "Images per generated set.")
flags.DEFINE_integer("source_size", 0, "Store the folders' images at this side instead (read "
                     "at --sizes), in subfolders of 1,000 with an unlabelled dataset.json.")
flags.DEFINE_integer("batches", 20, "Batches per timed window.")
flags.DEFINE_integer("windows", 3, "Timed windows.")
flags.DEFINE_list("need", ["28", "64", "256"], "Sizes whose matching configuration's step "
                  "is timed too.")
flags.DEFINE_integer("need_batch", 0, "Batch of the timed step at 64 px and more (0: the "
                     "flagfile's; 28 px always takes its flagfile's).")
flags.DEFINE_string("folder", None, "Instead of generated sets: time this image folder (its "
                    "first open, a second, cached open, and the feed) at the first of --sizes.")
flags.DEFINE_string("out", None, "Optional JSON file of the results.")
FLAGS = flags.FLAGS

CONFIGS = {28: "fashion_mnist_dcgan", 64: "ffhq64_r3gan", 256: "ffhq256_stylegan2_ada"}
FEED_BATCH = {28: 64, 64: 256, 256: 64}  # the configurations' batches


def _synthetic(n: int, size: int, seed: int = 0) -> np.ndarray:
  """Smooth random colour fields plus a little noise, uint8 (n, size, size, 3)."""
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (n, 4, 4, 3)).astype(np.float32)
  grid = np.linspace(0, 3, size)
  i0 = np.floor(grid).astype(int).clip(0, 2)
  t = (grid - i0)[None, :, None, None]
  rows = coarse[:, i0] * (1 - t) + coarse[:, i0 + 1] * t
  t = (grid - i0)[None, None, :, None]
  field = rows[:, :, i0] * (1 - t) + rows[:, :, i0 + 1] * t
  noisy = field + rng.normal(0, 8, field.shape)
  return noisy.clip(0, 255).astype(np.uint8)


def _write_sets(size: int) -> dict[str, str]:
  """Writes the three stored forms of one size (once); returns {format: path}."""
  base = os.path.join(FLAGS.root, f"{size}px_{FLAGS.images}")
  paths = {"png": os.path.join(base, "png"), "jpeg": os.path.join(base, "jpeg"),
           "array_record": os.path.join(base, "images.npz")}
  if FLAGS.source_size:  # large images, 1,000 per subfolder (as FFHQ's are kept)
    return _write_large(size)
  if os.path.exists(os.path.join(base, "done")):
    return paths
  x = _synthetic(FLAGS.images, size)
  for fmt, ext in (("png", "png"), ("jpeg", "jpg")):
    _save(x, paths[fmt], ext, 0, "{:06d}")
  np.savez(paths["array_record"], x=x)
  open(os.path.join(base, "done"), "w").close()
  return paths


def _write_large(size: int) -> dict[str, str]:
  """The folders of `--source_size` images (once), chunk c drawn with seed c."""
  if "array_record" in FLAGS.formats:
    raise app.UsageError("--source_size makes folders only: give --formats=png,jpeg")
  base = os.path.join(FLAGS.root, f"{FLAGS.source_size}px_{FLAGS.images}")
  paths = {fmt: os.path.join(base, fmt) for fmt in FLAGS.formats}
  for fmt, path in paths.items():
    if os.path.exists(os.path.join(path, "dataset.json")):
      continue
    for chunk in range(-(-FLAGS.images // 1000)):
      _save(_synthetic(min(1000, FLAGS.images - 1000 * chunk), FLAGS.source_size, chunk),
            os.path.join(path, f"{chunk:05d}"), "jpg" if fmt == "jpeg" else "png",
            1000 * chunk, "{:08d}")
    with open(os.path.join(path, "dataset.json"), "w", encoding="utf-8") as f:
      f.write('{"labels": null}')  # written last: the folder is complete
  return paths


def _save(x: np.ndarray, folder: str, ext: str, first: int, name: str) -> None:
  os.makedirs(folder, exist_ok=True)
  for i, im in enumerate(x):
    Image.fromarray(im).save(os.path.join(folder, f"{name.format(first + i)}.{ext}"),
                             **({"quality": 90} if ext == "jpg" else {}))


def _open(fmt: str, path: str, size: int) -> images.ImageData:
  data_dir = os.path.join(FLAGS.root, "tfds")
  if fmt == "array_record":
    return images.load("array", path=path, data_dir=data_dir)
  return images.load("image_folder", path=path, image_size=size, data_dir=data_dir,
                     workers=pipeline.default_workers())


def feed_rate(data: images.ImageData, batch: int, workers: int) -> list[float]:
  """Images/s of the host feed, one value per window."""
  feed = pipeline.HostFeed(data, (0, 1), 1, batch, workers=workers, place=jax.device_put)

  def run(count):
    for _ in range(count):
      out = next(feed)[1]["x"]
    jax.block_until_ready(out)

  try:
    run(2 * max(workers, 1))  # the workers start and fill their buffers
    return [r * batch for r in timing.alternate({"feed": run}, FLAGS.batches,
                                                FLAGS.windows)["feed"]]
  finally:
    feed.close()


def step_need(size: int, data: images.ImageData) -> tuple[float, int, str]:
  """Images/s that the configuration of `size` consumes, its batch, and its name."""
  name = CONFIGS[size]
  extra = [f"--batch_size={FLAGS.need_batch}"] if FLAGS.need_batch and size >= 64 else []
  # The runner's flags from the flagfile, this command's own as given: one FlagValues.
  FLAGS.unparse_flags()
  FLAGS([sys.argv[0], f"--flagfile=experiments/configs/{name}.flags", *extra, *sys.argv[1:]])
  config = run_flags.config_from_flags()
  contestant = timing.jaxgan_contestant(config, data)  # compiled, and two steps taken
  steps = 1 if size >= 64 else 10  # a paper-sized step takes minutes on a CPU
  per_step = 1 / timing.rate(contestant["run"], steps)
  return config.step.d_steps * config.run.batch_size / per_step, config.run.batch_size, name


def folder_rows(path: str, size: int) -> list[dict]:
  """Open times (the check, then the cached one) and feed rates of a user's folder."""
  rows = []
  for attempt in ("first open (the check)", "second open (cached)"):
    t0 = time.perf_counter()
    data = _open("png", path, size)
    rows.append({"size": size, "what": f"{attempt}, {data.num_examples} files",
                 "seconds": time.perf_counter() - t0})
  for workers in map(int, FLAGS.worker_counts):
    rates = feed_rate(data, FEED_BATCH.get(size, 64), workers)
    rows.append({"size": size, "what": f"feed, {workers} worker(s)",
                 "images_per_s": statistics.median(rates), "windows": rates})
  return rows


def main(argv):
  del argv
  print(f"backend {jax.default_backend()}, {os.cpu_count()} CPUs, {FLAGS.images} images per "
        f"set, {FLAGS.windows} windows of {FLAGS.batches} batches")
  results = []
  if FLAGS.folder:
    results = folder_rows(FLAGS.folder, int(FLAGS.sizes[0]))
  for size in ([] if FLAGS.folder else map(int, FLAGS.sizes)):
    paths = _write_sets(size)
    batch = FEED_BATCH.get(size, 64)
    opened = {}
    for fmt in FLAGS.formats:  # the first open of a folder decodes every file once (the check)
      t0 = time.perf_counter()
      opened[fmt] = _open(fmt, paths[fmt], size)
      results.append({"size": size, "what": f"open {fmt} ({FLAGS.images} files; seconds)",
                      "seconds": time.perf_counter() - t0})
    need = None
    if str(size) in FLAGS.need and size in CONFIGS:
      need, need_batch, name = step_need(size, opened[FLAGS.formats[0]])
      results.append({"size": size, "what": f"{name} step (batch {need_batch})",
                      "images_per_s": need})
    for fmt in FLAGS.formats:
      for workers in map(int, FLAGS.worker_counts):
        rates = feed_rate(opened[fmt], batch, workers)
        results.append({"size": size, "what": f"feed {fmt}, {workers} worker(s), batch {batch}",
                        "images_per_s": statistics.median(rates), "windows": rates,
                        "times_need": statistics.median(rates) / need if need else None})
  print("\n| size | what | images/s | × the step's need |\n|---|---|---|---|")
  for r in results:
    ratio = f"{r['times_need']:.1f}" if r.get("times_need") else ""
    value = (f"{r['images_per_s']:,.0f}" if "images_per_s" in r
             else f"({r['seconds']:.1f} s)")
    print(f"| {r['size']} | {r['what']} | {value} | {ratio} |")
  if FLAGS.out:
    with open(FLAGS.out, "w", encoding="utf-8") as f:
      json.dump(results, f, indent=1)


if __name__ == "__main__":
  FLAGS.set_default("workdir", "(unused)")  # the runner's flags, read only from flagfiles
  app.run(main)
