"""Writes ADA's parity fixture: the official augmentation pipeline, one operation at a time.

Run under PyTorch (CPU is enough) with NVIDIA's stylegan2-ada-pytorch checked out at
--authors; nothing of theirs is copied, only numbers are written:

  python parity/ada_reference.py --authors=PATH --out=tests/data/parity/ada.npz

(add --authors_commit=SHA where PATH is not a git work tree, to record it in `meta`)

(the committed fixture: stylegan2-ada-pytorch at d72cc7d041b42ec8e806021a205ed9349f87c6a4,
PyTorch 2.13 on the CPU, where its custom ops run their reference implementations).

For each operation of `jaxgan.views.ada_pipeline.OPS` the official `training.augment.AugmentPipe` is
built with only that operation's multiplier at 1, p = 1, and run once. During that call
`torch.rand` and `torch.randn` are replaced by functions that hand out values chosen here, in
the order the pipeline asks for them (the shapes are checked; every planned value must be
used). Each operation asks for its value draw first and then a gate draw; with p = 1 the
gates (uniforms below 1) always pass. The value draws are chosen to cover the cases: both
flip states, all four quarter turns, scales on both sides of 1, rotations far from 0 and π
(so that a sign error cannot hide), the rest drawn from a seeded generator.

The file holds (images NCHW, as PyTorch has them):
  geom/x (4, 3, 32, 32)        smooth random images in [-1, 1] (a few low cosines a channel),
                               the input of every blit and geometric operation;
  colour/x3 (4, 3, 16, 16), colour/x1 (4, 1, 16, 16)   uniform random images in [-1, 1],
                               the inputs of the colour operations (3 and 1 channels);
  <op>/draw<k>                 the k-th value draw the official forward asked for, as handed
                               out (uniform U[0, 1) for torch.rand, N(0, 1) for torch.randn);
  <op>/out, and for the colour ops <op>/out1   the official output (3 and 1 channels);
and the draws as the parameters they stand for, by the official definitions:
  xflip/i       floor(2u), the image x-flipped where 1;
  rotate90/i    floor(4u), G_inv @= rotate2d_inv(-π/2 · i);
  xint/t (4, 2) (2u - 1) · 0.125; the shift in pixels is round(t · (W, H));
  scale/s       2^(0.2 n);
  rotate/theta_pre, rotate/theta_post   (2u - 1) · π each, G_inv @= rotate2d_inv(-θ)
                (pre and post, around the anisotropic scale; with p = 1 both are taken);
  aniso/s       2^(0.2 n), G_inv @= scale2d_inv(s, 1/s);
  xfrac/t (4, 2)   0.125 · n; the shift in pixels is t · (W, H);
  brightness/b  0.2 n;   contrast/c  2^(0.5 n);   lumaflip/i  floor(2u);
  hue/theta     (2u - 1) · π, a rotation rotate3d(grey axis, θ);
  saturation/s  2^n.
(The 1-channel pipeline skips hue and saturation and draws nothing for them: their out1 is
the input.) `meta` is a JSON string of the sizes, the versions and the parameter rules.
"""

import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

OPS = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
       "brightness", "contrast", "lumaflip", "hue", "saturation")
GEOMETRIC = OPS[:7]
BATCH, GEOM_SIZE, COLOUR_SIZE = 4, 32, 16


def _smooth_images(rng, batch, channels, size, waves=4, max_cycles=3):
  """Sums of a few random cosines of at most `max_cycles` cycles across, scaled into [-1, 1]."""
  ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  out = np.zeros((batch, channels, size, size))
  for b in range(batch):
    for c in range(channels):
      for _ in range(waves):
        fy, fx = rng.uniform(-max_cycles, max_cycles, 2) / size
        out[b, c] += rng.uniform(0.3, 1.0) * np.cos(2 * np.pi * (fy * ys + fx * xs)
                                                    + rng.uniform(0, 2 * np.pi))
      out[b, c] /= np.abs(out[b, c]).max()
  return out.astype(np.float32)


def _value_draws(rng) -> dict:
  """Per operation, the value draws in the order the official forward makes them:
  ("u", shape, values) for torch.rand, ("n", shape, values) for torch.randn."""
  b = BATCH
  u = lambda *vals: np.asarray(vals, np.float32)
  return {
      "xflip": [("u", (b,), u(0.2, 0.7, 0.9, 0.4))],                 # i = 0, 1, 1, 0
      "rotate90": [("u", (b,), u(0.1, 0.35, 0.6, 0.85))],            # i = 0, 1, 2, 3
      "xint": [("u", (b, 2), rng.uniform(0, 1, (b, 2)).astype(np.float32))],
      "scale": [("n", (b,), u(-1.5, 1.0, -0.6, 2.0))],                # s = 0.81 … 1.32
      # θ = (2u - 1)π: pre 0.1π, -0.4π, 0.6π, -0.8π; post 0.2π, -0.1π, -0.4π, -0.3π
      "rotate": [("u", (b,), u(0.55, 0.3, 0.8, 0.1)), ("u", (b,), u(0.6, 0.45, 0.3, 0.35))],
      "aniso": [("n", (b,), rng.normal(size=b).astype(np.float32))],
      "xfrac": [("n", (b, 2), rng.normal(size=(b, 2)).astype(np.float32))],
      "brightness": [("n", (b,), rng.normal(size=b).astype(np.float32))],
      "contrast": [("n", (b,), rng.normal(size=b).astype(np.float32))],
      "lumaflip": [("u", (b, 1, 1), u(0.2, 0.7, 0.9, 0.4).reshape(b, 1, 1))],
      "hue": [("u", (b,), u(0.6, 0.2, 0.85, 0.4))],                  # 0.2π, -0.6π, 0.7π, -0.2π
      "saturation": [("n", (b, 1, 1), rng.normal(size=(b, 1, 1)).astype(np.float32))],
  }


