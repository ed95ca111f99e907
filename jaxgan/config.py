"""The typed configuration of a training run; flags map onto it one to one."""

import dataclasses
import math

from jaxgan import losses
from jaxgan.data import mixtures
from jaxgan.models.mlp import ACTIVATIONS

LR_SCHEDULES = ("constant", "cosine", "linear")


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything a run needs; `validate()` names the first bad field and what it accepts."""
  dataset: str = "ring8"
  loss: str = "non_saturating"
  seed: int = 0
  num_steps: int = 10_000
  batch_size: int = 256
  d_steps: int = 1
  reuse_fake: bool = False
  # Optimizers (Adam per player).
  g_lr: float = 1e-3
  d_lr: float = 1e-3
  lr_schedule: str = "constant"  # or "cosine", "linear": decay to 0 at num_steps
  g_beta1: float = 0.5
  g_beta2: float = 0.999
  d_beta1: float = 0.5
  d_beta2: float = 0.999
  ema_decay: float = 0.999
  # MLP players for 2D data.
  latent_dim: int = 2
  g_width: int = 128
  g_depth: int = 2
  d_width: int = 128
  d_depth: int = 2
  activation: str = "relu"
  # Logging and evaluation.
  log_every: int = 1000
  eval_every: int = 5000
  eval_samples: int = 2500

  def validate(self) -> "Config":
    """Returns self, or raises ValueError naming the bad field, its value and what is accepted."""
    choices = {"dataset": sorted(mixtures.MIXTURES), "loss": sorted(losses.LOSSES),
               "activation": sorted(ACTIVATIONS),
               "lr_schedule": sorted(LR_SCHEDULES)}
    for name, accepted in choices.items():
      if getattr(self, name) not in accepted:
        raise ValueError(f"{name}={getattr(self, name)!r} is not accepted; "
                         f"choose one of: {', '.join(accepted)}")
    for name in ("num_steps", "batch_size", "d_steps", "latent_dim", "g_width", "g_depth",
                 "d_width", "d_depth", "log_every", "eval_every", "eval_samples"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} is not accepted; it must be an integer >= 1")
    for name in ("g_lr", "d_lr"):
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} is not accepted; it must be a finite number > 0")
    for name in ("g_beta1", "g_beta2", "d_beta1", "d_beta2", "ema_decay"):
      value = getattr(self, name)
      upper_ok = value < 1 if name != "ema_decay" else value <= 1
      if not (isinstance(value, (int, float)) and value >= 0 and upper_ok):
        raise ValueError(f"{name}={value!r} is not accepted; it must lie in "
                         f"[0, 1{']' if name == 'ema_decay' else ')'}")
    return self

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)
