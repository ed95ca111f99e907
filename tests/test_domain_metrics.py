"""The domain classifier and the metrics named after it, against hand values."""

import math

import jax
import numpy as np
import pytest

from jaxgan.runner import factories, runs
from jaxgan.runner.config import Config
from jaxgan.data import images
from jaxgan.metrics import classifier, domain
from conftest import write_idx_dataset


def test_class_histogram_kl_coverage_and_conditional_accuracy_by_hand():
  probs = np.eye(4)[[0, 0, 1, 1, 1, 1, 2, 2]]  # classes 0, 1, 2 get 1/4, 1/2, 1/4; 3 none
  shares = domain.class_histogram(probs)
  np.testing.assert_allclose(shares, [0.25, 0.5, 0.25, 0.0])
  uniform = np.full(4, 0.25)
  expected = 0.25 * math.log(1) + 0.5 * math.log(2) + 0.25 * math.log(1)  # 0 log 0 = 0
  assert domain.kl(shares, uniform) == pytest.approx(expected)
  with pytest.raises(ValueError, match="infinite"):
    domain.kl(uniform, shares)
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(40, 3)), rng.normal(size=(8, 3))
  result = domain.domain_metrics("toy", real, fake, probs, uniform, jax.random.key(0),
                                 requested=np.array([0, 1, 1, 1, 2, 2, 2, 3]))
  # Classes 0, 1, 2 reach half their data share (1/8); class 3 does not.
  assert result["classes_covered"] == 3 and result["class_kl"] == pytest.approx(expected)
  # Predicted 0 0 1 1 1 1 2 2 against requested 0 1 1 1 2 2 2 3: samples 0, 2, 3, 6 agree.
  assert result["conditional_accuracy"] == pytest.approx(4 / 8)
  assert {"fd_toy", "kid_toy", "kid_toy_std"} <= set(result) and "fid" not in result


def test_per_class_fd_compares_each_class_with_its_own_real_images():
  """Each class's FD is that of its own two sets: here the samples asked for class c are the
  real images of class c moved by shift_c along one axis, so their covariances are equal and
  FD_c = shift_c² exactly, where the pooled FD or a swapped pairing would give other values."""
  rng = np.random.default_rng(0)
  k, n, dim = 3, 400, 2
  shifts = np.array([0.0, 1.0, 3.0])
  real_labels = np.repeat(np.arange(k), n)
  real = rng.normal(size=(k * n, dim)) + 4.0 * real_labels[:, None] * np.eye(dim)[0]
  order = rng.permutation(k * n)  # the samples in another order than the real images
  requested = real_labels[order]
  fake = (real + shifts[real_labels][:, None] * np.eye(dim)[0])[order]
  probs = np.eye(k)[requested]
  result = domain.domain_metrics("toy", real, fake, probs, np.full(k, 1 / k), jax.random.key(0),
                                 requested=requested, real_labels=real_labels)
  np.testing.assert_allclose(result["fd_toy_per_class"], shifts ** 2, atol=1e-3)
  assert result["intra_fd_toy"] == pytest.approx(np.mean(result["fd_toy_per_class"]))
  for c in range(k):  # each entry is the FD of that class's two sets, nothing pooled
    assert result["fd_toy_per_class"][c] == pytest.approx(
        domain.fd_of(real[real_labels == c], fake[requested == c]), abs=1e-4)
  # A class the samples never asked for has no FD: said, not a number.
  few = domain.domain_metrics("toy", real, fake[requested != 2], probs[requested != 2],
                              np.full(k, 1 / k), jax.random.key(0),
                              requested=requested[requested != 2], real_labels=real_labels)
  assert few["fd_toy_per_class"] == ("unavailable: class 2 has 400 real and 0 generated "
                                     "samples: its FD needs at least 2 of each")
  assert "intra_fd_toy" not in few
  # Unconditional scoring (no requested classes) reports none.
  assert "fd_toy_per_class" not in domain.domain_metrics(
      "toy", real, fake, probs, np.full(k, 1 / k), jax.random.key(0), real_labels=real_labels)


