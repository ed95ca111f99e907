r"""Writes samples of a run's EMA generator for external tools (clean-fid, torch-fidelity, ...).

    python -m experiments.sample --workdir=runs/NAME --num=50000 --out=DIR|FILE.npz \
        [--step=N] [--truncation=PSI] [--class=C] [--seed=S] [--batch=B] [--overwrite]

Restores the latest checkpoint (or `--step`) of the run in `--workdir` with the config the
run saved, draws `--num` images from its EMA generator in batches of `--batch` and writes
them as PNGs `000000.png, …` in the folder `--out`, or as one `.npz` holding `images` (N, H,
W, C) uint8 (and `labels` for a conditional generator). The same seed and batch give the
same images. A conditional generator draws class `--class`, or classes 0, 1, …, K−1 in turn.
`--truncation` ψ < 1 pulls each w toward the tracked mean w̄ (StyleGAN2 players only). The
output is written beside its final name and moved there at the end, so a stopped export
leaves no partial result; an existing output is refused unless `--overwrite`. Nothing in the
workdir changes.
"""

import os
import shutil
import sys
import tempfile

import jax
import numpy as np
from absl import app, flags, logging
from PIL import Image

from jaxgan.checkpoint import QuietOrbax
from jaxgan.runs import restore_run
from jaxgan.sample import make_sample_fn
from jaxgan.workdir import WorkdirError

flags.DEFINE_string("workdir", None, "The run's directory (with config.json and checkpoints/).")
flags.DEFINE_integer("num", None, "How many images.", lower_bound=1)
flags.DEFINE_string("out", None, "A folder for PNGs, or a file ending in .npz.")
flags.DEFINE_integer("step", None, "The checkpoint's step (default: the latest).")
flags.DEFINE_float("truncation", 1.0, "Truncation psi (stylegan2; 1 = none).")
flags.DEFINE_integer("class", None, "The class of every image (conditional generators; "
                     "default: all classes in turn).", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the samples.")
flags.DEFINE_integer("batch", 64, "Images per generator call.", lower_bound=1)
flags.DEFINE_bool("overwrite", False, "Replace an existing output.")
for _name in ("workdir", "num", "out"):
  flags.mark_flag_as_required(_name)
FLAGS = flags.FLAGS


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Images in [-1, 1] as uint8 in [0, 255] (rounded, clipped)."""
  return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(
      np.uint8)


def labels_for(num: int, num_classes: int, label: int | None) -> np.ndarray | None:
  """The class of each image: `label` for all, else 0, 1, …, K−1 in turn; None if K = 0."""
  if not num_classes:
    if label is not None:
      raise ValueError(f"--class={label} given, but the generator is not conditional")
    return None
  if label is not None and not 0 <= label < num_classes:
    raise ValueError(f"--class={label} is outside 0..{num_classes - 1}")
  return (np.full(num, label) if label is not None else np.arange(num) % num_classes).astype(
      np.int32)


def export(workdir: str, num: int, out: str, *, step: int | None = None,
           truncation: float = 1.0, label: int | None = None, seed: int = 0, batch: int = 64,
           overwrite: bool = False, progress=None) -> str:
  """Writes `num` samples of the run's EMA generator to `out`; returns the checkpoint used."""
  out = os.path.abspath(out)
  to_npz = out.endswith(".npz")
  if os.path.exists(out) and not overwrite and (to_npz or os.listdir(out)):
    raise ValueError(f"--out={out} exists; give --overwrite to replace it")
  run = restore_run(workdir, step)
  if run.config.data.is_mixture:
    raise ValueError(f"the run in {workdir} generates 2D points, not images")
  generator = run.generator
  if truncation != 1.0:
    if not hasattr(generator, "truncation_psi"):
      raise ValueError(f"--truncation={truncation}: model={run.config.players.model!r} has no "
                       f"truncation (stylegan2 has)")
    generator = generator.clone(truncation_psi=truncation)
  labels = labels_for(num, getattr(generator, "num_classes", 0), label)  # G's, not the data's
  sample, key = make_sample_fn(generator), jax.random.key(seed)
  parent = os.path.dirname(out) or "."
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".sample-", dir=parent)
  try:
    chunks = []
    for i, start in enumerate(range(0, num, batch)):
      n = min(batch, num - start)
      batch_labels = None if labels is None else np.resize(labels[start:start + n], batch)
      images = to_uint8(sample(run.state, jax.random.fold_in(key, i), batch, batch_labels))[:n]
      if to_npz:
        chunks.append(images)
      else:
        for j, image in enumerate(images):
          Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
              os.path.join(staging, f"{start + j:06d}.png"))
      if progress:
        progress(start + n, num)
    if to_npz:
      target = os.path.join(staging, "samples.npz")
      arrays = {"images": np.concatenate(chunks)}
      if labels is not None:
        arrays["labels"] = labels
      np.savez(target, **arrays)
    else:
      target = staging
    if os.path.isdir(out) and not to_npz:
      shutil.rmtree(out)
    os.replace(target, out)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return run.path


def main(argv):
  del argv
  logging.get_absl_handler().addFilter(QuietOrbax())

  def progress(done, total):
    sys.stderr.write(f"\r{done}/{total} images")
    sys.stderr.write("\n" if done == total else "")

  try:
    path = export(FLAGS.workdir, FLAGS.num, FLAGS.out, step=FLAGS.step,
                  truncation=FLAGS.truncation, label=FLAGS["class"].value, seed=FLAGS.seed,
                  batch=FLAGS.batch, overwrite=FLAGS.overwrite, progress=progress)
  except (ValueError, WorkdirError) as e:  # a bad request, or no run there
    raise app.UsageError(str(e)) from e
  print(f"{FLAGS.num} images of {path} written to {os.path.abspath(FLAGS.out)}")


if __name__ == "__main__":
  app.run(main)
