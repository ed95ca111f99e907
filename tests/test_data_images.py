"""Image datasets: each builder from small files the test writes, the bad-file errors, the pipeline."""

import gzip
import io
import os
import pickle
import subprocess
import sys
import tarfile
import time

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxgan.data import images, pipeline, readers
from jaxgan.data.readers import DataError
from conftest import FAST_ENV, write_idx_dataset

PINNED_ORDER_0_7_EPOCH_3 = [3, 4, 1, 2, 7, 6, 5, 0]  # numpy 2.x, recorded 2026-12-01


@pytest.mark.parametrize("name, gz", [("mnist", True), ("fashion_mnist", False)])
def test_idx_builders_read_back_every_image_with_its_label(tmp_path, name, gz):
  manual = write_idx_dataset(str(tmp_path / "raw"), gz=gz)
  data = images.load(name, data_dir=str(tmp_path / "tfds"), manual_dir=manual)
  assert data.num_examples == 24 and data.image_shape == (28, 28, 1)
  assert data.dtype == np.uint8 and data.num_classes == 10
  if name == "fashion_mnist":
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
  x, y = data.read_all()
  assert x.shape == (24, 28, 28, 1)
  values = x[:, 0, 0, 0].astype(int)
  assert sorted(values) == list(range(24))            # every image exactly once
  assert np.all(x == x[:, :1, :1, :1])                # whole images, not mixed up
  np.testing.assert_array_equal(y, values % 10)       # labels travel with their images
  test = images.load(name, split="test", data_dir=str(tmp_path / "tfds"), manual_dir=manual)
  assert test.num_examples == 12


def test_prepared_dataset_is_reused_without_its_raw_files(tmp_path):
  manual = write_idx_dataset(str(tmp_path / "raw"))
  images.load("mnist", data_dir=str(tmp_path / "tfds"), manual_dir=manual)
  for f in os.listdir(manual):
    os.remove(os.path.join(manual, f))
  assert images.load("mnist", data_dir=str(tmp_path / "tfds")).num_examples == 24


def test_missing_fashion_mnist_says_which_files_and_the_apt_route(tmp_path):
  with pytest.raises(DataError) as e:
    images.load("fashion_mnist", data_dir=str(tmp_path / "tfds"),
                manual_dir=str(tmp_path / "empty"))
  message = str(e.value)
  assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
  assert "apt-get install dataset-fashion-mnist" in message
  assert str(tmp_path / "empty") in message


def test_truncated_and_corrupt_idx_files_are_named(tmp_path):
  manual = write_idx_dataset(str(tmp_path / "raw"), gz=False)
  path = os.path.join(manual, "train-images-idx3-ubyte")
  with open(path, "rb") as f:
    data = f.read()
  with open(path, "wb") as f:
    f.write(data[:-100])                               # truncated raw file
  with pytest.raises(DataError, match="truncated") as e:
    images.load("mnist", data_dir=str(tmp_path / "tfds"), manual_dir=manual)
  assert "train-images-idx3-ubyte" in str(e.value)
  with open(path, "wb") as f:
    f.write(b"\x00\x00\x0d\x03" + data[4:])            # wrong magic (float type code)
  with pytest.raises(DataError, match="magic"):
    images.load("mnist", data_dir=str(tmp_path / "tfds2"), manual_dir=manual)
  gz_path = path + ".gz"
  os.remove(path)
  with open(gz_path, "wb") as f:
    f.write(gzip.compress(data)[:-30])                 # truncated gzip stream
  with pytest.raises(DataError, match="gzip") as e:
    images.load("mnist", data_dir=str(tmp_path / "tfds3"), manual_dir=manual)
  assert gz_path in str(e.value)
  # Nothing half-prepared is left to be mistaken for a dataset.
  with pytest.raises(DataError):
    images.load("mnist", data_dir=str(tmp_path / "tfds3"), manual_dir=manual)


def _cifar_batch(n, start):
  # Channel c of image i is filled with (i + start) * 3 + c (mod 256), planar as CIFAR stores it.
  data = np.zeros((n, 3, 32, 32), np.uint8)
  for i in range(n):
    for c in range(3):
      data[i, c] = ((i + start) * 3 + c) % 256
  return {b"data": data.reshape(n, 3072), b"labels": [(i + start) % 10 for i in range(n)]}


