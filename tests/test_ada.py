"""ADA (`jaxgan.views.ada_pipeline`, `views.ada`): each operation by what it does, the warp against
a plain loop, the controller on synthetic signals, and p surviving a killed run's resume."""

import math
import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import objective, views
from jaxgan.views import ada_pipeline
from jaxgan.runner.checkpoint import Checkpointer
from jaxgan.runner.config import Config
from jaxgan.parallel import Devices
from jaxgan.runner.train import train_and_evaluate
from conftest import read_records

KEY = jax.random.key(0)
# Compiled once per set of operations: eagerly, every small op of the pipeline compiles alone.
AUGMENT = jax.jit(ada_pipeline.augment, static_argnums=3)


def images(channels=3, batch=64, size=16, seed=1):
  return np.asarray(jax.random.uniform(jax.random.key(seed), (batch, size, size, channels),
                                       minval=-1, maxval=1))


def only(op, x, p=1.0, key=KEY):
  return np.asarray(AUGMENT(jnp.asarray(x), key, p, (op,)))


def test_the_pipeline_at_p_0_returns_the_images_exactly():
  for channels in (1, 3):
    x = images(channels)
    np.testing.assert_array_equal(
        np.asarray(AUGMENT(jnp.asarray(x), KEY, 0.0, ada_pipeline.OPS)), x)


def test_blits_at_p_1_flip_turn_and_shift_whole_pixels():
  x = images()
  flipped = only("xflip", x)
  kinds = [next(k for k, ref in enumerate((x[i], x[i, :, ::-1])) if np.array_equal(y, ref))
           for i, y in enumerate(flipped)]
  assert set(kinds) == {0, 1}  # each x-flipped or not, half and half
  turned = only("rotate90", x)
  kinds = [next(k for k in range(4) if np.array_equal(y, np.rot90(x[i], k, axes=(0, 1))))
           for i, y in enumerate(turned)]
  assert set(kinds) == {0, 1, 2, 3}
  # integer translation by up to round(16 / 8) = 2 pixels, the image mirrored at its edges
  padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
  shifted = only("xint", x)
  shifts = [next((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(y, padded[i, 2 - dy:18 - dy, 2 - dx:18 - dx]))
            for i, y in enumerate(shifted)]
  assert len(set(shifts)) > 10


def reference_warp(x, m):
  """Bilinear sampling at m · (column, row, 1), origin at the centre, edges mirrored: a loop."""
  b, h, w, c = x.shape
  reflect = lambda i, n: abs(i) % (2 * n - 2) if abs(i) % (2 * n - 2) < n else (
      2 * n - 2 - abs(i) % (2 * n - 2))
  out = np.zeros_like(x)
  for s in range(b):
    for r in range(h):
      for col in range(w):
        px, py, _ = m[s] @ [col - (w - 1) / 2, r - (h - 1) / 2, 1.0]
        sx, sy = px + (w - 1) / 2, py + (h - 1) / 2
        x0, y0 = math.floor(sx), math.floor(sy)
        fx, fy = sx - x0, sy - y0
        v = lambda yy, xx: x[s, reflect(yy, h), reflect(xx, w)]
        out[s, r, col] = ((1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x0 + 1))
                          + fy * ((1 - fx) * v(y0 + 1, x0) + fx * v(y0 + 1, x0 + 1)))
  return out


def test_the_warp_equals_a_plain_loop_on_a_non_square_image():
  x = np.random.default_rng(0).normal(size=(3, 6, 5, 2)).astype(np.float32)
  m = jax.jit(ada_pipeline.geometric, static_argnums=(1, 2, 3))(jax.random.key(3), 3, 6, 5, 1.0)
  got = np.asarray(jax.jit(ada_pipeline.warp)(jnp.asarray(x), m))  # every blit and geometric op
  np.testing.assert_allclose(got, reference_warp(x, np.asarray(m, np.float64)), atol=1e-5)


def test_geometric_draws_have_the_papers_form_and_spread():
  n = 8192
  geometric = jax.jit(ada_pipeline.geometric, static_argnums=(1, 2, 3, 5))
  draw = lambda op, p=1.0: np.asarray(geometric(KEY, n, 32, 32, p, (op,)), np.float64)
  scale = draw("scale")
  assert np.allclose(scale[:, 0, 0], scale[:, 1, 1]) and np.allclose(scale[:, 0, 1], 0)
  assert abs(np.std(np.log2(1 / scale[:, 0, 0])) - 0.2) < 0.01
  aniso = draw("aniso")
  np.testing.assert_allclose(aniso[:, 0, 0] * aniso[:, 1, 1], 1.0, rtol=1e-5)
  assert abs(np.std(np.log2(aniso[:, 1, 1])) - 0.2) < 0.01
  shift = draw("xfrac")
  assert abs(np.std(shift[:, :2, 2]) / 32 - 0.125) < 0.005
  # two rotations, each with probability 1 - sqrt(1 - p): at least one with probability p
  for p in (1.0, 0.5):
    turn = draw("rotate", p)
    np.testing.assert_allclose(turn[:, :2, :2] @ turn[:, :2, :2].transpose(0, 2, 1),
                               np.broadcast_to(np.eye(2), (n, 2, 2)), atol=1e-5)
    moved = np.mean(~np.isclose(turn[:, 0, 0], 1.0))
    assert abs(moved - p) < 0.02, (p, moved)


