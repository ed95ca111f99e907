"""Adaptive discriminator augmentation (Karras et al. 2020): the pipeline, and p's controller.

The pipeline changes every image D sees with operations drawn per sample, each taking
place with probability p (`OPS`, in the order they are composed):

  pixel blitting ("b"): x-flip; a rotation by a multiple of 90°; an integer translation of
    up to ⅛ of the side on each axis;
  geometric ("g"): isotropic scaling by 2^N(0, 0.2²); a rotation by U[-π, π) before and
    another after an anisotropic scaling (s, 1/s), s = 2^N(0, 0.2²) — each rotation with
    probability 1 - √(1 - p), so that at least one happens with probability p; a
    fractional translation by N(0, (⅛ of the side)²);
  colour ("c"): brightness + N(0, 0.2²); contrast × 2^N(0, 0.5²); luma flip (the component
    along the grey axis negated); hue rotation about the grey axis by U[-π, π); saturation
    × 2^N(0, 1) off the grey axis.

The blits and geometric operations compose into one 3×3 matrix per sample that maps each
output pixel to the point of the input it shows (pixel units, origin at the image's centre),
executed as one bilinear warp of the image mirrored at its edges: reflection padding of any
width, the edge pixel not repeated. The colour operations compose into one 4×4 matrix on
homogeneous RGB; a one-channel image is taken as R = G = B and keeps the mean of the result.
Images are in [-1, 1], so the grey axis and contrast's fixed point are at 0.

The warp samples at the image's own resolution; the paper's code samples at twice it
between low-pass filters, which removes aliasing of rotated edges. At 32 px and with
reals and fakes warped alike we keep the plain warp (one gather, no filter passes).

The controller (`init`, `update`) follows the overfitting heuristic r_t = E[sign(D(real))]:
every `interval` D updates, p moves by sign(r_t - target) · (images in those updates) /
(`kimg` · 1000), so p can cross [0, 1] in `kimg` thousand images, and stays in [0, 1].
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

BLITS = ("xflip", "rotate90", "xint")
GEOMETRIC = ("scale", "rotate", "aniso", "xfrac")
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
OPS = BLITS + GEOMETRIC + COLOUR
GROUPS = {"b": BLITS, "g": GEOMETRIC, "c": COLOUR}

# The grey axis in homogeneous RGB (numpy: importing this module must not start JAX's backend,
# which a multi-process run initialises after its imports).
_GREY = np.array([1.0, 1.0, 1.0, 0.0], np.float32) / math.sqrt(3.0)


def parse_ops(text: str) -> tuple[str, ...]:
  """Returns the operations named by group letters ("bgc", the paper's) or by names
  ("xflip,rotate90"), in `OPS` order."""
  text = text.strip()
  if text and "," not in text and set(text) <= set(GROUPS):
    names = {op for letter in text for op in GROUPS[letter]}
  else:
    names = {n.strip() for n in text.split(",") if n.strip()}
    if bad := sorted(names - set(OPS)):
      raise ValueError(f"ada_pipeline={text!r}: {', '.join(map(repr, bad))} not accepted; give "
                       f"group letters from 'bgc' or a comma-separated subset of "
                       f"{', '.join(OPS)}")
  if not names:
    raise ValueError("ada_pipeline is empty; give group letters such as 'bgc' or operation "
                     f"names from {', '.join(OPS)}")
  return tuple(op for op in OPS if op in names)


# --- 3×3 matrices of the plane, batched: the inverse of each operation -------------------

def _affine(a, b, c, d, tx, ty):
  """Returns the batch of matrices [[a, b, tx], [c, d, ty], [0, 0, 1]]."""
  zero, one = jnp.zeros_like(a), jnp.ones_like(a)
  return jnp.stack([jnp.stack([a, b, tx], -1), jnp.stack([c, d, ty], -1),
                    jnp.stack([zero, zero, one], -1)], -2)


def _scale_inv(sx, sy):
  zero = jnp.zeros_like(sx)
  return _affine(1.0 / sx, zero, zero, 1.0 / sy, zero, zero)


def _rotate_inv(cos, sin):
  """The inverse of the rotation the official pipeline makes of the same angle's draw (its
  `rotate2d_inv(-θ)`), so that a draw turns the image the same way in both."""
  zero = jnp.zeros_like(cos)
  return _affine(cos, -sin, sin, cos, zero, zero)


def _translate_inv(tx, ty):
  one = jnp.ones_like(tx)
  return _affine(one, jnp.zeros_like(tx), jnp.zeros_like(tx), one, -tx, -ty)


def _gated(gate_u, p, value, neutral):
  """Returns `value` where the per-sample uniform `gate_u` falls below p, else `neutral`."""
  gate = gate_u < p
  return jnp.where(gate.reshape(gate.shape + (1,) * (value.ndim - 1)), value, neutral)


def _draws(key, batch: int, uniforms: int, normals: int):
  """Returns (B, uniforms) U[0, 1) and (B, normals) N(0, 1) draws: one block each, each
  operation reading its own columns, so that leaving one out changes no other's draws."""
  u_key, n_key = jax.random.split(key)
  return (jax.random.uniform(u_key, (batch, uniforms)),
          jax.random.normal(n_key, (batch, normals)))


