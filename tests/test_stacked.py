"""Stacked (Fashion-)MNIST: the dataset's construction and the 1000-mode count by hand."""

import math
import os

import numpy as np
import pytest

from jaxgan.data import images, stacked


def base_data(n=30):
  """A 10-class grey dataset whose image i is filled with the value i, label i % 10."""
  source = [{"image": np.full((28, 28, 1), i, np.uint8), "label": i % 10} for i in range(n)]
  return images.ImageData(name="toy", source=source, num_examples=n, image_shape=(28, 28, 1),
                          dtype=np.dtype(np.uint8), class_names=tuple("0123456789"))


def test_each_example_stacks_three_base_images_and_is_labelled_by_their_classes():
  data = stacked.stacked("stacked_toy", base_data())
  assert data.image_shape == (28, 28, 3) and data.num_classes == 1000
  assert data.num_examples == 30
  x, y = data.read([0, 7, 29])
  triples = stacked.StackedSource(base_data()).triples[[0, 7, 29]]
  for image, label, (r, g, b) in zip(x, y, triples):
    assert [image[0, 0, c] for c in range(3)] == [r, g, b]  # image i is filled with i
    assert label == 100 * (r % 10) + 10 * (g % 10) + (b % 10)
  # The triples are fixed by the dataset's seed: two openings give the same examples.
  np.testing.assert_array_equal(stacked.stacked("s", base_data()).read([3])[0], data.read([3])[0])
  with pytest.raises(ValueError, match="grey 10-class"):
    stacked.StackedSource(images.ImageData("rgb", [], 0, (28, 28, 3), np.dtype(np.uint8), ()))


def test_mode_count_and_kl_by_hand():
  classes = np.array([[1, 2, 3], [1, 2, 3], [0, 0, 0], [9, 9, 9]])  # modes 123 (twice), 0, 999
  result = stacked.mode_counts(classes)
  q = np.array([0.5, 0.25, 0.25])
  assert result["stacked_modes"] == 3 and result["stacked_samples"] == 4
  assert result["stacked_kl"] == pytest.approx(float(np.sum(q * np.log(q * 1000))))
  # The channels' marginals: R is 1 (1/2), 0, 9; G 2 (1/2), 0, 9; B 3 (1/2), 0, 9, each
  # 1/2, 1/4, 1/4, so each channel's KL to uniform over 10 is the same number.
  per_channel = 0.5 * math.log(5) + 2 * 0.25 * math.log(2.5)
  assert result["stacked_kl_channels"] == pytest.approx(3 * per_channel)
  # Channels that differ: R always 0 (KL log 10), G and B each uniform over 4 classes.
  uneven = stacked.mode_counts(np.array([[0, 0, 0], [0, 1, 1], [0, 2, 2], [0, 3, 3]]))
  assert uneven["stacked_kl_channels"] == pytest.approx(math.log(10) + 2 * math.log(2.5))
  every = np.array([[m // 100, m // 10 % 10, m % 10] for m in range(1000)])
  np.testing.assert_array_equal(stacked.channels_of(np.arange(1000)), every)
  assert stacked.mode_counts(every) == {"stacked_modes": 1000, "stacked_kl": pytest.approx(0.0),
                                        "stacked_kl_channels": pytest.approx(0.0),
                                        "stacked_samples": 1000}
  assert stacked.uniform_kl_floor(26_000) == pytest.approx(999 / 52_000)


def test_the_domain_evaluation_labels_each_channel_as_a_grey_image_and_counts_modes():
  from jaxgan.runner.evaluation import DomainEvaluation
  from jaxgan.metrics import classifier
  weights = os.path.join(classifier.WEIGHTS_DIR, "fashion_mnist_classifier.npz")
  rng = np.random.default_rng(0)
  grey = rng.uniform(-1, 1, (60, 28, 28, 1)).astype(np.float32)
  grey *= rng.uniform(0, 1, (60, 1, 28, 1)) > np.linspace(0, 1, 60)[:, None, None, None]
  alone = np.argmax(classifier.predict(classifier.load(weights)[0], grey)[1], axis=1)
  assert len(set(alone)) >= 3  # the images are told apart, so the channels' order matters
  fake = np.concatenate([grey[0::3], grey[1::3], grey[2::3]], axis=-1)  # (20, 28, 28, 3)
  rgb = images.ImageData("stacked_fashion_mnist", [], 0, (28, 28, 3), np.dtype(np.uint8), ())
  judge = DomainEvaluation(None, rgb, 20, None, weights)
  np.testing.assert_array_equal(judge.stacked_classes(fake), alone.reshape(20, 3))
  assert judge.score(fake) == stacked.mode_counts(alone.reshape(20, 3))


def test_the_kl_splits_into_the_channels_marginals_and_their_dependence():
  # Every channel uniform but B a copy of R: the marginals carry no KL, and the dependence
  # is I(R; B) = log 10.
  every = np.array([[m // 100, m // 10 % 10, m % 10] for m in range(1000)])
  copied = every.copy()
  copied[:, 2] = copied[:, 0]
  result = stacked.mode_counts(copied)
  assert result["stacked_modes"] == 100 and result["stacked_kl_channels"] == pytest.approx(0.0)
  assert result["stacked_kl"] == pytest.approx(math.log(10))
  # Independent channels: the KL is the marginals' alone (up to sampling, so draw exactly:
  # each channel's classes in fixed proportions p, every combination in proportion).
  p = np.array([4, 2, 1, 1, 1, 1, 1, 1, 1, 1]) / 14
  weights = (p[every[:, 0]] * p[every[:, 1]] * p[every[:, 2]] * 14 ** 3).round().astype(int)
  balanced = np.repeat(every, weights, axis=0)
  result = stacked.mode_counts(balanced)
  marginal = float(np.sum(p * np.log(p * 10)))
  assert result["stacked_kl_channels"] == pytest.approx(3 * marginal)
  assert result["stacked_kl"] == pytest.approx(3 * marginal)
