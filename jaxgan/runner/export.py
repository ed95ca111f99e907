"""Samples out: a run's EMA generator written as PNGs or one .npz for external tools.

`export(workdir, num, out, ...)` is `python -m experiments.sample` (which documents the
flags): it restores the run read-only (`jaxgan.runner.runs`), draws `num` images in batches keyed
`fold_in(key(seed), batch index)`, and writes them beside `out` before moving them there.
`export_style_mix(workdir, rows, cols, layers, out, ...)` is its `--mix_layers` form: a
StyleGAN2 style-mixing figure, written the same way.
"""

import os
import shutil
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxgan.models import stylegan2
from jaxgan.models.stylegan2 import layer_mask, style_layers
from jaxgan.players import as_player
from jaxgan.runner.runs import restore_run
from jaxgan.sample import (STANDING_BATCH, STANDING_STREAM, check_truncation, make_sample_fn,
                           standing_stats)
from jaxgan.runner.pictures import image_grid, to_uint8  # the sample grids' conversion


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


def _generator(run, workdir: str, truncation: float | None, noise_mode: str = "random"):
  """The run's generator and the truncation its sampler draws z with: a StyleGAN2 G
  truncated in w to ψ = `truncation` (z plain), any other G's z truncated to |z| ≤
  `truncation` (BigGAN's trick); its noise inputs drawn as `noise_mode` says (StyleGAN2:
  random, const or none)."""
  if run.config.data.is_mixture:
    raise ValueError(f"the run in {workdir} generates 2D points, not images")
  generator = run.generator
  if noise_mode != "random":
    if not hasattr(generator, "noise_mode"):
      raise ValueError(f"--noise_mode={noise_mode}: model={run.config.players.model!r} has no "
                       f"noise inputs (stylegan2 has)")
    if noise_mode not in stylegan2.NOISE_MODES:
      raise ValueError(f"--noise_mode={noise_mode}: give one of {stylegan2.NOISE_MODES}")
    generator = generator.clone(noise_mode=noise_mode)
  if hasattr(generator, "truncation_psi"):  # StyleGAN's ψ, in w
    if truncation is not None and truncation != 1.0:
      generator = generator.clone(truncation_psi=truncation)
    return generator, None
  check_truncation(truncation)
  return generator, truncation


def _styled(run, generator):
  """`generator`, refused by name unless it has per-layer styles (StyleGAN2)."""
  if not hasattr(generator, "num_ws"):
    raise ValueError(f"model={run.config.players.model!r} has no per-layer styles to mix "
                     f"(stylegan2 has)")
  return generator


def style_layer_names(workdir: str, step: int | None = None) -> list[str]:
  """What each per-layer latent of the run's generator drives (`stylegan2.style_layers`)."""
  run = restore_run(workdir, step, with_data=False)
  return style_layers(_styled(run, run.generator).resolution)


def export(workdir: str, num: int | None, out: str, *, step: int | None = None,
           truncation: float | None = None, label: int | None = None, seed: int = 0,
           batch: int = 64,
           overwrite: bool = False, progress=None, latents: np.ndarray | None = None,
           noise_mode: str = "random", use_ema: bool = True, standing: int = 0,
           standing_batch: int = 0) -> str:
  """Writes `num` samples of the run's EMA generator (raw G if not `use_ema`) to `out`;
  returns the checkpoint used. `latents` (N, latent_dim) are the z to draw (N images; `num`
  None or N), as the official `generate.py` draws given seeds' z. `standing` > 0 samples
  with standing statistics accumulated over that many batches of `standing_batch` images
  (0: the run's batch size, at most 256; `jaxgan.sample.standing_stats`, BigGAN-PyTorch's
  `--mybn --accumulate_stats`)."""
  out = os.path.abspath(out)
  to_npz = out.endswith(".npz")
  if latents is not None:
    latents = np.asarray(latents)
    if num is not None and num != len(latents):
      raise ValueError(f"--num={num} but the latents file holds {len(latents)} latents")
    num = len(latents)
  if not num:
    raise ValueError("give --num (how many images) or --latents")
  if os.path.exists(out) and not overwrite and (to_npz or os.listdir(out)):
    raise ValueError(f"--out={out} exists; give --overwrite to replace it")
  run = restore_run(workdir, step, with_data=False)
  generator, z_truncation = _generator(run, workdir, truncation, noise_mode)
  if latents is not None and latents.shape[1:] != (generator.latent_dim,):
    raise ValueError(f"the latents file holds an array of shape {latents.shape}; this run's "
                     f"generator takes (N, {generator.latent_dim})")
  labels = labels_for(num, getattr(generator, "num_classes", 0), label)  # G's, not the data's
  sample, key = make_sample_fn(generator, z_truncation), jax.random.key(seed)
  state = run.state
  if standing:
    state = standing_stats(generator, state, jax.random.fold_in(key, STANDING_STREAM), standing,
                           standing_batch or min(run.config.run.batch_size, STANDING_BATCH),
                           use_ema=use_ema)
  parent = os.path.dirname(out) or "."
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".sample-", dir=parent)
  try:
    chunks = []
    for i, start in enumerate(range(0, num, batch)):
      n = min(batch, num - start)
      batch_labels = None if labels is None else np.resize(labels[start:start + n], batch)
      z = None if latents is None else np.resize(latents[start:start + n],
                                                 (batch, latents.shape[1]))
      images = to_uint8(sample(state, jax.random.fold_in(key, i), batch, batch_labels,
                               use_ema=use_ema, z=z))[:n]
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


