"""A run's EMA samples out as PNGs or one .npz (`jaxgan.runner.export`, `experiments.sample`)."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from jaxgan.runner import export as export_lib
from jaxgan.runner.runs import restore_run
from jaxgan.sample import make_sample_fn
from conftest import FAST_ENV, tiny_stylegan2_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def stylegan_run(tmp_path_factory):
  """Two steps of a tiny StyleGAN2 on 16 random 8×8 grey images."""
  return tiny_stylegan2_run(tmp_path_factory.mktemp("export"), 16, 0, num_steps=2,
                            eval_every=2)[0]


def test_exports_are_deterministic_by_seed_in_both_formats_and_refuse_to_overwrite(
    stylegan_run, tmp_path):
  before = sorted(os.listdir(stylegan_run))
  out = str(tmp_path / "a.npz")
  path = export_lib.export(stylegan_run, 5, out, seed=3, batch=2)
  assert path.endswith(os.path.join("checkpoints", "2"))
  first = np.load(out)["images"]
  assert first.shape == (5, 8, 8, 1) and first.dtype == np.uint8 and np.ptp(first) > 0
  with pytest.raises(ValueError, match="exists; give --overwrite"):
    export_lib.export(stylegan_run, 5, out, seed=3, batch=2)
  export_lib.export(stylegan_run, 5, out, seed=3, batch=2, overwrite=True)
  np.testing.assert_array_equal(np.load(out)["images"], first)
  folder = str(tmp_path / "pngs")
  seen = []
  export_lib.export(stylegan_run, 5, folder, seed=3, batch=2,
                    progress=lambda done, total: seen.append((done, total)))
  assert seen == [(2, 5), (4, 5), (5, 5)]
  assert sorted(os.listdir(folder)) == [f"{i:06d}.png" for i in range(5)]
  pngs = np.stack([np.asarray(Image.open(os.path.join(folder, f"{i:06d}.png")))
                   for i in range(5)])
  np.testing.assert_array_equal(pngs[..., None], first)  # PNG is lossless
  export_lib.export(stylegan_run, 5, str(tmp_path / "b.npz"), seed=4, batch=2)
  assert not np.array_equal(np.load(tmp_path / "b.npz")["images"], first)
  # ψ = 0: every image is drawn from w̄ (only the noise inputs differ), so the images
  # spread less than the untruncated ones.
  export_lib.export(stylegan_run, 5, str(tmp_path / "t.npz"), seed=3, batch=2, truncation=0.0)
  spread = lambda images: np.std(images.astype(np.float64), axis=0).mean()
  assert spread(np.load(tmp_path / "t.npz")["images"]) < spread(first)
  # --noema: the raw G, drawn from the same z and noise as the EMA's images.
  export_lib.export(stylegan_run, 5, str(tmp_path / "raw.npz"), seed=3, batch=2,
                    use_ema=False)
  raw = np.load(tmp_path / "raw.npz")["images"]
  run = restore_run(stylegan_run, with_data=False)
  want = make_sample_fn(run.generator)(run.state, jax.random.fold_in(jax.random.key(3), 0), 2,
                                       use_ema=False)
  np.testing.assert_array_equal(raw[:2], export_lib.to_uint8(want))
  assert not np.array_equal(raw, first)
  assert not [p for p in os.listdir(tmp_path) if p.startswith(".sample-")]
  assert sorted(os.listdir(stylegan_run)) == before


def test_labels_cycle_or_stay_and_bad_requests_are_named():
  np.testing.assert_array_equal(export_lib.labels_for(5, 3, None), [0, 1, 2, 0, 1])
  np.testing.assert_array_equal(export_lib.labels_for(3, 3, 2), [2, 2, 2])
  assert export_lib.labels_for(3, 0, None) is None
  with pytest.raises(ValueError, match="--class=3 is outside 0..2"):
    export_lib.labels_for(3, 3, 3)
  with pytest.raises(ValueError, match="not conditional"):
    export_lib.labels_for(3, 0, 1)
  np.testing.assert_array_equal(export_lib.to_uint8(np.array([-1.5, -1.0, 0.0, 1.0])),
                                [0, 0, 128, 255])


def test_a_style_mixing_figure_takes_the_chosen_layers_from_the_columns(stylegan_run, tmp_path):
  before = sorted(os.listdir(stylegan_run))
  out = str(tmp_path / "mix.npz")
  # 8 px: latents 0..3 drive 4 px (0, 1) and 8 px (1, 2, 3); every layer from the columns
  # makes each cell its column's image, none of them can be chosen.
  export_lib.export_style_mix(stylegan_run, 3, 2, range(4), out, seed=1, batch=4)
  every = np.load(out)
  assert every["mixed"].shape == (3, 2, 8, 8, 1) and every["rows"].shape == (3, 8, 8, 1)
  np.testing.assert_array_equal(every["layers"], [0, 1, 2, 3])
  # Only the noise inputs (their strength two Adam steps from 0) tell a cell from its column.
  diff = np.abs(every["mixed"].astype(int) - every["cols"][None].astype(int))
  assert diff.max() <= 2, diff.max()
  assert np.abs(every["rows"][:, None].astype(int) - every["cols"][None].astype(int)).max() > 20
  export_lib.export_style_mix(stylegan_run, 3, 2, [0, 1], out, seed=1, batch=4, overwrite=True)
  coarse = np.load(out)
  np.testing.assert_array_equal(coarse["rows"], every["rows"])  # the same sources
  np.testing.assert_array_equal(coarse["cols"], every["cols"])
  from_col = np.abs(coarse["mixed"].astype(int) - coarse["cols"][None].astype(int)).max()
  from_row = np.abs(coarse["mixed"].astype(int) - coarse["rows"][:, None].astype(int)).max()
  assert from_col > 20 and from_row > 20  # a blend of both
  # The picture: (3 + 1) x (2 + 1) tiles of 8 px with 2 px gaps, the corner left white, the
  # column sources along the top, the row sources down the left.
  png = str(tmp_path / "mix.png")
  export_lib.export_style_mix(stylegan_run, 3, 2, [0, 1], png, seed=1, batch=4)
  grid = np.asarray(Image.open(png))[::8, ::8]  # enlarged 8 times, as 8 px sample grids are
  assert grid.shape == (4 * 10 + 2, 3 * 10 + 2, 3)
  tile = lambda r, c: grid[2 + 10 * r:10 + 10 * r, 2 + 10 * c:10 + 10 * c, 0]
  assert (tile(0, 0) == 255).all()
  np.testing.assert_array_equal(tile(0, 2), coarse["cols"][1, ..., 0])
  np.testing.assert_array_equal(tile(3, 0), coarse["rows"][2, ..., 0])
  np.testing.assert_array_equal(tile(2, 1), coarse["mixed"][1, 0, ..., 0])
  for bad, match in [(dict(layers=[4]), "indices in 0..3"),
                     (dict(out=str(tmp_path / "m.jpg")), "a .png or a .npz"),
                     (dict(out=png), "exists; give --overwrite")]:
    kw = {**dict(rows=2, cols=2, layers=[0], out=str(tmp_path / "n.npz")), **bad}
    with pytest.raises(ValueError, match=match):
      export_lib.export_style_mix(stylegan_run, kw.pop("rows"), kw.pop("cols"), kw.pop("layers"),
                                  kw.pop("out"), **kw)
  assert export_lib.parse_layers("0-2,5") == [0, 1, 2, 5]
  with pytest.raises(ValueError, match="--mix_layers='a-b'"):
    export_lib.parse_layers("a-b")
  assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]
  assert sorted(os.listdir(stylegan_run)) == before


def test_the_sample_command_lists_the_layers_and_draws_the_figure(stylegan_run, tmp_path):
  sample = lambda *args: subprocess.run(
      [sys.executable, "-m", "experiments.sample", f"--workdir={stylegan_run}", *args],
      cwd=ROOT, capture_output=True, text=True, timeout=240, env=FAST_ENV)
  listed = sample("--mix_layers=list")
  assert listed.returncode == 0, listed.stderr
  assert listed.stdout.splitlines() == ["0\t4: conv", "1\t8: up-conv, 4: toRGB", "2\t8: conv",
                                        "3\t8: toRGB"]
  out = str(tmp_path / "mix.npz")
  drawn = sample("--mix_layers=0-1", "--num=2", "--mix_cols=3", f"--out={out}", "--seed=1",
                 "--batch=4")
  assert drawn.returncode == 0, drawn.stderr
  # Reading the run says nothing about orbax's read-only manager or a TPU this machine lacks.
  for noise in ("read only", "read_only", "backend 'tpu'"):
    assert noise not in drawn.stderr, drawn.stderr
  # An existing output: one FATAL line naming it, exit code 2 (no usage), the file kept.
  kept = open(out, "rb").read()
  again = sample("--mix_layers=0-1", "--num=2", "--mix_cols=3", f"--out={out}", "--seed=2",
                 "--batch=4")
  assert again.returncode == 2, again.stderr
  assert again.stderr.splitlines() == [
      f"FATAL ValueError: --out={out} exists; give --overwrite to replace it"], again.stderr
  assert open(out, "rb").read() == kept
  want = str(tmp_path / "want.npz")
  export_lib.export_style_mix(stylegan_run, 2, 3, [0, 1], want, seed=1, batch=4)
  for name in ("rows", "cols", "mixed", "layers"):
    np.testing.assert_array_equal(np.load(out)[name], np.load(want)[name])
  bad = sample("--mix_layers=0-9", "--num=2", f"--out={tmp_path / 'bad.png'}")
  assert bad.returncode != 0 and "indices in 0..3" in bad.stderr
  assert not os.path.exists(tmp_path / "bad.png")
  stray = sample("--mix_cols=2", "--num=2", f"--out={tmp_path / 'pngs'}")
  assert stray.returncode != 0 and "give --mix_layers" in stray.stderr
