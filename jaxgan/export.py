"""Samples out: a run's EMA generator written as PNGs or one .npz for external tools.

`export(workdir, num, out, ...)` is `python -m experiments.sample` (which documents the
flags): it restores the run read-only (`jaxgan.runs`), draws `num` images in batches keyed
`fold_in(key(seed), batch index)`, and writes them beside `out` before moving them there.
"""

import os
import shutil
import tempfile

import jax
import numpy as np
from PIL import Image

from jaxgan.runs import restore_run
from jaxgan.sample import make_sample_fn
from jaxgan.viz import to_uint8  # the sample grids' conversion


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
