"""Pictures of a run: the 2D GAN picture, image grids, their GIF, and loss curves."""

import math
import re

import numpy as np
from PIL import Image, ImageDraw

GRID_FILE = re.compile(r"samples_(\d+)\.png")  # the grid of one evaluation step


def grid_name(step: int) -> str:
  """Returns the file name of the sample grid of one evaluation step."""
  return f"samples_{step:07d}.png"


def _diverging(t: np.ndarray) -> np.ndarray:
  """Returns RGB uint8 for t in [-1, 1]: blue (D says fake) - white - red (D says real)."""
  t = np.clip(t, -1.0, 1.0)[..., None]
  white = np.array([247.0, 247.0, 247.0])
  red = np.array([202.0, 0.0, 32.0])
  blue = np.array([5.0, 113.0, 176.0])
  rgb = np.where(t >= 0, white + t * (red - white), white - t * (blue - white))
  return rgb.astype(np.uint8)


def plot_2d(real: np.ndarray, fake: np.ndarray, logit_fn, extent: float,
            size: int = 512, levels: int = 12, title: str = "") -> Image.Image:
  """Returns an image of D's logit landscape with contours, real and generated samples.

  Args:
    real, fake: (N, 2) arrays of samples.
    logit_fn: maps an (M, 2) array of points to M discriminator logits.
    extent: the square [-extent, extent]^2 is drawn.
    size: image side in pixels.
    levels: number of contour levels over D's logit range.
    title: text written in the top-left corner.
  """
  axis = np.linspace(-extent, extent, size, dtype=np.float32)
  xx, yy = np.meshgrid(axis, axis[::-1])  # image rows run top (y = +extent) to bottom
  logits = np.asarray(logit_fn(np.stack([xx.ravel(), yy.ravel()], 1))).reshape(size, size)
  scale = max(float(np.percentile(np.abs(logits), 99)), 1e-6)
  pixels = _diverging(logits / scale)
  # Contours: pixels where the quantised logit changes from a neighbour's.
  lo, hi = float(logits.min()), float(logits.max())
  band = np.floor((logits - lo) / max(hi - lo, 1e-12) * levels)
  edge = np.zeros_like(band, dtype=bool)
  edge[:, :-1] |= band[:, :-1] != band[:, 1:]
  edge[:-1, :] |= band[:-1, :] != band[1:, :]
  pixels[edge] = (pixels[edge] * 0.55).astype(np.uint8)
  image = Image.fromarray(pixels, "RGB")
  draw = ImageDraw.Draw(image)

  def to_px(points):
    p = (np.asarray(points, np.float64) + extent) / (2 * extent) * (size - 1)
    return np.stack([p[:, 0], size - 1 - p[:, 1]], 1)

  for x, y in to_px(real):
    draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(40, 40, 40))
  for x, y in to_px(fake):
    draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(0, 170, 60))
  if title:
    draw.rectangle([0, 0, 8 + 6 * len(title), 16], fill=(255, 255, 255))
    draw.text((4, 3), title, fill=(0, 0, 0))
  draw.text((4, size - 14), "dark: real   green: generated   red: D says real",
            fill=(0, 0, 0))
  return image


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Images in [-1, 1] as uint8 in [0, 255] (clipped, rounded to nearest)."""
  return np.round((np.clip(np.asarray(images, np.float32), -1, 1) + 1) * 127.5).astype(np.uint8)


def image_grid(images: np.ndarray, rows: int, pad: int = 2, scale: int = 1) -> np.ndarray:
  """Returns an (H', W', 3) uint8 grid of `images` (N, H, W, C) in [-1, 1], `rows` rows.

  Row r holds images r*cols .. r*cols + cols - 1 with cols = ceil(N / rows); the grid is
  enlarged `scale` times (nearest neighbour) so small images stay visible.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"images must be (N, H, W, 1 or 3), got shape {images.shape}")
  n, h, w, _ = images.shape
  cols = math.ceil(n / rows)
  pixels = to_uint8(images)
  if pixels.shape[-1] == 1:
    pixels = np.repeat(pixels, 3, axis=-1)
  grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
  for i in range(n):
    r, c = divmod(i, cols)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h,
         pad + c * (w + pad):pad + c * (w + pad) + w] = pixels[i]
  if scale > 1:
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
  return grid