def write_cifar(folder, as_archive=False):
  os.makedirs(folder, exist_ok=True)
  names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
  payloads = {name: pickle.dumps(_cifar_batch(4, 4 * j)) for j, name in enumerate(names)}
  if as_archive:
    with tarfile.open(os.path.join(folder, "cifar-10-python.tar.gz"), "w:gz") as tar:
      for name, payload in payloads.items():
        info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
  else:
    sub = os.path.join(folder, "cifar-10-batches-py")
    os.makedirs(sub, exist_ok=True)
    for name, payload in payloads.items():
      with open(os.path.join(sub, name), "wb") as f:
        f.write(payload)
  return folder


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar10_builder_reads_batches_or_archive_in_hwc_order(tmp_path, as_archive):
  manual = write_cifar(str(tmp_path / "raw"), as_archive)
  data = images.load("cifar10", data_dir=str(tmp_path / "tfds"), manual_dir=manual)
  assert data.num_examples == 20 and data.image_shape == (32, 32, 3)
  assert data.class_names[0] == "airplane"
  x, y = data.read_all()
  index = x[:, 0, 0, 0].astype(int) // 3
  assert sorted(index) == list(range(20))
  np.testing.assert_array_equal(x[:, 5, 7, 2], x[:, 0, 0, 0] + 2)   # channels last, in order
  np.testing.assert_array_equal(y, index % 10)
  assert images.load("cifar10", split="test", data_dir=str(tmp_path / "tfds"),
                     manual_dir=manual).num_examples == 4


def test_corrupt_cifar_batch_is_named(tmp_path):
  manual = write_cifar(str(tmp_path / "raw"))
  with open(os.path.join(manual, "cifar-10-batches-py", "data_batch_3"), "wb") as f:
    f.write(b"not a pickle")
  with pytest.raises(DataError, match="data_batch_3"):
    images.load("cifar10", data_dir=str(tmp_path / "tfds"), manual_dir=manual)


def _png(path, colour, size=(12, 9)):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new("RGB", size, colour).save(path)


def test_image_folder_with_class_subfolders_resizes_and_labels(tmp_path):
  root = tmp_path / "photos"
  for i in range(3):
    _png(str(root / "cats" / f"{i}.png"), (250, 0, 0), size=(20 + i, 10))
  for i in range(2):
    _png(str(root / "dogs" / f"{i}.jpg"), (0, 0, 250))
  data = images.load("image_folder", path=str(root), image_size=8,
                     data_dir=str(tmp_path / "tfds"))
  assert data.num_examples == 5 and data.image_shape == (8, 8, 3)
  assert data.class_names == ("cats", "dogs")
  x, y = data.read_all()
  red = x[..., 0].mean(axis=(1, 2)) > 200
  np.testing.assert_array_equal(red, y == 0)          # each image keeps its class
  grey = images.load("image_folder", path=str(root), image_size=16, channels=1,
                     data_dir=str(tmp_path / "tfds"))
  assert grey.image_shape == (16, 16, 1)


def test_image_folder_without_subfolders_is_unlabelled_and_sees_new_files(tmp_path):
  root = tmp_path / "faces"
  for i in range(4):
    _png(str(root / f"{i}.png"), (i * 60, 10, 10))
  data = images.load("image_folder", path=str(root), image_size=4,
                     data_dir=str(tmp_path / "tfds"))
  assert data.num_examples == 4 and data.num_classes == 0
  _, labels = data.read_all()
  assert labels is None
  _png(str(root / "4.png"), (0, 0, 0))
  assert images.load("image_folder", path=str(root), image_size=4,
                     data_dir=str(tmp_path / "tfds")).num_examples == 5


def test_image_folder_errors_name_the_bad_file_or_layout(tmp_path):
  root = tmp_path / "bad"
  _png(str(root / "a" / "ok.png"), (1, 2, 3))
  with open(root / "a" / "broken.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n garbage")
  with pytest.raises(DataError, match="broken.png"):
    images.load("image_folder", path=str(root), image_size=8, data_dir=str(tmp_path / "t"))
  _png(str(root / "loose.png"), (1, 2, 3))
  with pytest.raises(DataError, match="one layout"):
    images.load("image_folder", path=str(root), image_size=8, data_dir=str(tmp_path / "t"))
  with pytest.raises(DataError, match="does not exist"):
    images.load("image_folder", path=str(tmp_path / "nowhere"), data_dir=str(tmp_path / "t"))
  os.makedirs(tmp_path / "empty")
  with pytest.raises(DataError, match="no images"):
    images.load("image_folder", path=str(tmp_path / "empty"), data_dir=str(tmp_path / "t"))


def test_array_builder_keeps_values_dtypes_and_labels(tmp_path):
  x = np.arange(6 * 5 * 5, dtype=np.uint8).reshape(6, 5, 5)
  y = np.array([0, 1, 2, 0, 1, 2])
  np.savez(tmp_path / "d.npz", x=x, y=y)
  data = images.load("array", path=str(tmp_path / "d.npz"), data_dir=str(tmp_path / "t"))
  assert data.image_shape == (5, 5, 1) and data.dtype == np.uint8 and data.num_classes == 3
  got_x, got_y = data.read_all()
  order = np.argsort(got_x[:, 0, 0, 0])
  np.testing.assert_array_equal(got_x[order, ..., 0], x)
  np.testing.assert_array_equal(got_y[order], y)
  points = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float64)
  np.save(tmp_path / "p.npy", points)
  data = images.load("array", path=str(tmp_path / "p.npy"), data_dir=str(tmp_path / "t"))
  assert data.image_shape == (2,) and data.dtype == np.float32 and data.num_classes == 0
  got, _ = data.read_all()
  np.testing.assert_allclose(np.sort(got[:, 0]), np.sort(points[:, 0]).astype(np.float32))


