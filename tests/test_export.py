"""A run's EMA samples out as PNGs or one .npz (`jaxgan.export`, `experiments.sample`)."""

import os

import numpy as np
import pytest
from PIL import Image

from jaxgan import export as export_lib
from jaxgan.config import Config
from jaxgan.train import train_and_evaluate


@pytest.fixture(scope="module")
def stylegan_run(tmp_path_factory):
  """Two steps of a tiny StyleGAN2 on 16 random 8×8 grey images."""
  root = tmp_path_factory.mktemp("export")
  pixels = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1), dtype=np.uint8)
  np.savez(root / "d.npz", x=pixels)
  workdir = str(root / "run")
  train_and_evaluate(Config(
      dataset="array", data_path=str(root / "d.npz"), data_dir=str(root / "tfds"),
      model="stylegan2", latent_dim=4, channel_base=32, channel_max=4, mapping_layers=1,
      mbstd_group=2, batch_size=4, num_steps=2, log_every=1, eval_every=2, grid_size=4,
      tensorboard=False), workdir)
  return workdir


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