def save_gif(frames: list[np.ndarray], path: str, seconds_per_frame: float = 0.4) -> None:
  """Writes the (H, W, 3) uint8 frames as a looping animated GIF (last frame held longer)."""
  if not frames:
    raise ValueError("save_gif needs at least one frame")
  images = [Image.fromarray(f) for f in frames]
  durations = [int(seconds_per_frame * 1000)] * (len(images) - 1) + [2000]
  images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)


_SERIES_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14),
                   (148, 103, 189), (140, 86, 75)]


def nice_ticks(lo: float, hi: float, target: int = 5, integer: bool = False) -> list[float]:
  """Returns round values (1, 2 or 5 times a power of ten apart; `integer`: at least 1) within
  [lo, hi] for an axis: 4 to 6 of them where such a spacing exists, else as near `target` as
  one gets."""
  if hi <= lo:
    return [lo]
  best, top = None, math.floor(math.log10(hi - lo))
  for power in range(0 if integer else top - 2, max(top + 2, 1)):
    for m in (1, 2, 5):
      spacing = m * 10.0 ** power
      first, last = math.ceil(lo / spacing - 1e-9), math.floor(hi / spacing + 1e-9)
      ticks = [round(i * spacing, max(0, 1 - power)) for i in range(first, last + 1)]
      # 4 to 6 ticks first, then the nearest to `target`, then the wider spacing.
      rank = (not 4 <= len(ticks) <= 6, abs(len(ticks) - target), -spacing)
      if ticks and (best is None or rank < best[0]):
        best = (rank, ticks)
  return best[1] if best else []  # no integer within [lo, hi]


def _tick_label(value: float) -> str:
  """A step count as a short label: 500, 2.5k, 20k, 1.2M."""
  for scale, suffix in ((1e6, "M"), (1e3, "k")):
    if abs(value) >= scale:
      return f"{value / scale:g}{suffix}"
  return f"{value:g}"


def plot_curves(records: list[dict], panels: dict[str, list[str]], width: int = 900,
                panel_height: int = 220) -> Image.Image:
  """Returns a picture of metric curves over steps: one panel per entry of `panels`.

  Args:
    records: metric records, each with a "step" and some of the keys named in `panels`.
    panels: panel title -> metric keys drawn in it (each its own colour, with a legend).
  """
  margin_l, margin_r, margin_t, margin_b = 70, 20, 22, 24
  image = Image.new("RGB", (width, panel_height * len(panels)), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  for p, (title, keys) in enumerate(panels.items()):
    top = p * panel_height
    x0, x1 = margin_l, width - margin_r
    y0, y1 = top + margin_t, top + panel_height - margin_b
    series = {k: [(r["step"], r[k]) for r in records
                  if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])] for k in keys}
    points = [pt for s in series.values() for pt in s]
    draw.text((x0, top + 5), title, fill=(0, 0, 0))
    draw.rectangle([x0, y0, x1, y1], outline=(160, 160, 160))
    if not points:
      draw.text((x0 + 8, y0 + 8), "no data", fill=(120, 120, 120))
      continue
    steps = [pt[0] for pt in points]
    values = [pt[1] for pt in points]
    s_lo, s_hi = min(steps), max(max(steps), min(steps) + 1)
    v_lo, v_hi = min(values), max(values)
    if v_hi - v_lo < 1e-12:
      v_lo, v_hi = v_lo - 1, v_hi + 1

    def to_px(step, value):
      return (x0 + (step - s_lo) / (s_hi - s_lo) * (x1 - x0),
              y1 - (value - v_lo) / (v_hi - v_lo) * (y1 - y0))

    for frac in (0.0, 0.5, 1.0):
      value = v_lo + frac * (v_hi - v_lo)
      _, y = to_px(s_lo, value)
      draw.line([x0 - 4, y, x0, y], fill=(0, 0, 0))
      draw.text((4, y - 6), f"{value:.3g}", fill=(0, 0, 0))
    for tick in nice_ticks(s_lo, s_hi, integer=True):
      x, _ = to_px(tick, v_lo)
      draw.line([x, y0 + 1, x, y1 - 1], fill=(232, 232, 232))
      draw.line([x, y1, x, y1 + 4], fill=(0, 0, 0))
      label = _tick_label(tick)
      draw.text((min(max(x - draw.textlength(label) / 2, x0 - 10), x1 - draw.textlength(label)),
                 y1 + 6), label, fill=(0, 0, 0))
    draw.text((4, y1 + 6), "step", fill=(110, 110, 110))
    legend_x = x0 + max(120, draw.textlength(title) + 30)
    for i, (key, pts) in enumerate((k, s) for k, s in series.items() if s):  # logged ones
      colour = _SERIES_COLOURS[i % len(_SERIES_COLOURS)]
      if len(pts) > 1:
        draw.line([to_px(*pt) for pt in pts], fill=colour, width=2)
      elif pts:
        x, y = to_px(*pts[0])
        draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
      draw.text((legend_x + 150 * i, top + 5), key, fill=colour)
  return image