def test_classifier_learns_a_separable_toy_task_and_its_file_round_trips(tmp_path):
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 512)
  images = (rng.uniform(-0.2, 0.2, (512, 28, 28, 1))
            + np.where(labels == 1, 0.5, -0.5)[:, None, None, None]).astype(np.float32)
  params, accuracy = classifier.train(images[:384], labels[:384], images[384:], labels[384:],
                                      num_classes=2, epochs=2, batch_size=64, log=lambda m: None)
  assert accuracy == 1.0
  path = str(tmp_path / "c.npz")
  classifier.save(path, params, {"dataset": "toy", "test_accuracy": accuracy})
  loaded, meta = classifier.load(path)
  jax.tree.map(np.testing.assert_array_equal, loaded, jax.tree.map(np.asarray, params))
  assert meta["dataset"] == "toy" and meta["sha256"] == classifier.digest(params)
  features, probs = classifier.predict(loaded, images[384:], num_classes=2)  # compiled shape
  assert features.shape == (128, classifier.FEATURES) and probs.shape == (128, 2)
  np.testing.assert_array_equal(np.argmax(probs, axis=1), labels[384:])
  with np.load(path) as f:
    damaged = dict(f)
  damaged["Dense_1/bias"] = damaged["Dense_1/bias"] + 1
  np.savez(tmp_path / "bad.npz", **damaged)
  with pytest.raises(ValueError, match="do not match the SHA-256"):
    classifier.load(str(tmp_path / "bad.npz"))
  with pytest.raises(FileNotFoundError, match="train_classifier"):
    classifier.load(str(tmp_path / "none.npz"))


def test_real_images_are_scored_as_the_runs_samples(tmp_path):
  """`runs.score_real_images`: the run's training subset repeated in order, and the images
  the subset leaves out, each scored by the run's own domain scorer (test-split reference)."""
  config = Config(dataset="fashion_mnist", data_dir=str(tmp_path / "tfds"),
                  manual_dir=write_idx_dataset(str(tmp_path / "raw")), train_subset=5,
                  pad_to=32, domain_samples=12, domain_reference="test").validate()
  scores = runs.score_real_images(config)
  # The subset and the held-out rows by hand: the first 5 of seed 0's permutation, the next
  # 12; the value each row's image is filled with, as the prepared dataset stores them.
  order = np.random.default_rng(0).permutation(24)
  value = images.load("fashion_mnist", data_dir=config.data.data_dir).read_all()[0][:, 0, 0, 0]
  subset, held = value[np.sort(order[:5])], value[order[5:17]]
  as_run = lambda values: np.pad(  # image i is filled with i; [-1, 1], padded with -1 to 32
      np.repeat(values.astype(np.float32) / 127.5 - 1, 28 * 28).reshape(-1, 28, 28, 1),
      ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
  scorer = factories.domain_scorer(config.evaluation, config.data, None,
                                   factories.load_images(config.data),
                                   jax.random.split(jax.random.key(0), 3)[2])
  assert scorer.reference_split == "test"
  for name, values in (("training", subset[np.arange(12) % 5]), ("held_out", held)):
    expected = scorer.score(as_run(values))
    assert scores[name]["fd_fashion_mnist_classifier"] == pytest.approx(
        expected["fd_fashion_mnist_classifier"], rel=1e-6)
    assert scores[name]["class_shares"] == expected["class_shares"]
  assert scores["training"]["fd_fashion_mnist_classifier"] != pytest.approx(
      scores["held_out"]["fd_fashion_mnist_classifier"], rel=1e-3)
  assert set(runs.score_real_images(config.replace(train_subset=0))) == {"training"}
  with pytest.raises(ValueError, match="ring8 is a 2D mixture"):
    runs.score_real_images(Config(dataset="ring8").validate())