def chroma(x):
  return x - x.mean(-1, keepdims=True)


def test_colour_operations_at_p_1_do_what_they_say():
  x = images(3)
  luma = lambda y: y.mean(-1)
  bright = only("brightness", x)
  offset = (bright - x).reshape(64, -1)
  np.testing.assert_allclose(offset, offset[:, :1] * np.ones_like(offset), atol=1e-5)
  assert 0.15 < np.std(offset[:, 0]) < 0.25
  contrast = only("contrast", x)
  ratio = (contrast / x).reshape(64, -1)
  np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-4)
  flipped = only("lumaflip", x)
  np.testing.assert_allclose(chroma(flipped), chroma(x), atol=1e-5)
  signs = np.sign(luma(flipped).reshape(64, -1)[:, 0] / luma(x).reshape(64, -1)[:, 0])
  assert set(signs) == {-1.0, 1.0}
  hue = only("hue", x)
  np.testing.assert_allclose(luma(hue), luma(x), atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(chroma(hue), axis=-1),
                             np.linalg.norm(chroma(x), axis=-1), atol=1e-5)
  assert np.abs(chroma(hue) - chroma(x)).max() > 0.5
  grey = np.repeat(x[..., :1], 3, -1)
  np.testing.assert_allclose(only("hue", grey), grey, atol=1e-5)
  saturation = only("saturation", x)
  np.testing.assert_allclose(luma(saturation), luma(x), atol=1e-5)
  gain = (np.linalg.norm(chroma(saturation), axis=-1) / np.linalg.norm(chroma(x), axis=-1))
  gain = gain.reshape(64, -1)
  np.testing.assert_allclose(gain, gain[:, :1] * np.ones_like(gain), rtol=1e-3)
  assert abs(np.std(np.log2(gain[:, 0])) - 1.0) < 0.3


def test_one_channel_images_take_the_colour_ops_as_grey():
  x = images(1)
  flipped = only("lumaflip", x)
  kinds = [next(k for k, ref in enumerate((x[i], -x[i])) if np.allclose(y, ref, atol=1e-6))
           for i, y in enumerate(flipped)]
  assert set(kinds) == {0, 1}
  np.testing.assert_allclose(only("hue", x), x, atol=1e-5)  # grey has no hue
  np.testing.assert_allclose(only("saturation", x), x, atol=1e-5)
  with pytest.raises(ValueError, match="1 or 3 channels"):
    ada_pipeline.augment(jnp.zeros((2, 8, 8, 2)), KEY, 0.5)


def test_each_operation_takes_place_with_probability_p():
  x = images(3, batch=4096, size=8)
  changed = np.any(only("brightness", x, p=0.3) != x, axis=(1, 2, 3))
  assert abs(changed.mean() - 0.3) < 0.03


def test_the_pipeline_is_named_by_groups_or_operations():
  assert ada_pipeline.parse_ops("bgc") == ada_pipeline.OPS
  assert ada_pipeline.parse_ops("b") == ("xflip", "rotate90", "xint")
  assert ada_pipeline.parse_ops("hue,xflip") == ("xflip", "hue")
  with pytest.raises(ValueError, match="'blur'"):
    ada_pipeline.parse_ops("xflip,blur")


def test_the_controller_moves_p_up_on_overfitting_and_down_otherwise():
  devices = Devices()
  step = 64 * 4 / (0.5 * 1000)  # batch 64, interval 4, kimg 0.5: 0.512 per interval
  view = views.ada(target=0.6, interval=4, kimg=0.5)
  state = view.init()
  overfit = jnp.ones((64,))  # every real scored as real: r_t = 1
  for update in range(3):
    state = view.update(state, overfit, update, devices)
    assert float(state["p"]) == 0.0  # only every 4th update adjusts
  state = view.update(state, overfit, 3, devices)
  assert float(state["p"]) == pytest.approx(step) and float(state["rt"]) == 1.0
  for update in range(4, 8):
    state = view.update(state, overfit, update, devices)
  assert float(state["p"]) == 1.0  # clipped at 1
  healthy = jnp.where(jnp.arange(64) < 16, 1.0, -1.0)  # r_t = (16 - 48) / 64 = -0.5
  for update in range(8, 12):
    state = view.update(state, healthy, update, devices)
  assert float(state["p"]) == pytest.approx(1.0 - step) and float(state["rt"]) == -0.5
  fixed = views.ada(0.3)
  state = fixed.init()
  for update in range(4):
    state = fixed.update(state, overfit, update, devices)
  assert float(state["p"]) == pytest.approx(0.3) and float(state["rt"]) == 1.0
  assert fixed.logs(state) == {"aug/p": state["p"], "aug/rt": state["rt"]}


