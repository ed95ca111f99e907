"""Image folders read as they are (`jaxgan.data.folder`): labels, bad files, fit, mirror."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from jaxgan.data import folder, images, transforms
from jaxgan.data.readers import DataError


def _save(path, array, fmt=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.asarray(array, np.uint8)).save(path, format=fmt)


def _rgb(value, size=(8, 8)):
  return np.full((*size, 3), value, np.uint8)


def _load(root, tmp_path, **kwargs):
  kwargs = {"image_size": 8, "data_dir": str(tmp_path / "tfds"), **kwargs}
  return images.load("image_folder", path=str(root), **kwargs)


def test_dataset_json_gives_the_labels_and_names_what_does_not_match(tmp_path):
  root = tmp_path / "ffhq"
  for i in range(4):
    _save(str(root / "00000" / f"img{i}.png"), _rgb(40 * i))
  labels = {"labels": [[f"00000/img{i}.png", i % 3] for i in range(4)]}
  (root / "dataset.json").write_text(json.dumps(labels))
  data = _load(root, tmp_path)
  x, y = data.read_all()
  np.testing.assert_array_equal(y, [0, 1, 2, 0])            # file -> label, not subfolder
  np.testing.assert_array_equal(x[:, 0, 0, 0], [0, 40, 80, 120])
  assert data.class_names == ("0", "1", "2")
  (root / "dataset.json").write_text(json.dumps({"labels": None}))
  assert _load(root, tmp_path).num_classes == 0              # unlabelled, subfolders or not
  labels["labels"].append(["00000/gone.png", 1])
  (root / "dataset.json").write_text(json.dumps(labels))
  with pytest.raises(DataError, match=r"names 1 file\(s\) that are not images in .*"
                                      r"00000/gone.png"):
    _load(root, tmp_path)
  labels["labels"] = labels["labels"][1:4]
  (root / "dataset.json").write_text(json.dumps(labels))
  with pytest.raises(DataError, match=r"have no label in .*: 00000/img0.png"):
    _load(root, tmp_path)
  (root / "dataset.json").write_text("{not json")
  with pytest.raises(DataError, match="is not a dataset.json"):
    _load(root, tmp_path)


def _bad_folder(root):
  """Two good RGB images, a greyscale one, and four bad files."""
  _save(str(root / "good0.png"), _rgb(10))
  _save(str(root / "good1.jpg"), _rgb(200), "JPEG")
  _save(str(root / "grey.png"), np.full((8, 8), 77))
  big = np.random.default_rng(0).integers(0, 255, (64, 64, 3))
  _save(str(root / "truncated.jpg"), big, "JPEG")
  data = (root / "truncated.jpg").read_bytes()
  (root / "truncated.jpg").write_bytes(data[:len(data) // 2])
  (root / "empty.png").write_bytes(b"")
  (root / "notes.png").write_text("these are my notes, not a picture\n")


def test_undecodable_files_are_named_before_training_or_skipped_and_counted(tmp_path):
  root = tmp_path / "photos"
  _bad_folder(root)
  with pytest.raises(DataError) as error:
    _load(root, tmp_path)
  message = str(error.value)
  assert message.startswith("3 of 6 files in ")
  for name, why in (("truncated.jpg", "truncated or corrupt: image file is truncated"),
                    ("empty.png", "an empty file"),
                    ("notes.png", "not an image format PIL reads")):
    assert f"{name} (" in message and why in message, message
  assert "--bad_images=skip" in message
  assert not (tmp_path / "tfds").exists()                    # bad input writes nothing
  data = _load(root, tmp_path, bad_images="skip")
  assert data.num_examples == 3
  x, _ = data.read_all()                                     # sorted: good0, good1, grey
  np.testing.assert_array_equal(x[2], np.full((8, 8, 3), 77))  # grey made RGB: R = G = B
  assert abs(int(x[1].mean()) - 200) <= 2
  index = data.source.index
  assert [f for f, _ in index.skipped] == ["empty.png", "notes.png", "truncated.jpg"]
  assert index.converted == (("grey.png", "L"),)


def test_the_check_is_cached_by_fingerprint_and_redone_when_a_file_changes(tmp_path,
                                                                          monkeypatch):
  root = tmp_path / "faces"
  for i in range(3):
    _save(str(root / f"{i}.png"), _rgb(i))
  first = _load(root, tmp_path)
  monkeypatch.setattr(folder, "_check_all", lambda *a: pytest.fail("checked again"))
  assert _load(root, tmp_path).source.index == first.source.index
  monkeypatch.undo()
  _save(str(root / "3.png"), _rgb(3))
  assert _load(root, tmp_path).num_examples == 4


def test_worker_processes_check_as_this_process_does(tmp_path, monkeypatch):
  root = tmp_path / "photos"
  _bad_folder(root)
  serial = folder.open_folder(str(root), on_bad="skip")
  monkeypatch.setattr(folder, "_SERIAL_BELOW", 0)
  assert folder.open_folder(str(root), on_bad="skip", workers=2) == serial


def test_non_square_images_are_centre_cropped_or_padded(tmp_path):
  root = tmp_path / "wide"
  wide = np.zeros((4, 8, 3), np.uint8)
  wide[:, 2:6] = 255                                         # the centre square is white
  _save(str(root / "a.png"), wide)
  crop = _load(root, tmp_path, image_size=4).read_all()[0][0]
  np.testing.assert_array_equal(crop, np.full((4, 4, 3), 255))
  pad = _load(root, tmp_path, image_size=8, fit="pad").read_all()[0][0]
  want = np.zeros((8, 8, 3), np.uint8)
  want[2:6] = wide                                           # centred between black bands
  np.testing.assert_array_equal(pad, want)
  with pytest.raises(DataError, match="image_fit='stretch'"):
    _load(root, tmp_path, fit="stretch")


def test_mirror_adds_each_image_flipped_left_to_right(tmp_path):
  root = tmp_path / "c"
  for i, name in enumerate(("cat", "dog")):
    _save(str(root / name / "0.png"), np.arange(8 * 8 * 3).reshape(8, 8, 3) + 50 * i)
  data = _load(root, tmp_path)
  mirrored = transforms.mirrored(data)
  assert mirrored.num_examples == 4 and mirrored.key.endswith("-mirror")
  x, y = data.read_all()
  mx, my = mirrored.read_all()
  np.testing.assert_array_equal(mx[:2], x)
  np.testing.assert_array_equal(mx[2:], x[:, :, ::-1])
  np.testing.assert_array_equal(my, np.concatenate([y, y]))


def test_every_view_names_its_examples_apart(tmp_path):
  root = tmp_path / "c"
  for i in range(4):
    _save(str(root / f"{i}.png"), _rgb(i))
  data = _load(root, tmp_path)
  other = _load(root, tmp_path, image_size=16)
  keys = {data.key, other.key, transforms.subset(data, 2).key, transforms.mirrored(data).key,
          transforms.padded(data, 12).key, _load(root, tmp_path, fit="pad").key}
  assert len(keys) == 6 and all(k.startswith("image_folder-c_") for k in keys)


def test_the_host_feeds_workers_decode_the_folder_as_the_device_copy_holds_it(tmp_path):
  import jax  # pylint: disable=g-import-not-at-top
  from jaxgan.data import pipeline  # pylint: disable=g-import-not-at-top
  root = tmp_path / "c"
  for i in range(12):
    _save(str(root / f"{i:02d}.jpg"), np.random.default_rng(i).integers(0, 255, (20, 14, 3)),
          "JPEG")
  data = transforms.mirrored(_load(root, tmp_path, image_size=8))
  key = jax.random.key(0)
  device = images.DeviceData(data, key, 1, 5)             # 24 images, 4 steps an epoch
  host = pipeline.HostFeed(data, images.key_seed(key), 1, 5, start_step=3, workers=2)
  try:
    for step in range(3, 9):
      fed_step, fed = next(host)
      assert fed_step == step
      want = device.batch(step, device.permutation(step))["x"]
      np.testing.assert_array_equal(fed["x"], np.asarray(want))
  finally:
    host.close()


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_close_to_the_full_decode(tmp_path):
  yy, xx = np.mgrid[0:480, 0:640]
  smooth = np.stack([xx / 640 * 255, yy / 480 * 255, (xx + yy) / 1120 * 255], -1)
  _save(str(tmp_path / "big.jpg"), smooth, "JPEG")
  fast = folder.decode(str(tmp_path / "big.jpg"), 64, 3, "crop")
  with Image.open(tmp_path / "big.jpg") as im:                # the full decode, by hand
    im = im.convert("RGB").crop((80, 0, 560, 480))
    full = np.asarray(im.resize((64, 64), Image.Resampling.BICUBIC))
  assert fast.shape == (64, 64, 3)
  assert np.abs(fast.astype(float) - full).mean() < 2.0
  assert not np.array_equal(fast, full)                       # it did take the short cut


def test_the_device_copy_of_a_folder_is_decoded_alike_by_worker_processes(tmp_path):
  from jaxgan.data import pipeline  # pylint: disable=g-import-not-at-top
  root = tmp_path / "c"
  for i in range(7):
    _save(str(root / ("ab"[i % 2]) / f"{i}.jpg"), np.random.default_rng(i).integers(
        0, 255, (12, 10, 3)), "JPEG")
  data = transforms.mirrored(_load(root, tmp_path))
  assert data.decodes
  x, y = pipeline.read_all(data, workers=2, chunk=3)          # 5 chunks over 2 processes
  want_x, want_y = data.read_all()
  np.testing.assert_array_equal(x, want_x)
  np.testing.assert_array_equal(y, want_y)
