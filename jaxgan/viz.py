"""The classic 2D GAN picture: D's landscape, real samples, generated samples."""

import numpy as np
from PIL import Image, ImageDraw


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