def plot_tradeoff(points: list[tuple[float, float, float]], x_label: str, y_label: str,
                  title: str, width: int = 560, height: int = 420) -> Image.Image:
  """Returns a picture of a trade-off curve: `points` (label, x, y) joined in order, each
  marked and labelled (the truncation threshold of BigGAN's FD-against-accuracy curve)."""
  x0, x1, y0, y1 = 70, width - 30, 40, height - 44
  image = Image.new("RGB", (width, height), (255, 255, 255))
  draw = ImageDraw.Draw(image)
  draw.text((x0, 4), title, fill=(0, 0, 0))
  draw.rectangle([x0, y0, x1, y1], outline=(160, 160, 160))
  xs, ys = [p[1] for p in points], [p[2] for p in points]
  lo_hi = lambda v: (min(v), max(v)) if max(v) - min(v) > 1e-12 else (min(v) - 1, max(v) + 1)
  (xl, xh), (yl, yh) = lo_hi(xs), lo_hi(ys)
  pad_x, pad_y = 0.08 * (xh - xl), 0.08 * (yh - yl)
  xl, xh, yl, yh = xl - pad_x, xh + pad_x, yl - pad_y, yh + pad_y
  to_px = lambda x, y: (x0 + (x - xl) / (xh - xl) * (x1 - x0), y1 - (y - yl) / (yh - yl) * (y1 - y0))
  for tick in nice_ticks(xl, xh):
    x, _ = to_px(tick, yl)
    draw.line([x, y1, x, y1 + 4], fill=(0, 0, 0))
    draw.text((x - draw.textlength(f"{tick:g}") / 2, y1 + 6), f"{tick:g}", fill=(0, 0, 0))
  for tick in nice_ticks(yl, yh):
    _, y = to_px(xl, tick)
    draw.line([x0 - 4, y, x0, y], fill=(0, 0, 0))
    draw.text((4, y - 6), f"{tick:g}", fill=(0, 0, 0))
  draw.text(((x0 + x1 - draw.textlength(x_label)) / 2, height - 18), x_label, fill=(0, 0, 0))
  draw.text((4, 22), y_label, fill=(110, 110, 110))
  pixels = [to_px(x, y) for _, x, y in points]
  if len(pixels) > 1:
    draw.line(pixels, fill=_SERIES_COLOURS[0], width=2)
  for (label, _, _), (x, y) in zip(points, pixels):
    draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=_SERIES_COLOURS[0])
    draw.text((x + 5, y - 14), f"{label:g}", fill=(60, 60, 60))
  return image