def geometric(key, batch: int, height: int, width: int, p, ops=OPS) -> jax.Array:
  """Returns (B, 3, 3): per sample, the map from output pixels to the input points they show
  (pixel units, origin at the centre), of the blits and geometric ops among `ops`."""
  u, n = _draws(key, batch, 14, 4)
  one = jnp.ones((batch,))
  m = jnp.broadcast_to(jnp.eye(3), (batch, 3, 3))
  if "xflip" in ops:
    flip = _gated(u[:, 0], p, jnp.floor(u[:, 1] * 2), 0.0)
    m = m @ _scale_inv(1.0 - 2.0 * flip, one)
  if "rotate90" in ops:
    quarter = _gated(u[:, 2], p, jnp.floor(u[:, 3] * 4).astype(jnp.int32), 0)
    cos, sin = jnp.array([1.0, 0, -1, 0])[quarter], jnp.array([0.0, 1, 0, -1])[quarter]
    m = m @ _rotate_inv(cos, sin)  # exact entries: a quarter turn maps pixels onto pixels
  if "xint" in ops:
    t = _gated(u[:, 4], p, u[:, 5:7] * 0.25 - 0.125, 0.0)
    m = m @ _translate_inv(jnp.round(t[:, 0] * width), jnp.round(t[:, 1] * height))
  if "scale" in ops:
    s = _gated(u[:, 7], p, 2.0 ** (n[:, 0] * 0.2), one)
    m = m @ _scale_inv(s, s)
  p_rotate = 1.0 - jnp.sqrt(jnp.maximum(1.0 - p, 0.0))
  for part, gate, angle in (("rotate", 8, 9), ("aniso", 10, None), ("rotate", 11, 12)):
    if part not in ops:
      continue
    if part == "rotate":
      theta = _gated(u[:, gate], p_rotate, (u[:, angle] * 2 - 1) * jnp.pi, 0.0)
      m = m @ _rotate_inv(jnp.cos(theta), jnp.sin(theta))
    else:
      s = _gated(u[:, gate], p, 2.0 ** (n[:, 1] * 0.2), one)
      m = m @ _scale_inv(s, 1.0 / s)
  if "xfrac" in ops:
    t = _gated(u[:, 13], p, n[:, 2:4] * 0.125, 0.0)
    m = m @ _translate_inv(t[:, 0] * width, t[:, 1] * height)
  return m


def _reflect(i, n: int):
  """Returns integer indices mirrored into [0, n) without repeating the edge."""
  if n == 1:
    return jnp.zeros_like(i)
  period = 2 * n - 2
  i = jnp.mod(i, period)
  return jnp.where(i >= n, period - i, i)


def warp(x_BHWC: jax.Array, m_B33: jax.Array) -> jax.Array:
  """Returns x with each output pixel bilinearly sampled at `m` · (its position), the
  image mirrored at its edges; an identity `m` returns x exactly."""
  b, h, w, c = x_BHWC.shape
  cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
  ys, xs = jnp.meshgrid(jnp.arange(h) - cy, jnp.arange(w) - cx, indexing="ij")
  points = jnp.stack([xs.ravel(), ys.ravel(), jnp.ones(h * w)])  # (3, HW)
  src = jnp.einsum("bij,jn->bin", m_B33.astype(jnp.float32), points)
  sx, sy = src[:, 0] + cx, src[:, 1] + cy
  x0, y0 = jnp.floor(sx), jnp.floor(sy)
  fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  flat = x_BHWC.reshape(b, h * w, c)

  def at(yi, xi):
    index = _reflect(yi, h) * w + _reflect(xi, w)
    return jnp.take_along_axis(flat, index[..., None], axis=1).astype(jnp.float32)

  top = (1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)
  bottom = (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)
  return ((1 - fy) * top + fy * bottom).reshape(b, h, w, c).astype(x_BHWC.dtype)


# --- 4×4 matrices of homogeneous RGB, batched ---------------------------------------------

