"""jaxgan: generative adversarial networks as pure, compiled JAX step functions."""

from jaxgan import _moved, data, losses, metrics, models, objective, regularisers, schedules, views
from jaxgan.losses import Costs, Loss
from jaxgan.objective import Objective
from jaxgan.players import as_player
from jaxgan.sample import make_sample_fn
from jaxgan.state import GANState, create_state
from jaxgan.step import ema_update, make_train_step

__version__ = "0.1.0"

_moved.install()


def __getattr__(name: str):
  """`jaxgan.<old name>` of a moved module (`jaxgan._moved`), deprecated."""
  if f"jaxgan.{name}" in _moved.MOVED:
    return _moved.new_module(f"jaxgan.{name}")
  raise AttributeError(f"module 'jaxgan' has no attribute {name!r}")
