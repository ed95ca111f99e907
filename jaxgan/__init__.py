"""jaxgan: generative adversarial networks as pure, compiled JAX step functions."""

from jaxgan import data, losses, metrics, models
from jaxgan.losses import Costs, Loss
from jaxgan.sample import make_sample_fn
from jaxgan.state import GANState, create_state
from jaxgan.step import ema_update, make_train_step

__version__ = "0.1.0"