def _parameters(op: str, draws: list) -> dict:
  """The draws as the parameters they stand for (the official rules; see the docstring)."""
  v = [np.asarray(d, np.float64) for d in draws]
  if op in ("xflip", "lumaflip"):
    return {"i": np.floor(v[0].reshape(-1) * 2)}
  if op == "rotate90":
    return {"i": np.floor(v[0] * 4)}
  if op == "xint":
    return {"t": (v[0] * 2 - 1) * 0.125}
  if op in ("scale", "aniso"):
    return {"s": 2.0 ** (v[0] * 0.2)}
  if op == "rotate":
    return {"theta_pre": (v[0] * 2 - 1) * math.pi, "theta_post": (v[1] * 2 - 1) * math.pi}
  if op == "xfrac":
    return {"t": v[0] * 0.125}
  if op == "brightness":
    return {"b": v[0] * 0.2}
  if op == "contrast":
    return {"c": 2.0 ** (v[0] * 0.5)}
  if op == "hue":
    return {"theta": (v[0] * 2 - 1) * math.pi}
  if op == "saturation":
    return {"s": 2.0 ** v[0].reshape(-1)}
  raise ValueError(op)


class _Substitute:
  """Stands in for torch.rand / torch.randn: hands out the planned values in order (each
  value draw followed by a gate draw, uniform in [0, 0.99)), checking kind and shape."""

  def __init__(self, torch, plan, rng):
    self.torch, self.queue, self.rng, self.handed = torch, [], rng, []
    for kind, shape, values in plan:
      self.queue.append((kind, shape, values, True))
      gate_shape = (shape[0],) + (1,) * (len(shape) - 1)
      self.queue.append(("u", gate_shape, None, False))

  def _next(self, kind, size, kwargs):
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (list, tuple)) else size
    if not self.queue:
      raise AssertionError(f"the pipeline asked for an unplanned draw {kind}{shape}")
    want_kind, want_shape, values, is_value = self.queue.pop(0)
    if (want_kind, tuple(want_shape)) != (kind, tuple(shape)):
      raise AssertionError(f"planned {want_kind}{want_shape}, the pipeline asked {kind}{shape}")
    if values is None:
      values = self.rng.uniform(0, 0.99, shape).astype(np.float32)
    if is_value:
      self.handed.append(values)
    return self.torch.as_tensor(values, dtype=self.torch.float32, device=kwargs.get("device"))

  def __enter__(self):
    self.saved = self.torch.rand, self.torch.randn
    self.torch.rand = lambda *size, **kw: self._next("u", size, kw)
    self.torch.randn = lambda *size, **kw: self._next("n", size, kw)
    return self

  def __exit__(self, *exc):
    self.torch.rand, self.torch.randn = self.saved
    if exc[0] is None and self.queue:
      raise AssertionError(f"{len(self.queue)} planned draws were not used")


def _commit(path: str) -> str:
  """The checkout's git HEAD, or "unknown" where it is not a git work tree."""
  try:
    return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--authors", required=True, help="stylegan2-ada-pytorch checkout")
  parser.add_argument("--out", required=True)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--authors_commit", default=None,
                      help="the commit --authors holds, recorded in `meta` (default: its git "
                           "HEAD, where it is a git work tree)")
  args = parser.parse_args()
  sys.path.insert(0, os.path.abspath(args.authors))
  import torch  # pylint: disable=import-outside-toplevel
  from training import augment  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(args.seed)
  arrays = {
      "geom/x": _smooth_images(rng, BATCH, 3, GEOM_SIZE),
      "colour/x3": rng.uniform(-1, 1, (BATCH, 3, COLOUR_SIZE, COLOUR_SIZE)).astype(np.float32),
      "colour/x1": rng.uniform(-1, 1, (BATCH, 1, COLOUR_SIZE, COLOUR_SIZE)).astype(np.float32),
  }
  plans = _value_draws(rng)
  for op in OPS:
    inputs = {"out": arrays["geom/x"]} if op in GEOMETRIC else {
        "out": arrays["colour/x3"], "out1": arrays["colour/x1"]}
    for name, x in inputs.items():
      pipe = augment.AugmentPipe(**{op: 1}).eval()
      pipe.p.copy_(torch.ones([]))
      grey_skips = name == "out1" and op in ("hue", "saturation")
      with _Substitute(torch, [] if grey_skips else plans[op], rng) as sub, torch.no_grad():
        y = pipe(torch.as_tensor(x))
      arrays[f"{op}/{name}"] = y.numpy().astype(np.float32)
      if name == "out":
        for k, d in enumerate(sub.handed):
          arrays[f"{op}/draw{k}"] = np.asarray(d, np.float32)
        for k, v in _parameters(op, sub.handed).items():
          arrays[f"{op}/{k}"] = np.asarray(v, np.float32)

  arrays["meta"] = np.asarray(json.dumps({
      "authors_commit": args.authors_commit or _commit(args.authors), "torch": torch.__version__,
      "batch": BATCH, "geom_size": GEOM_SIZE, "colour_size": COLOUR_SIZE, "seed": args.seed,
      "p": 1.0, "gates": "U[0, 0.99), always below p = 1",
  }))
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  np.savez_compressed(args.out, **arrays)
  print(f"wrote {args.out}: {len(arrays)} arrays, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
  main()