def test_p_0_shows_d_the_images_as_they_are():
  x = jnp.asarray(images(3, batch=4))
  view = views.ada(0.0)
  assert view.apply(x, KEY, 0, view.init()) is x


def test_p_and_the_image_count_survive_a_run_killed_at_a_random_step(monkeypatch, tmp_path):
  pixels = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
  np.savez(tmp_path / "d.npz", x=pixels)
  run = dict(dataset="array", data_path=str(tmp_path / "d.npz"), data_dir=str(tmp_path / "t"),
             model="mlp", g_width=8, d_width=8, batch_size=8, num_steps=12,
             log_every=1, eval_every=12, grid_size=4, checkpoint_every=4, tensorboard=False,
             augment="ada", ada_kimg=0.2, ada_interval=2, ada_target=0.0)  # p climbs
  whole = train_and_evaluate(Config(**run), str(tmp_path / "whole"))
  kill_at = random.choice([5, 6, 7, 9, 10, 11])

  class Killed(BaseException):
    pass

  from jaxgan.runner import train as train_lib
  write = train_lib.Records.train_step

  def write_then_die(self, step, metrics):
    write(self, step, metrics)
    if step == kill_at:
      raise Killed

  monkeypatch.setattr(train_lib.Records, "train_step", write_then_die)
  with pytest.raises(Killed):
    train_and_evaluate(Config(**run), str(tmp_path / "killed"))
  monkeypatch.undo()
  resumed = train_and_evaluate(Config(**run), str(tmp_path / "killed"))
  assert resumed["resumed_from_step"] == kill_at // 4 * 4, kill_at
  assert resumed["state_sha256"] == whole["state_sha256"], kill_at
  records = read_records(str(tmp_path / "whole"))
  assert read_records(str(tmp_path / "killed")) == records  # p, r_t and kimg at every step
  last = [r for r in records if "aug/p" in r][-1]
  assert last["kimg"] == 12 * 8 / 1000
  assert last["aug/p"] > 0.1  # it moved, and moved alike in both runs


def test_across_devices_p_moves_on_the_global_r_t_and_the_global_batch():
  # Two devices: one sees every real scored real (r_t 1), the other half (r_t 0). Alone the
  # second would hold p at 0; on the global r_t of 0.5 > 0.2 both raise p by one step of
  # the global batch (2 × 8 images).
  view = views.ada(target=0.2, interval=1, kimg=0.1)
  logits = jnp.stack([jnp.ones((8,)), jnp.where(jnp.arange(8) < 4, 1.0, -1.0)])
  state = jax.vmap(lambda l: view.update(view.init(), l, 0, Devices("d")), axis_name="d")(logits)
  np.testing.assert_allclose(state["p"], [16 / 100] * 2, rtol=1e-6)
  np.testing.assert_allclose(state["rt"], [0.5, 0.5])


def test_a_scheduled_p_is_the_schedule_at_each_step_whatever_r_t_says():
  from jaxgan import schedules  # pylint: disable=g-import-not-at-top
  view = views.ada(schedules.grow(0.3, "cosine", 100))
  state, overfit = view.init(), jnp.ones((8,))
  assert float(state["p"]) == 0.0
  for step, want in ((0, 0.0), (50, 0.15), (100, 0.3)):
    state = view.update(state, overfit, 4 * step + 3, Devices(), step=step)
    assert float(state["p"]) == pytest.approx(want, abs=1e-6)   # not the controller's step
  x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 3), minval=-1, maxval=1)
  np.testing.assert_array_equal(view.apply(x, jax.random.key(1), 0, state), x)  # p(0) = 0
  assert not np.array_equal(view.apply(x, jax.random.key(1), 100, state), x)
  with pytest.raises(ValueError, match="augment_growth='cosine' with an adaptive ADA"):
    objective.build(augment="ada", augment_growth="cosine")
  with pytest.raises(ValueError, match=r"augment_growth='cosine' with an adaptive ADA \(ada_p"):
    Config(dataset="fashion_mnist", model="dcgan28", augment="ada",
           augment_growth="cosine").validate()