def colour(key, batch: int, p, ops=OPS) -> jax.Array:
  """Returns (B, 4, 4): per sample, the colour ops among `ops` as one matrix on (r, g, b, 1)."""
  u, n = _draws(key, batch, 7, 3)
  eye = jnp.eye(4)
  grey = jnp.outer(_GREY, _GREY)  # projection onto the grey axis
  m = jnp.broadcast_to(eye, (batch, 4, 4))
  if "brightness" in ops:
    shift = _gated(u[:, 0], p, n[:, 0] * 0.2, 0.0)
    m = (eye + shift[:, None, None] * jnp.zeros((4, 4)).at[:3, 3].set(1.0)) @ m
  if "contrast" in ops:
    c = _gated(u[:, 1], p, 2.0 ** (n[:, 1] * 0.5), 1.0)
    m = (jnp.stack([c, c, c, jnp.ones_like(c)], -1)[:, :, None] * eye) @ m
  if "lumaflip" in ops:
    flip = _gated(u[:, 2], p, jnp.floor(u[:, 3] * 2), 0.0)
    m = (eye - 2.0 * flip[:, None, None] * grey) @ m
  if "hue" in ops:
    theta = _gated(u[:, 4], p, (u[:, 5] * 2 - 1) * jnp.pi, 0.0)
    m = _rotate_about_grey(theta) @ m
  if "saturation" in ops:
    s = _gated(u[:, 6], p, 2.0 ** n[:, 2], 1.0)
    chroma = eye.at[3, 3].set(0.0) - grey  # off the grey axis, within RGB
    m = (eye - chroma + s[:, None, None] * chroma) @ m
  return m


def _rotate_about_grey(theta):
  """Returns (B, 4, 4) rotations of RGB by `theta` about the grey axis (Rodrigues)."""
  v = _GREY[:3]
  cross = jnp.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
  cos, sin = jnp.cos(theta)[:, None, None], jnp.sin(theta)[:, None, None]
  r = cos * jnp.eye(3) + sin * cross + (1 - cos) * jnp.outer(v, v)
  return jnp.zeros((theta.shape[0], 4, 4)).at[:, :3, :3].set(r).at[:, 3, 3].set(1.0)


def recolour(x_BHWC: jax.Array, m_B44: jax.Array) -> jax.Array:
  """Returns x with each sample's colour matrix applied (1 or 3 channels)."""
  channels = x_BHWC.shape[-1]
  m = m_B44.astype(jnp.float32)
  if channels == 3:
    out = jnp.einsum("bij,bhwj->bhwi", m[:, :3, :3], x_BHWC.astype(jnp.float32))
    return (out + m[:, None, None, :3, 3]).astype(x_BHWC.dtype)
  if channels == 1:
    row = jnp.mean(m[:, :3, :], axis=1)  # grey in, the mean of R, G, B out
    gain, offset = jnp.sum(row[:, :3], -1), row[:, 3]
    return (x_BHWC * gain[:, None, None, None] + offset[:, None, None, None]).astype(
        x_BHWC.dtype)
  raise ValueError(f"ADA's colour operations need 1 or 3 channels; got {channels} "
                   f"(shape {x_BHWC.shape}); leave them out with ada_pipeline='bg'")


def augment(x_BHWC: jax.Array, key: jax.Array, p, ops=OPS) -> jax.Array:
  """Returns the images after the pipeline: each of `ops` taken with probability p."""
  if x_BHWC.ndim != 4:
    raise ValueError(f"ADA needs images (B, H, W, C); got shape {x_BHWC.shape}")
  b, h, w, channels = x_BHWC.shape
  if channels not in (1, 3) and any(op in ops for op in COLOUR):
    recolour(x_BHWC, jnp.zeros((b, 4, 4)))  # names the problem before any work is done
  geometric_key, colour_key = jax.random.split(key)
  if any(op in ops for op in BLITS + GEOMETRIC):
    x_BHWC = warp(x_BHWC, geometric(geometric_key, b, h, w, p, ops))
  if any(op in ops for op in COLOUR):
    x_BHWC = recolour(x_BHWC, colour(colour_key, b, p, ops))
  return x_BHWC


# --- the controller -----------------------------------------------------------------------

def init(p: float = 0.0) -> dict:
  """Returns the controller's state: p, the running sum of E[sign(D(real))] over the current
  interval, and the last interval's r_t."""
  return {"p": jnp.asarray(p, jnp.float32), "signs": jnp.zeros((), jnp.float32),
          "rt": jnp.zeros((), jnp.float32)}


def update(state: dict, real_logits: jax.Array, updates_before, images: int, *,
           target: float, interval: int, kimg: float, mean=lambda v: v) -> dict:
  """Returns the state after one D update on `images` real images (over all devices) with
  these logits; `updates_before` counts the D updates before it, `mean` averages over the
  devices, so p moves on the global r_t and stays the same everywhere."""
  signs = state["signs"] + mean(jnp.mean(jnp.sign(real_logits).astype(jnp.float32)))
  due = (updates_before + 1) % interval == 0
  rt = signs / interval
  step = jnp.sign(rt - target) * (images * interval) / (kimg * 1000.0)
  return {"p": jnp.where(due, jnp.clip(state["p"] + step, 0.0, 1.0), state["p"]),
          "signs": jnp.where(due, 0.0, signs), "rt": jnp.where(due, rt, state["rt"])}
