"""benchmarks/timing.py: the runner's compiled step as the benchmarks time it."""

import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import timing
from jaxgan.runner.config import Config


def test_the_timed_step_carries_the_objectives_own_state():
  # LeCam keeps EMAs of D's logits in GANState.objective: the timed state must hold them.
  config = Config(dataset="ring8", lecam_weight=0.1, num_steps=10, batch_size=16, g_width=8,
                  d_width=8).validate()
  contestant = timing.jaxgan_contestant(config)
  assert contestant["flops"] > 0
  assert timing.rate(contestant["run"], 2) > 0


def test_synthetic_images_take_the_shape_and_classes_the_run_would_see():
  cifar = timing.synthetic_images(Config(dataset="cifar10").validate().data, 6, seed=1)
  assert (cifar.image_shape, cifar.num_classes, cifar.num_examples) == ((32, 32, 3), 10, 6)
  x, y = cifar.read(np.arange(6))
  assert x.dtype == np.uint8 and x.shape == (6, 32, 32, 3) and set(y) <= set(range(10))
  assert x.std() > 50  # random pixels, not a constant canvas
  padded = timing.synthetic_images(Config(dataset="fashion_mnist", pad_to=32).validate().data, 4)
  assert padded.image_shape == (32, 32, 1)
  assert not padded.read(np.arange(4))[0][:, :2].any()  # the canvas's zero border
  folder = Config(dataset="image_folder", data_path="unused", image_size=64, image_channels=3,
                  mirror=True).validate().data
  mirrored = timing.synthetic_images(folder, 3)
  assert (mirrored.image_shape, mirrored.num_classes, mirrored.num_examples) == ((64, 64, 3), 0,
                                                                                 6)
  x = mirrored.read(np.arange(6))[0]
  np.testing.assert_array_equal(x[3:], x[:3, :, ::-1])
  stacked = timing.synthetic_images(Config(dataset="stacked_fashion_mnist").validate().data, 5)
  assert (stacked.image_shape, stacked.num_classes) == ((28, 28, 3), 1000)
  base = timing.synthetic_images(Config(dataset="fashion_mnist").validate().data, 5)
  x, codes = stacked.read(np.arange(5))
  grey = base.read(np.arange(5))[0][..., 0]
  for image, code in zip(x, codes):  # every channel is a base image, labelled by its class
    rows = [int(np.flatnonzero((grey == image[..., c]).all(axis=(1, 2)))[0]) for c in range(3)]
    assert code == int(base.read(rows)[1] @ np.array([100, 10, 1]))


def test_the_timed_step_builds_conditional_players_for_labelled_data():
  # As the runner does: a conditional flagfile's players need the data's classes.
  config = Config(dataset="fashion_mnist", model="dcgan28", g_conditioning="concat",
                  d_conditioning="projection", num_steps=10, batch_size=8).validate()
  data = timing.synthetic_images(config.data, 16)
  assert timing.jaxgan_contestant(config, data)["flops"] > 0


def test_synthetic_images_name_a_dataset_of_unknown_shape():
  with pytest.raises(ValueError, match="'ring8'"):
    timing.synthetic_images(Config(dataset="ring8").validate().data, 4)


def test_the_bench_command_hands_a_training_flagfile_to_bench_flagfile():
  # Issue 21 names `benchmarks.bench` for StyleGAN2's s/kimg: given a training flagfile, it
  # is bench_flagfile (whose flags its help lists), not the DCGAN comparison.
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.bench",
       "--flagfile=experiments/configs/fashion_mnist_stylegan2_ada.flags", "--helpshort"],
      cwd=root, capture_output=True, text=True, timeout=120)
  shown = proc.stdout + proc.stderr
  assert "Timed windows of 16 steps" in shown and "--peak_tflops" in shown, shown[-2000:]
  assert "--contestants" not in shown
