"""The training set as a run sees it: a fixed subset (`--train_subset`), padding (`--pad_to`),
and the domain metrics of padded images cropped back to the classifier's 28 px."""

import hashlib
import os

import jax
import numpy as np
import pytest

from jaxgan.data import transforms
from jaxgan.data.image_data import ImageData
from jaxgan.data.readers import DataError
from jaxgan.runner.evaluation import DomainEvaluation
from jaxgan.metrics.classifier import WEIGHTS_DIR


def grey_set(n=50, size=28, seed=0):
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 256, (n, size, size, 1), dtype=np.uint8)
  labels = np.arange(n) % 10
  source = [{"image": im, "label": int(c)} for im, c in zip(images, labels)]
  return ImageData("fashion_mnist", source, n, (size, size, 1), np.dtype(np.uint8),
                   tuple(str(c) for c in range(10))), images, labels


def test_a_subset_is_the_same_rows_every_time_and_refuses_more_than_there_are():
  data, images, labels = grey_set()
  part = transforms.subset(data, 20)
  again = transforms.subset(data, 20)
  got, got_labels = part.read(range(20))
  np.testing.assert_array_equal(got, again.read(range(20))[0])
  rows = [next(i for i in range(50) if np.array_equal(images[i], g)) for g in got]
  assert len(set(rows)) == 20 and rows == sorted(rows) and rows != list(range(20))
  np.testing.assert_array_equal(got_labels, labels[rows])
  assert part.num_examples == 20 and part.image_shape == data.image_shape
  with pytest.raises(DataError, match="train_subset=51 .* has 50 examples"):
    transforms.subset(data, 51)


def test_held_out_examples_are_the_ones_the_subset_leaves_out():
  data, images, _ = grey_set()
  rows_of = lambda part: [next(i for i in range(50) if np.array_equal(images[i], g))
                          for g in part.read(range(part.num_examples))[0]]
  train, held = rows_of(transforms.subset(data, 20)), rows_of(transforms.held_out(data, 20, 30))
  assert sorted(train + held) == list(range(50))
  assert sorted(rows_of(transforms.held_out(data, 20, 10))) == sorted(
      set(rows_of(transforms.subset(data, 30))) - set(train))
  assert rows_of(transforms.held_out(data, 20, 10)) == held[:10]  # in the same order
  assert sorted(rows_of(transforms.held_out(data, 0, 50))) == list(range(50))
  with pytest.raises(DataError, match="31 held-out examples .* subset of 20: .* has 50"):
    transforms.held_out(data, 20, 31)


def test_padding_centres_each_image_on_zeros_and_keeps_its_label():
  data, images, labels = grey_set()
  wide = transforms.padded(data, 32)
  assert wide.image_shape == (32, 32, 1) and wide.num_examples == 50
  got, got_labels = wide.read([3, 7])
  np.testing.assert_array_equal(got[:, 2:30, 2:30], images[[3, 7]])
  outside = got.copy()
  outside[:, 2:30, 2:30] = 0
  assert not outside.any()
  np.testing.assert_array_equal(got_labels, labels[[3, 7]])
  np.testing.assert_array_equal(transforms.centre_crop(got, 28), images[[3, 7]])
  assert transforms.padded(data, 28) is data
  with pytest.raises(DataError, match="pad_to=20 is smaller than .* 28×28"):
    transforms.padded(data, 20)


def test_domain_metrics_of_padded_images_are_those_of_their_centres():
  data, images, _ = grey_set(n=200)
  scale = lambda x: x.astype(np.float32) / 127.5 - 1.0
  wide = transforms.padded(data, 32)
  weights = os.path.join(WEIGHTS_DIR, "fashion_mnist_classifier.npz")
  # A padded training set, compared with the unpadded reference (as --domain_reference=test).
  judge = DomainEvaluation(None, wide, 200, jax.random.key(0), weights, reference=data)
  padded_scores = judge.score(scale(wide.read(range(200))[0]))
  plain = DomainEvaluation(None, data, 200, jax.random.key(0), weights)
  plain_scores = plain.score(scale(images))
  assert padded_scores == plain_scores
  assert padded_scores["fd_fashion_mnist_classifier"] == pytest.approx(0.0, abs=1e-3)
  # Each score says how it was made: reference set and split, sizes, the weights' hash.
  protocol = padded_scores["domain_protocol"]
  with open(weights, "rb") as f:
    assert protocol["weights_sha256"] == hashlib.sha256(f.read()).hexdigest()
  assert protocol["weights_file"] == weights and protocol["generated"] == "200 images"
  assert protocol["reference"] == "fashion_mnist, split train: its first 200 images"
  test_split = DomainEvaluation(None, wide, 100, jax.random.key(0), weights, reference=data,
                                reference_split="test")
  assert test_split.score(scale(images[:100]))["domain_protocol"]["reference"] == (
      "fashion_mnist, split test: its first 100 images")
