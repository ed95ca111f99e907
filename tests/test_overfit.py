"""D's memorising measured with held-out real images (`jaxgan.metrics.overfit`,
`experiments.overfit`)."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgan.views import ada_pipeline
from jaxgan.runner import factories
from jaxgan.sample import sample_batches
from jaxgan.metrics import overfit
from jaxgan.players import as_player
from jaxgan.runner.runs import probe_overfit, restore_run
from jaxgan.sample import make_sample_fn
from conftest import FAST_ENV, read_records, tiny_stylegan2_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.xdist_group("overfit")  # one worker trains the fixture's run, once


def test_auc_is_the_pairwise_win_rate_with_ties_counting_half():
  rng = np.random.default_rng(0)
  pos, neg = rng.integers(0, 6, 40).astype(float), rng.integers(0, 6, 30).astype(float)
  pairwise = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
  assert overfit.auc(pos, neg) == pytest.approx(pairwise, abs=1e-12)
  assert overfit.auc([3.0, 4.0], [1.0, 2.0]) == 1.0 and overfit.auc([1.0], [1.0]) == 0.5


def test_the_summary_of_hand_made_logits():
  train, held, fake = np.array([2., 3., -1., 4.]), np.array([1., -2., -3., .5]), np.array(
      [-1., -4.])
  got = overfit.summarise(train, held, fake)
  assert got == pytest.approx({
      "overfit_train_logit": 2.0, "overfit_held_logit": -0.875, "overfit_fake_logit": -2.5,
      "overfit_rt": 0.5, "overfit_rv": 0.0,
      # train over held: 2 > 1, -2, -3, .5 (4); 3 (4); -1 > -2, -3 (2); 4 (4): 14 of 16
      "overfit_auc_train_held": 14 / 16,
      # held over fake: 1 (2); -2 > -4 (1); -3 > -4 (1); .5 (2): 6 of 8
      "overfit_auc_held_fake": 6 / 8})


def test_copying_by_hand_and_its_two_ends():
  # 1-pixel images: fakes 0.1, 0.9 and 0.5 against training {0, 1} and held-out {0.3, 0.45}.
  got = overfit.copying(np.array([[.1], [.9], [.5]]), np.array([[0.], [1.]]),
                        np.array([[.3], [.45]]))
  assert got == pytest.approx({"copy_share": 2 / 3, "copy_images": 3,  # 0.1, 0.9: train
                               "copy_d_train": (.1 + .1 + .5) / 3,
                               "copy_d_held": (.2 + .45 + .05) / 3})
  rng = np.random.default_rng(0)
  train, held, other = (rng.normal(size=(400, 16)) for _ in range(3))
  assert overfit.copying(other, train, held)["copy_share"] == pytest.approx(0.5, abs=0.06)
  near = lambda x: x + 0.01 * rng.normal(size=x.shape)
  assert overfit.copying(near(train), train, held)["copy_share"] == 1.0
  assert overfit.copying(near(held), train, held)["copy_share"] == 0.0
  pixels = rng.integers(0, 256, (5, 4, 4, 1), dtype=np.uint8)  # scaled to [-1, 1] alike
  assert overfit.copying(pixels, pixels, pixels[::-1] // 2)["copy_d_train"] == 0.0
  with pytest.raises(ValueError, match="as many training as held-out images.*got 2, 3"):
    overfit.copying(train[:1], train[:2], held[:3])


@pytest.fixture(scope="module")
def limited_run(tmp_path_factory):
  """Three steps of a tiny StyleGAN2 (minibatch stddev in D) on 8 of 24 random images; G's
  learning rate large enough that its EMA (decay 0.999) and raw samples differ clearly."""
  return tiny_stylegan2_run(tmp_path_factory.mktemp("overfit"), 24, 1, train_subset=8,
                            num_steps=3, eval_every=3, checkpoint_every=1, overfit_images=9,
                            g_lr=0.02)


def test_the_probe_scores_the_training_subset_against_the_images_it_left_out(limited_run):
  workdir, pixels = limited_run
  records = probe_overfit(workdir, steps=[2, 3], num=8, seed=5)
  assert [r["step"] for r in records] == [2, 3] and records[0]["overfit_images"] == 8
  run = restore_run(workdir, 3)
  train, held = run.data.read(range(8))[0], factories.load_held_out(run.config.data, 8).read(
      range(8))[0]
  row = lambda image: next(i for i in range(24) if np.array_equal(pixels[i], image))
  assert len({row(x) for x in train} | {row(x) for x in held}) == 16  # 8 + 8, none shared
  d = as_player(run.discriminator)

  def logits(x):  # by hand, in D's training batch of 4; pixels scaled to [-1, 1]
    x = x.astype(np.float32) / 127.5 - 1 if x.dtype == np.uint8 else x
    return np.concatenate([np.asarray(d.apply(run.state.d_params, run.state.d_state,
                                              x[i:i + 4], None, False)[0]).reshape(-1)
                           for i in range(0, 8, 4)])

  sample = make_sample_fn(run.generator)
  fake = np.concatenate([np.asarray(sample(run.state, jax.random.fold_in(jax.random.key(5), i),
                                           4, use_ema=False)) for i in (0, 4)])
  want = overfit.summarise(logits(train), logits(held), logits(fake))
  assert records[1] == pytest.approx({"step": 3, "overfit_images": 8, **want}, abs=1e-6)
  assert records[0]["overfit_train_logit"] != records[1]["overfit_train_logit"]
  # The run measured the same at its evaluation of step 3 (`--overfit_images=9`: 8, two
  # batches), but on samples of its own evaluation key.
  evaluation = next(r for r in read_records(workdir) if "eval/overfit_rt" in r)
  assert evaluation["step"] == 3 and evaluation["eval/overfit_images"] == 8
  for name in ("train_logit", "held_logit", "rt", "rv", "auc_train_held"):
    assert evaluation[f"eval/overfit_{name}"] == pytest.approx(want[f"overfit_{name}"],
                                                                abs=1e-6)
  assert evaluation["eval/overfit_fake_logit"] != pytest.approx(want["overfit_fake_logit"])
  with pytest.raises(ValueError, match="12 images do not split into batches of 8"):
    overfit.d_logits(run.discriminator, run.state.d_params, run.state.d_state,
                     np.concatenate([train, held[:4]]), None, batch=8)


def test_augmented_signs_are_d_on_ada_s_pipeline_at_p(limited_run):
  workdir, _ = limited_run
  records = probe_overfit(workdir, steps=[3], num=8, seed=5, augment_p=[0.0, 0.5])
  clean, half = records[0]["overfit_augmented"]
  assert clean == {"p": 0.0, "rt": records[0]["overfit_rt"], "rv": records[0]["overfit_rv"]}
  run = restore_run(workdir, 3)
  d, ops = as_player(run.discriminator), ada_pipeline.parse_ops(run.config.objective.ada_pipeline)
  key = jax.random.fold_in(jax.random.key(5), 7)

  def rt(x):  # by hand: four draws of the pipeline over D's training batches of 4
    x = x.astype(np.float32) / 127.5 - 1
    signs = [np.sign(np.asarray(d.apply(
        run.state.d_params, run.state.d_state,
        ada_pipeline.augment(x[i:i + 4],
                             jax.random.fold_in(jax.random.fold_in(key, draw), i // 4), 0.5,
                             ops), None, False)[0]))
             for draw in range(4) for i in (0, 4)]
    return float(np.mean(signs))

  train, held = run.data.read(range(8))[0], factories.load_held_out(run.config.data, 8).read(
      range(8))[0]
  assert half == pytest.approx({"p": 0.5, "rt": rt(train), "rv": rt(held)}, abs=1e-9)
  assert (half["rt"], half["rv"]) != (clean["rt"], clean["rv"])  # the pipeline did move D
  with pytest.raises(ValueError, match=r"must be in \[0, 1\], got \[1.5\]"):
    probe_overfit(workdir, steps=[3], num=8, augment_p=[0.5, 1.5])


def test_the_probe_measures_copying_on_ema_samples(limited_run):
  """G's copying: 7 EMA samples from fold_in(key(5), 8) against the first 7 training and
  7 held-out images."""
  workdir, _ = limited_run
  copied = probe_overfit(workdir, steps=[3], num=7, seed=5, copying=True)[0]
  run = restore_run(workdir, 3)
  train, held = run.data.read(range(7))[0], factories.load_held_out(run.config.data, 7).read(
      range(7))[0]
  samples = lambda ema: np.concatenate([np.asarray(x) for x, _ in sample_batches(
      make_sample_fn(run.generator), run.state, jax.random.fold_in(jax.random.key(5), 8), 7,
      run.config.run.batch_size, use_ema=ema)])
  expected = overfit.copying(samples(True), train, held)
  assert {k: v for k, v in copied.items() if k.startswith("copy_")} == pytest.approx(expected)
  assert overfit.copying(samples(False), train, held) != pytest.approx(expected, rel=1e-3)


def test_the_command_prints_the_table_and_merges_its_records_by_step(limited_run):
  workdir, _ = limited_run
  overfit.save(workdir, [{"step": 1, "old": True}, {"step": 3, "old": True}])
  done = subprocess.run([sys.executable, "-m", "experiments.overfit", f"--workdir={workdir}",
                         "--steps=3", "--num=8", "--augment_p=0.5", "--copying"], cwd=ROOT,
                        env=FAST_ENV, capture_output=True, text=True, timeout=240, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "| step | D(train) | D(held out) | D(G(z)) | r_t | r_v |" in done.stdout
  with open(os.path.join(workdir, "overfit.json"), encoding="utf-8") as f:
    saved = json.load(f)
  assert [(r["step"], "old" in r) for r in saved] == [(1, True), (3, False)]
  assert f"| 3 | {saved[1]['overfit_train_logit']:.3f} |" in done.stdout
  assert ("| step | share nearer a training image |" in done.stdout and
          f"| 3 | {saved[1]['copy_share']:.3f} | {saved[1]['copy_d_train']:.4f} |" in done.stdout)
  augmented = saved[1]["overfit_augmented"][0]
  assert ("| step | p | r_t | r_v |" in done.stdout and f"| 3 | 0.500 | {augmented['rt']:.3f} | "
          f"{augmented['rv']:.3f} |" in done.stdout)
  bad = subprocess.run([sys.executable, "-m", "experiments.overfit", f"--workdir={workdir}",
                        "--steps=3x"], cwd=ROOT, env=FAST_ENV, capture_output=True,
                       text=True, timeout=240, check=False)
  assert bad.returncode != 0 and "--steps=3x is not a list of integers" in bad.stderr