@pytest.mark.parametrize("arrays, needle", [
    ({"pixels": np.zeros((3, 4, 4), np.uint8)}, "needs 'x'"),
    ({"x": np.full((3, 2), np.nan)}, "NaN"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(4, int)}, "labels"),
    ({"x": np.zeros((3, 2), np.int64)}, "dtype int64"),
])
def test_bad_array_files_are_named(tmp_path, arrays, needle):
  np.savez(tmp_path / "bad.npz", **arrays)
  with pytest.raises(DataError, match=needle):
    images.load("array", path=str(tmp_path / "bad.npz"), data_dir=str(tmp_path / "t"))


def test_truncated_array_file_is_an_error(tmp_path):
  np.save(tmp_path / "a.npy", np.zeros((100, 8), np.float32))
  raw = (tmp_path / "a.npy").read_bytes()
  (tmp_path / "a.npy").write_bytes(raw[:len(raw) // 2])
  with pytest.raises(DataError, match="a.npy"):
    images.load("array", path=str(tmp_path / "a.npy"), data_dir=str(tmp_path / "t"))


def test_catalog_dataset_by_name_through_tfds_mock_data():
  with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
    data = images.load("tfds:mnist")
    assert data.num_examples == 6 and data.image_shape == (28, 28, 1)
    assert data.num_classes == 10
    x, y = data.read_all()
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (6,)


def test_unknown_catalog_dataset_is_a_clear_error(tmp_path):
  with pytest.raises(DataError, match="no_such_dataset_xyz"):
    images.load("tfds:no_such_dataset_xyz", data_dir=str(tmp_path))


# --- The pipeline ---------------------------------------------------------------------


def test_scale_pixels_maps_uint8_onto_minus_one_one():
  x = np.array([0, 255, 51], np.uint8)
  np.testing.assert_allclose(images.scale_pixels(jax.numpy.asarray(x)),
                             [-1.0, 1.0, 51 / 127.5 - 1], rtol=1e-6)
  f = np.array([0.25, -3.0], np.float32)
  np.testing.assert_array_equal(images.scale_pixels(jax.numpy.asarray(f)), f)


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("mnist")
  manual = write_idx_dataset(str(tmp / "raw"), n_train=50)
  return images.load("mnist", data_dir=str(tmp / "tfds"), manual_dir=manual)


@pytest.mark.parametrize("workers", [0, 2])
def test_device_and_host_pipelines_give_the_same_batches(small_mnist, workers):
  """grain's feed, in this process or in 2 worker processes, gives the device's batches."""
  key = jax.random.key(3)
  device = images.DeviceData(small_mnist, key, 2, 8)   # 16 per step: 3 steps per epoch
  batch = jax.jit(device.batch)
  host = pipeline.HostFeed(small_mnist, images.key_seed(key), 2, 8, start_step=1,
                           workers=workers, place=jax.device_put)
  try:
    for step in range(1, 8):                           # crosses two epoch boundaries
      fed_step, fed = next(host)
      assert fed_step == step
      want = batch(step, device.permutation(step))
      np.testing.assert_array_equal(np.asarray(fed["x"]), np.asarray(want["x"]))
      np.testing.assert_array_equal(np.asarray(fed["y"]), np.asarray(want["y"]))
      assert fed["x"].shape == (2, 8, 28, 28, 1) and fed["y"].shape == (2, 8)
      # Labels travel with their images (image i is filled with i, label i % 10).
      np.testing.assert_array_equal(np.asarray(fed["x"])[..., 0, 0, 0] % 10, fed["y"])
  finally:
    host.close()


def test_each_process_reads_its_own_rows_of_the_batch(small_mnist):
  seed = images.key_seed(jax.random.key(5))
  whole = pipeline.StepBatch(small_mnist, seed, 2, 8)
  halves = [pipeline.StepBatch(small_mnist, seed, 2, 8, rows=slice(i * 4, i * 4 + 4))
            for i in range(2)]
  for step in (0, 4):
    np.testing.assert_array_equal(
        np.concatenate([h(step)["x"] for h in halves], axis=1), whole(step)["x"])


def test_the_epoch_order_is_fixed_by_seed_and_epoch():
  a = pipeline.epoch_order((1, 2), 0, 1000)
  np.testing.assert_array_equal(np.sort(a), np.arange(1000))
  np.testing.assert_array_equal(a, pipeline.epoch_order((1, 2), 0, 1000))
  assert not np.array_equal(a, pipeline.epoch_order((1, 3), 0, 1000))
  assert not np.array_equal(a, pipeline.epoch_order((1, 2), 1, 1000))
  # Pinned: NumPy's SeedSequence and PCG64 permutation; a change would reorder every run.
  np.testing.assert_array_equal(pipeline.epoch_order((0, 7), 3, 8),
                                PINNED_ORDER_0_7_EPOCH_3)


def test_each_epoch_visits_distinct_examples_and_order_follows_the_seed(small_mnist):
  def epoch_ids(seed, epoch):
    device = images.DeviceData(small_mnist, jax.random.key(seed), 1, 16)
    ids = [np.asarray(device.batch(s, device.permutation(s))["x"])[0, :, 0, 0, 0]
           for s in range(3 * epoch, 3 * epoch + 3)]
    return np.concatenate(ids)
  first = epoch_ids(0, 0)
  assert len(set(first.tolist())) == 48                # no example twice in an epoch
  np.testing.assert_array_equal(first, epoch_ids(0, 0))  # same seed, same order
  assert not np.array_equal(first, epoch_ids(1, 0))    # another seed, another order
  assert not np.array_equal(first, epoch_ids(0, 1))    # reshuffled every epoch


_CLOSE_SCRIPT = """
import pickle, sys, jax
from jaxgan.data import pipeline
if __name__ == "__main__":
  data = pickle.load(open(sys.argv[1], "rb"))
  feed = pipeline.HostFeed(data, (0, 1), 1, 8, workers=1, place=jax.device_put)
  batches = [next(feed)[1] for _ in range(4)]
  feed.close()
  print(int(sum(b["x"].sum() for b in batches)))
"""


def test_a_closed_feed_leaves_no_shared_memory_behind(small_mnist, tmp_path):
  # Batches put on the device once aliased grain's shared memory, which then leaked.
  (tmp_path / "data.pkl").write_bytes(pickle.dumps(small_mnist))
  (tmp_path / "feed.py").write_text(_CLOSE_SCRIPT)
  done = subprocess.run([sys.executable, str(tmp_path / "feed.py"), str(tmp_path / "data.pkl")],
                        capture_output=True, text=True, timeout=120, env=FAST_ENV)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "leaked" not in done.stderr, done.stderr[-2000:]


def test_a_reader_error_reaches_the_consumer(small_mnist):
  class Broken:
    def __getitem__(self, i):
      raise OSError("disk gone")

    def __len__(self):
      return 50
  import dataclasses
  broken = dataclasses.replace(small_mnist, source=Broken())
  host = pipeline.HostFeed(broken, (0, 0), 1, 8)
  try:
    with pytest.raises(OSError, match="disk gone"):
      next(host)
  finally:
    host.close()


def test_too_small_a_dataset_for_one_step_is_named(small_mnist):
  with pytest.raises(DataError, match="fewer than the 64"):
    images.DeviceData(small_mnist, jax.random.key(0), 2, 32)


_PREPARE_TOGETHER = r"""
import os, sys, time
from jaxgan.data import images
root, go = sys.argv[1], sys.argv[2]
open(os.path.join(root, f"ready{os.getpid()}"), "w").close()
while not os.path.exists(go):
  time.sleep(0.005)
x, y = images.load("mnist", data_dir=os.path.join(root, "tfds"),
                   manual_dir=os.path.join(root, "raw")).read_all()
print("read", len(x), int(x.astype(int).sum()))
"""


def test_runs_started_together_prepare_a_dataset_once(tmp_path):
  # Two runs started at once on a fresh machine both find the dataset unprepared; without a
  # lock the second one's rename onto the first one's result fails (FileExistsError).
  write_idx_dataset(str(tmp_path / "raw"), gz=True)
  go = str(tmp_path / "go")
  procs = [subprocess.Popen([sys.executable, "-c", _PREPARE_TOGETHER, str(tmp_path), go],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=FAST_ENV) for _ in range(3)]
  while len([f for f in os.listdir(tmp_path) if f.startswith("ready")]) < 3:
    if any(p.poll() is not None for p in procs):  # one died importing: stop the others
      for p in procs:
        p.kill()
      pytest.fail(f"a process died before the start: {[p.communicate() for p in procs]}")
    time.sleep(0.05)  # leave the cores to the imports
  open(go, "w").close()
  outs = [p.communicate(timeout=300) for p in procs]
  assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outs]
  x, _ = images.load("mnist", data_dir=str(tmp_path / "tfds"),
                     manual_dir=str(tmp_path / "raw")).read_all()
  want = f"read {len(x)} {int(x.astype(int).sum())}"
  assert [out.strip().splitlines()[-1] for out, _ in outs] == [want] * 3
