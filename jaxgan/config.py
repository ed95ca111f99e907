"""The typed configuration of a training run; flags map onto it one to one."""

import dataclasses
import math

from jaxgan import augment, losses, optim, penalties, players
from jaxgan.games.joint import RULES as JOINT_RULES
from jaxgan.data import mixtures
from jaxgan.errors import ConfigError  # pylint: disable=unused-import (its home for callers)
from jaxgan.models.mlp import ACTIVATIONS

LR_SCHEDULES = ("constant", "cosine", "linear")
IMAGE_DATASETS = ("fashion_mnist", "mnist", "cifar10", "image_folder", "array",
                  "stacked_fashion_mnist", "stacked_mnist")
CATALOG_PREFIX = "tfds:"  # tfds:NAME is a TFDS catalog dataset prepared in data_dir
MODELS = ("mlp", "mlp_nnx", "dcgan28", "dcgan64", "dcgan", "resnet_sn")
G_CONDITIONING = ("none", "concat", "cbn")
D_CONDITIONING = ("none", "projection", "acgan")
D_NORMS = ("default", "spectral", "batch", "none")  # default: dcgan spectral, mlp none
DATA_PLACEMENTS = ("device", "host")
ON_NONFINITE = ("stop", "skip")  # a NaN/Inf in a step stops the run, or drops that update


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything a run needs; `validate()` names the first bad field and what it accepts."""
  dataset: str = "ring8"
  # Image data (see jaxgan.data.images.load).
  data_dir: str = ""        # prepared TFDS datasets; "" = TFDS's default
  manual_dir: str = ""      # raw files of fashion_mnist / mnist / cifar10; "" = default
  data_path: str = ""       # the folder of image_folder, the file of array
  image_size: int = 64      # image_folder resolution
  image_channels: int = 3   # image_folder channels (1 or 3)
  data_placement: str = "device"  # whole set on the device, or streamed from the host
  steps_per_call: int = 1   # this many steps per compiled call (unrolled; data on the device)
  loss: str = "non_saturating"
  seed: int = 0
  num_steps: int = 10_000
  batch_size: int = 256
  d_steps: int = 1
  reuse_fake: bool = False
  # Optimizers (jaxgan.optim: adam, optimistic_adam, sgd, optimistic_sgd), one per player.
  optimizer: str = "adam"
  g_lr: float = 1e-3
  d_lr: float = 1e-3
  lr_schedule: str = "constant"  # or "cosine", "linear": decay to 0 at num_steps
  g_beta1: float = 0.5
  g_beta2: float = 0.999
  d_beta1: float = 0.5
  d_beta2: float = 0.999
  ema_decay: float = 0.999
  # Gradient penalty of D (jaxgan.penalties), its weight, and lazy regularisation.
  penalty: str = "none"
  penalty_weight: float = 10.0
  penalty_every: int = 1
  # Other stabilisers (jaxgan.step): WGAN weight clipping of D, LeCam, instance noise,
  # DiffAugment, PacGAN packing, the unrolled generator, and game-aware update rules.
  d_clip: float = 0.0             # clip D's parameters to [-d_clip, d_clip]; 0 = off
  lecam_weight: float = 0.0
  lecam_decay: float = 0.99
  instance_noise: float = 0.0     # sigma_0 of Gaussian noise on D's inputs
  instance_noise_steps: int = 0   # anneal sigma linearly to 0 over this many steps; 0 = constant
  augment: str = ""               # DiffAugment policy for images: color,translation,cutout
  packing: int = 1                # PacGAN: D judges packs of this many samples
  unroll_steps: int = 0           # unrolled GAN: G against D unrolled this many steps
  update_rule: str = "alternating"  # or simultaneous, extragradient, consensus
  consensus_weight: float = 1.0
  compute_dtype: str = "float32"  # or "bfloat16": mixed precision, float32 parameters
  # Players. latent_dim 0 means the model's own (mlp 2, dcgan28 64, dcgan64 100, else 128).
  model: str = "mlp"
  latent_dim: int = 0
  g_conditioning: str = "none"  # class-conditional G: "concat" or "cbn"
  d_conditioning: str = "none"  # class-conditional D: "projection" or "acgan"
  ac_weight: float = 1.0
  d_norm: str = "default"       # normalisation of D: dcgan/mlp ("default": dcgan spectral, mlp none)
  sync_batch_norm: bool = True  # on several devices: batch statistics over the global batch
  # MLP players for 2D data.
  g_width: int = 128
  g_depth: int = 2
  d_width: int = 128
  d_depth: int = 2
  activation: str = "relu"
  d_features: int = 1           # MLP D outputs per sample (> 1 for the MMD losses' features)
  # Logging and evaluation.
  log_every: int = 1000
  eval_every: int = 5000
  eval_samples: int = 2500
  grid_size: int = 64           # samples in the image grid (conditional: 10 per class)
  tensorboard: bool = True
  # Inception metrics of image runs (jaxgan.metrics.inception_eval): FID, KID, IS, precision
  # and recall at every evaluation, when weights are given here or in $JAXGAN_INCEPTION_WEIGHTS.
  inception_weights: str = ""
  fid_samples: int = 10_000      # generated and reference images per evaluation
  fid_cache_dir: str = ""        # reference statistics; "" = ~/.cache/jaxgan
  domain_samples: int = 10_000   # samples per domain-classifier evaluation (stacked: 26,000)
  # Surviving interruptions (see jaxgan.checkpoint).
  checkpoint_every: int = 1000  # steps between checkpoints (one is also written at the end)
  keep_checkpoints: int = 3     # the newest this many are kept
  on_nonfinite: str = "stop"    # or "skip": drop updates with a NaN/Inf, count them

  def validate(self) -> "Config":
    """Returns self, or raises ValueError naming the bad field, its value and what is accepted."""
    datasets = sorted(mixtures.MIXTURES) + list(IMAGE_DATASETS)
    if not (self.dataset in datasets or (self.dataset.startswith(CATALOG_PREFIX)
                                         and len(self.dataset) > len(CATALOG_PREFIX))):
      raise ValueError(f"dataset={self.dataset!r} is not accepted; choose one of: "
                       f"{', '.join(datasets)}, or {CATALOG_PREFIX}NAME for a TFDS catalog "
                       f"dataset prepared in --data_dir")
    choices = {"loss": sorted(losses.LOSSES), "activation": sorted(ACTIVATIONS),
               "lr_schedule": sorted(LR_SCHEDULES), "model": MODELS,
               "g_conditioning": G_CONDITIONING, "d_conditioning": D_CONDITIONING,
               "d_norm": D_NORMS, "data_placement": DATA_PLACEMENTS,
               "on_nonfinite": ON_NONFINITE, "penalty": ("none", *penalties.PENALTIES),
               "optimizer": optim.OPTIMIZERS, "update_rule": ("alternating", *JOINT_RULES),
               "compute_dtype": players.COMPUTE_DTYPES}
    for name, accepted in choices.items():
      if getattr(self, name) not in accepted:
        raise ValueError(f"{name}={getattr(self, name)!r} is not accepted; "
                         f"choose one of: {', '.join(accepted)}")
    for name in ("num_steps", "batch_size", "d_steps", "g_width", "g_depth", "d_width",
                 "d_depth", "log_every", "eval_every", "eval_samples", "grid_size",
                 "image_size", "checkpoint_every", "keep_checkpoints", "penalty_every",
                 "packing", "d_features", "fid_samples", "domain_samples", "steps_per_call"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}={value!r} is not accepted; it must be an integer >= 1")
    if not isinstance(self.latent_dim, int) or self.latent_dim < 0:
      raise ValueError(f"latent_dim={self.latent_dim!r} is not accepted; it must be an "
                       f"integer >= 1, or 0 for the model's own")
    if self.image_channels not in (1, 3):
      raise ValueError(f"image_channels={self.image_channels!r} is not accepted; choose 1 or 3")
    if self.is_mixture and self.model not in ("mlp", "mlp_nnx"):
      raise ValueError(f"model={self.model!r} is not accepted for the 2D dataset "
                       f"{self.dataset}; choose mlp or mlp_nnx")
    if self.is_mixture and self.conditional:
      raise ValueError(f"g_conditioning={self.g_conditioning!r} / d_conditioning="
                       f"{self.d_conditioning!r} are not accepted for {self.dataset}, which "
                       f"has no labels; choose none")
    for name in ("unroll_steps", "instance_noise_steps"):
      value = getattr(self, name)
      if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name}={value!r} is not accepted; it must be an integer >= 0")
    for name in ("ac_weight", "penalty_weight", "d_clip", "lecam_weight", "instance_noise",
                 "consensus_weight"):
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}={value!r} is not accepted; it must be a finite number >= 0")
    for name in ("g_lr", "d_lr"):
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} is not accepted; it must be a finite number > 0")
    for name in ("g_beta1", "g_beta2", "d_beta1", "d_beta2", "ema_decay", "lecam_decay"):
      value = getattr(self, name)
      upper_ok = value < 1 if name != "ema_decay" else value <= 1
      if not (isinstance(value, (int, float)) and value >= 0 and upper_ok):
        raise ValueError(f"{name}={value!r} is not accepted; it must lie in "
                         f"[0, 1{']' if name == 'ema_decay' else ')'}")
    self._validate_stabilisers()
    self._validate_steps_per_call()
    return self

  def _validate_steps_per_call(self) -> None:
    n = self.steps_per_call
    if n == 1:
      return
    if not self.is_mixture and self.data_placement != "device":
      raise ValueError(f"steps_per_call={n} is not accepted with data_placement="
                       f"{self.data_placement}: several steps per call gather their batches "
                       f"on the device; give data_placement=device or steps_per_call=1")
    for name in ("num_steps", "log_every", "eval_every", "checkpoint_every"):
      if getattr(self, name) % n:
        raise ValueError(f"{name}={getattr(self, name)} is not a multiple of steps_per_call="
                         f"{n}: the run stops only between calls of {n} steps; give a "
                         f"multiple of {n}")

  def _validate_stabilisers(self) -> None:
    try:
      augment.parse_policy(self.augment)
    except ValueError as e:
      raise ValueError(str(e)) from None
    if self.augment and self.is_mixture:
      raise ValueError(f"augment={self.augment!r} is not accepted for the 2D dataset "
                       f"{self.dataset}: DiffAugment acts on images; give augment=''")
    if self.packing > 1 and self.conditional:
      raise ValueError(f"packing={self.packing} is not accepted with a conditional model: a "
                       f"pack would mix labels; give packing=1")
    if self.batch_size % self.packing:
      raise ValueError(f"packing={self.packing} does not divide batch_size={self.batch_size}; "
                       f"give a batch that is a multiple of {self.packing}")
    if self.d_features > 1 and not (self.model == "mlp" and self.loss.startswith("mmd")):
      raise ValueError(f"d_features={self.d_features} is not accepted with model="
                       f"{self.model!r} and loss={self.loss!r}: feature outputs are for an mlp "
                       f"D under an mmd_* loss; give d_features=1")
    if self.model == "mlp" and self.d_norm == "batch":
      raise ValueError("d_norm='batch' is not accepted for model='mlp'; choose default, "
                       "spectral or none")
    if self.update_rule != "alternating" and (self.d_steps != 1 or self.unroll_steps
                                              or self.reuse_fake):
      raise ValueError(f"update_rule={self.update_rule!r} moves both players from the same "
                       f"point and needs d_steps=1, unroll_steps=0 and reuse_fake=false; got "
                       f"d_steps={self.d_steps}, unroll_steps={self.unroll_steps}, "
                       f"reuse_fake={self.reuse_fake}")

  @property
  def is_mixture(self) -> bool:
    return self.dataset in mixtures.MIXTURES

  @property
  def conditional(self) -> bool:
    return self.g_conditioning != "none" or self.d_conditioning != "none"

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)
