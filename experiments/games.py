r"""Draws every update rule's trajectory on the bilinear game and Dirac-GAN, one panel each.

    python -m experiments.games --out=games.png

Rows: the bilinear game x·y, Dirac-GAN, Dirac-GAN with R1 (γ = 0.3); columns: the rules of
`jaxgan.games.rules`. Every trajectory starts at (1, 1) (the dot) with step size `--lr`; the
caption gives ‖z‖ after the last step. BUILD_NOTES.md ("Game dynamics") explains each panel.
"""

import numpy as np
from absl import app, flags

from experiments import cli
from PIL import Image, ImageDraw

from jaxgan import games

flags.DEFINE_string("out", "games.png", "Where to write the PNG.")
flags.DEFINE_float("lr", 0.1, "Step size of every rule.")
flags.DEFINE_integer("steps", 300, "Steps per trajectory.")
flags.DEFINE_float("extent", 2.5, "Each panel shows [-extent, extent]^2.")
FLAGS = flags.FLAGS

PANEL, MARGIN = 260, 24
TRAJECTORY = (5, 113, 176)


ROWS = ("bilinear", "dirac_gan", "dirac_gan_r1")


def draw_panel(points: np.ndarray, extent: float, caption: str) -> Image.Image:
  """Returns one panel: the trajectory in [-extent, extent]^2, its start, and a caption."""
  plot = Image.new("RGB", (PANEL, PANEL), "white")
  draw = ImageDraw.Draw(plot)
  to_px = lambda p: ((p[0] / extent + 1) * PANEL / 2, (1 - p[1] / extent) * PANEL / 2)
  draw.line([(0, PANEL / 2), (PANEL, PANEL / 2)], fill=(210, 210, 210))
  draw.line([(PANEL / 2, 0), (PANEL / 2, PANEL)], fill=(210, 210, 210))
  visible = points[np.all(np.abs(points) < 50 * extent, axis=1)]  # keep pillow's ints sane
  if len(visible) > 1:
    draw.line([to_px(p) for p in visible], fill=TRAJECTORY, width=2)
  x, y = to_px(points[0])
  draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(202, 0, 32))
  draw.rectangle([0, 0, PANEL - 1, PANEL - 1], outline=(120, 120, 120))
  panel = Image.new("RGB", (PANEL, PANEL + MARGIN), "white")
  panel.paste(plot, (0, 0))
  ImageDraw.Draw(panel).text((6, PANEL + 5), caption, fill="black")
  return panel


def draw_sheet(lr: float, steps: int, extent: float):
  """Returns the sheet of panels (rows: games, columns: rules) and each final ‖z‖."""
  rules = list(games.RULES)
  sheet = Image.new("RGB", (PANEL * len(rules), (PANEL + MARGIN) * len(ROWS)), "white")
  final = {}
  for i, game in enumerate(ROWS):
    for j, rule in enumerate(rules):
      points = np.asarray(games.trajectory(games.GAMES[game], rule, (1.0, 1.0), lr, steps),
                          np.float64)
      final[game, rule] = float(np.linalg.norm(points[-1]))
      panel = draw_panel(points, extent, f"{game} / {rule}: |z| {final[game, rule]:.3g}")
      sheet.paste(panel, (j * PANEL, i * (PANEL + MARGIN)))
  return sheet, final


def main(argv):
  del argv
  sheet, final = draw_sheet(FLAGS.lr, FLAGS.steps, FLAGS.extent)
  for (game, rule), norm in final.items():
    print(f"{game:13s} {rule:13s} |z_0| 1.414 |z_{FLAGS.steps}| {norm:.4g}")
  sheet.save(FLAGS.out)
  print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
