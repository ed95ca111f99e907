"""What D sees instead of the raw samples: DiffAugment and instance noise.

Both act on D's inputs only and are differentiable, so the generator's gradient flows back
through them. Each draws its own random numbers per sample; real and generated batches go
through the same function (the same policy and distribution, independent draws), which is
what keeps D from learning the augmentation instead of the data.

- DiffAugment (Zhao et al. 2020), for images `x_BHWC`:
  `color`: brightness + U[-½, ½), saturation × U[0, 2), contrast × U[½, 1½) per sample;
  `translation`: an integer shift of each axis by up to ⅛ of the side, zero-filled;
  `cutout`: a zeroed square of half the side, centred anywhere in the image.
- Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017): x + σ_t ε, ε ~ N(0, I), with
  σ_t falling linearly from σ₀ to 0 over `anneal_steps` steps (0: constant σ₀). It makes
  the real and generated distributions overlap, so D's optimum stays smooth.
"""

import jax
import jax.numpy as jnp

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
  """Returns the augmentations named in a comma-separated policy ("" for none)."""
  names = tuple(p.strip() for p in policy.split(",") if p.strip())
  bad = [n for n in names if n not in POLICIES]
  if bad:
    raise ValueError(f"augment={policy!r}: {', '.join(map(repr, bad))} not accepted; "
                     f"give a comma-separated subset of: {', '.join(POLICIES)}")
  return names


def color(x_BHWC: jax.Array, u_B3: jax.Array) -> jax.Array:
  """Returns x with brightness, saturation and contrast changed by `u_B3` ~ U[0, 1)."""
  u = u_B3[:, None, None, :].astype(x_BHWC.dtype)
  x = x_BHWC + (u[..., 0:1] - 0.5)
  x_mean = jnp.mean(x, axis=3, keepdims=True)
  x = (x - x_mean) * (2.0 * u[..., 1:2]) + x_mean
  x_mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - x_mean) * (u[..., 2:3] + 0.5) + x_mean


def translation(x_BHWC: jax.Array, shift_B2: jax.Array) -> jax.Array:
  """Returns x moved by integer `shift_B2` pixels (rows, columns); vacated pixels are 0."""
  _, h, w, _ = x_BHWC.shape
  rows = jnp.arange(h)[None, :] - shift_B2[:, 0:1]  # source row of each output row
  cols = jnp.arange(w)[None, :] - shift_B2[:, 1:2]
  inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
  take = jax.vmap(lambda img, r, c: img[jnp.clip(r, 0, h - 1)][:, jnp.clip(c, 0, w - 1)])
  return jnp.where(inside[..., None], take(x_BHWC, rows, cols), 0.0).astype(x_BHWC.dtype)


def cutout(x_BHWC: jax.Array, centre_B2: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Returns x with a `size` rectangle centred at `centre_B2` (row, column) set to 0."""
  _, h, w, _ = x_BHWC.shape
  top = centre_B2[:, 0:1] - size[0] // 2
  left = centre_B2[:, 1:2] - size[1] // 2
  r, c = jnp.arange(h)[None, :] - top, jnp.arange(w)[None, :] - left
  hole = ((r >= 0) & (r < size[0]))[:, :, None] & ((c >= 0) & (c < size[1]))[:, None, :]
  return jnp.where(hole[..., None], 0.0, x_BHWC).astype(x_BHWC.dtype)


def diff_augment(x_BHWC: jax.Array, key: jax.Array, policy: tuple[str, ...]) -> jax.Array:
  """Returns x with each augmentation of `policy` applied, drawn per sample from `key`."""
  if not policy:
    return x_BHWC
  if x_BHWC.ndim != 4:
    raise ValueError(f"DiffAugment needs images (B, H, W, C); got shape {x_BHWC.shape}")
  b, h, w, _ = x_BHWC.shape
  keys = dict(zip(POLICIES, jax.random.split(key, len(POLICIES))))
  for name in policy:
    if name == "color":
      x_BHWC = color(x_BHWC, jax.random.uniform(keys[name], (b, 3)))
    elif name == "translation":
      reach = jnp.array([h // 8, w // 8])
      shift = jax.random.randint(keys[name], (b, 2), -reach, reach + 1)
      x_BHWC = translation(x_BHWC, shift)
    elif name == "cutout":
      centre = jax.random.randint(keys[name], (b, 2), 0, jnp.array([h, w]))
      x_BHWC = cutout(x_BHWC, centre, (h // 2, w // 2))
  return x_BHWC


def noise_scale(sigma: float, anneal_steps: int, step: jax.Array) -> jax.Array:
  """Returns σ_t: `sigma` falling linearly to 0 at `anneal_steps` (0 keeps it constant)."""
  if anneal_steps <= 0:
    return jnp.asarray(sigma, jnp.float32)
  return sigma * jnp.clip(1.0 - step / anneal_steps, 0.0, 1.0)


def instance_noise(x: jax.Array, key: jax.Array, scale: jax.Array) -> jax.Array:
  """Returns x + scale · ε with ε ~ N(0, I) of x's shape."""
  return x + (scale * jax.random.normal(key, x.shape)).astype(x.dtype)
