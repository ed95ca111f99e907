"""Several steps per compiled call (`steps_per_call`): on the 2D mixtures the same run as one
step per call to rounding, resumable bit for bit, and a NaN named at its own step; on
device-resident images the same, with a call crossing an epoch's end."""

import os

import chex
import jax
import numpy as np
import pytest

import jaxgan
from jaxgan.runner.checkpoint import Checkpointer
from jaxgan.runner.config import Config
from jaxgan.data import images
from jaxgan.data.feeds import device_advance, make_device_train_fn
from jaxgan.runner.train import NonFiniteError, train_and_evaluate
from jaxgan.runner.factories import players_and_optimizers, objective_of
from conftest import poison_real_batch, read_records, train_records

# One worker builds the shared run (under `--dist loadgroup`), not each worker its own.
pytestmark = pytest.mark.xdist_group("steps_per_call")

RUN = dict(dataset="ring8", num_steps=30, batch_size=16, g_width=8, d_width=8, log_every=10,
           eval_every=12, eval_samples=100, checkpoint_every=10, tensorboard=False)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
  """A whole 30-step run at 2 steps per call: (workdir, summary)."""
  workdir = str(tmp_path_factory.mktemp("two") / "w")
  return workdir, train_and_evaluate(Config(**RUN, steps_per_call=2), workdir)


def test_two_steps_per_call_is_the_same_run_as_one_to_rounding(two, tmp_path):
  train_and_evaluate(Config(**RUN), str(tmp_path / "one"))
  one, twos = read_records(str(tmp_path / "one")), read_records(two[0])
  assert [r["step"] for r in twos] == [r["step"] for r in one] == [10, 12, 20, 24, 30, 30]
  for a, b in zip(one, twos):
    assert a.keys() == b.keys()
    for key, value in a.items():
      if isinstance(value, (int, float)):
        np.testing.assert_allclose(b[key], value, rtol=1e-4, atol=1e-6, err_msg=key)
      else:
        assert b[key] == value, key


def test_a_run_of_two_steps_per_call_resumes_bit_for_bit(two, tmp_path):
  workdir = str(tmp_path / "parts")
  train_and_evaluate(Config(**{**RUN, "num_steps": 20}, steps_per_call=2), workdir)
  parts = train_and_evaluate(Config(**RUN, steps_per_call=2), workdir)
  assert parts["resumed_from_step"] == 20
  assert parts["state_sha256"] == two[1]["state_sha256"]
  assert train_records(workdir) == train_records(two[0])


def test_a_nan_inside_a_call_is_named_at_its_own_step(monkeypatch, tmp_path):
  # The real batch of step 23, the first of the call of steps 23-24, is NaN.
  poison_real_batch(monkeypatch, 23)
  workdir = str(tmp_path / "w")
  with pytest.raises(NonFiniteError, match=r"non-finite d/loss, .* at step 23; the checkpoint "
                                           r"of step 20 in .* is the last good one"):
    train_and_evaluate(Config(**RUN, steps_per_call=2), workdir)
  assert Checkpointer(os.path.join(workdir, "checkpoints")).steps() == [10, 20]


def test_image_calls_cross_an_epoch_like_one_step_per_call(players):
  # Six 4x4 images in batches of 2: an epoch is 3 steps, so the call of steps 2-3 (from 0)
  # spans two epochs. Image i holds the value 40 i: another batch gives other logits.
  pixels = (40 * np.arange(6, dtype=np.uint8))[:, None, None, None] * np.ones((1, 4, 4, 1),
                                                                             np.uint8)
  data = images.ImageData("toy", [{"image": p, "label": 0} for p in pixels], 6, (4, 4, 1),
                          np.dtype(np.uint8), ())
  config = Config(dataset="mnist", model="mlp", g_width=8, d_width=8, g_depth=1, d_depth=1,
                  batch_size=2)
  G, D, g_tx, d_tx = players_and_optimizers(config, data.image_shape, 0, pixels=True)
  step = jaxgan.make_train_step(G, D, g_tx, d_tx, objective_of(config.objective, config.horizon),
                                **config.step.settings(config.horizon, config.run.batch_size))
  init = jaxgan.create_state(0, G, D, g_tx, d_tx, {"x": np.zeros((2, 4, 4, 1), np.float32)})
  device = images.DeviceData(data, jax.random.key(1), 1, 2)
  first, second = device.permutation(0), device.permutation(3)
  assert set(np.asarray(first[:2])) != set(np.asarray(second[:2]))  # the epochs differ
  runs = []
  for n in (1, 2):
    advance = device_advance(make_device_train_fn(step, device, steps_per_call=n), device, n)
    state, logits = init, []
    for start in range(0, 6, n):
      state, metrics = advance(state, start)
      logits.append(np.asarray(metrics["d/real_logit"]).reshape(-1))
    runs.append((state, np.concatenate(logits)))
  np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-5)  # the same batch, step by step
  chex.assert_trees_all_close(runs[1][0], runs[0][0], rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="steps_per_call=4 is not accepted: one epoch of this "
                                       "dataset holds 3 steps"):
    make_device_train_fn(step, device, steps_per_call=4)


@pytest.mark.parametrize("fields, message", [
    (dict(dataset="mnist", model="dcgan28", data_placement="host"),
     "steps_per_call=2 is not accepted with data_placement=host"),
    (dict(log_every=15), "log_every=15 is not a multiple of steps_per_call=2"),
    (dict(num_steps=33), "num_steps=33 is not a multiple of steps_per_call=2"),
    (dict(steps_per_call=0), "steps_per_call=0 is not accepted"),
])
def test_steps_per_call_that_cannot_work_is_refused(fields, message):
  with pytest.raises(ValueError, match=message):
    Config(**{**RUN, "steps_per_call": 2, **fields}).validate()