def parse_layers(text: str) -> list[int]:
  """'0-3' or '0,1,4-5' as a list of indices (the `--mix_layers` syntax)."""
  chosen = []
  try:
    for part in text.split(","):
      first, _, last = part.strip().partition("-")
      chosen += range(int(first), int(last or first) + 1)
  except ValueError:
    raise ValueError(f"--mix_layers={text!r}: write indices and ranges, say 0-3 or 0,1,6-7"
                     ) from None
  if not chosen:
    raise ValueError(f"--mix_layers={text!r} names no layer")
  return chosen


def export_style_mix(workdir: str, rows: int, cols: int, layers, out: str, *,
                     step: int | None = None, truncation: float | None = None,
                     label: int | None = None, seed: int = 0, batch: int = 64,
                     overwrite: bool = False) -> str:
  """Writes a style-mixing figure of the run's EMA generator (StyleGAN2) to `out`.

  `rows` and `cols` source latents are drawn from `seed`; cell (r, c) is row r's image with
  the per-layer latents `layers` (indices, `stylegan2.style_layers`) taken from column c's.
  `out` ending in .png gets the grid (column sources along the top, row sources down the
  left; images under 64 px enlarged as a run's sample grids are); ending in .npz, uint8
  arrays `rows` (R, H, W, C), `cols` (C', H, W, C) and `mixed` (R, C', H, W, C), with
  `layers`. A conditional generator draws every image of class `label`. Each image draws
  its own noise inputs, as in training, so the finest detail of a cell may differ from its
  sources'. Returns the checkpoint used.
  """
  out = os.path.abspath(out)
  if not out.endswith((".png", ".npz")):
    raise ValueError(f"--out={out}: a style-mixing figure is written to a .png or a .npz")
  if os.path.exists(out) and not overwrite:
    raise ValueError(f"--out={out} exists; give --overwrite to replace it")
  if rows < 1 or cols < 1:
    raise ValueError(f"a style-mixing figure needs >= 1 row and column; got {rows} x {cols}")
  run = restore_run(workdir, step, with_data=False)
  generator = _styled(run, _generator(run, workdir, truncation)[0])
  layers = tuple(int(i) for i in layers)
  layer_mask(layers, generator.num_ws)  # names a bad index before anything compiles
  if generator.num_classes and label is None:
    raise ValueError(f"the generator is conditional ({generator.num_classes} classes): give "
                     f"--class for the figure's images")
  labels_for(1, generator.num_classes, label)  # names a class out of range
  player, key = as_player(generator), jax.random.key(seed)

  @jax.jit
  def generate(state, key, z, mix_z, y):
    return player.apply(state.g_ema, state.g_state, z, y, False, rng=key, mix_z=mix_z,
                        mix_layers=layers)[0]

  z_rows = jax.random.normal(jax.random.fold_in(key, 0), (rows, player.latent_dim))
  z_cols = jax.random.normal(jax.random.fold_in(key, 1), (cols, player.latent_dim))
  # Every image in one list: the sources (mixed with themselves: their own w everywhere),
  # then the cells row by row.
  z = jnp.concatenate([z_rows, z_cols, jnp.repeat(z_rows, cols, axis=0)])
  mix_z = jnp.concatenate([z_rows, z_cols, jnp.tile(z_cols, (rows, 1))])
  total, chunks = z.shape[0], []
  batch = min(batch, total)
  y = jnp.full((batch,), label, jnp.int32) if generator.num_classes else None
  for i, start in enumerate(range(0, total, batch)):
    n = min(batch, total - start)
    pick = np.resize(np.arange(start, start + n), batch)
    chunks.append(np.asarray(generate(run.state, jax.random.fold_in(key, 2 + i), z[pick],
                                      mix_z[pick], y))[:n])
  images = np.concatenate(chunks)
  row_images, col_images = images[:rows], images[rows:rows + cols]
  mixed = images[rows + cols:].reshape(rows, cols, *images.shape[1:])
  os.makedirs(os.path.dirname(out), exist_ok=True)
  target = out + ".partial"
  try:
    if out.endswith(".png"):
      blank = np.ones_like(images[:1])
      tiles = [blank, col_images] + [t for r in range(rows) for t in (row_images[r:r + 1],
                                                                      mixed[r])]
      # Enlarged as a run's sample grids are, so that small images stay visible.
      grid = image_grid(np.concatenate(tiles), rows + 1, scale=max(1, 64 // images.shape[1]))
      Image.fromarray(grid).save(target, format="PNG")
    else:
      with open(target, "wb") as f:
        np.savez(f, rows=to_uint8(row_images), cols=to_uint8(col_images),
                 mixed=to_uint8(mixed), layers=np.asarray(layers))
    os.replace(target, out)
  finally:
    if os.path.exists(target):
      os.remove(target)
  return run.path
