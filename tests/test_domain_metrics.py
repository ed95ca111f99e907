"""The domain classifier and the metrics named after it, against hand values."""

import math

import jax
import numpy as np
import pytest

from jaxgan.metrics import classifier, domain


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
