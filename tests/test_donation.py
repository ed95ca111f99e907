"""The train functions donate the state when asked (the runner asks): the old state's
buffers are reused, the result is the same bit for bit, and nothing else is donated."""

import jax
import numpy as np
import pytest

import jaxgan
from jaxgan.runner import train as train_lib
from jaxgan.runner.config import Config
from jaxgan.data import feeds, mixtures


def _leaves(state):
  return jax.tree.leaves(state)


def _numpy(leaf):
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    leaf = jax.random.key_data(leaf)
  return np.asarray(leaf)


def test_a_donating_train_fn_gives_the_same_state_and_frees_the_old_one(players):
  generator, discriminator, g_tx, d_tx = players
  step = jaxgan.make_train_step(generator, discriminator, g_tx, d_tx, ema_decay=0.9)
  sample = {"x": np.zeros((8, 2), np.float32)}
  kept, given = (jaxgan.create_state(0, generator, discriminator, g_tx, d_tx, sample)
                 for _ in range(2))
  fns = [feeds.make_mixture_train_fn(step, mixtures.get("ring8"), jax.random.key(1), 1, 8,
                                     donate=donate) for donate in (False, True)]
  plain, _ = fns[0](kept)
  donated, _ = fns[1](given)
  donated, _ = fns[1](donated)  # a donated result can be donated again
  plain, _ = fns[0](plain)
  assert not any(leaf.is_deleted() for leaf in _leaves(kept))
  assert all(leaf.is_deleted() for leaf in _leaves(given))
  for a, b in zip(_leaves(plain), _leaves(donated), strict=True):
    np.testing.assert_array_equal(_numpy(a), _numpy(b))


class _Built(Exception):
  pass


def test_the_runner_donates_its_state(monkeypatch, tmp_path):
  asked = []
  make = feeds.make_mixture_train_fn

  def spy(*args, **kwargs):
    asked.append(kwargs.get("donate", False))
    make(*args, **kwargs)
    raise _Built  # stop before training: only the choice is under test

  monkeypatch.setattr(feeds, "make_mixture_train_fn", spy)
  with pytest.raises(_Built):
    train_lib.train_and_evaluate(Config(dataset="ring8", num_steps=2, batch_size=8, g_width=8,
                                        d_width=8, tensorboard=False), str(tmp_path / "w"))
  assert asked == [True]
