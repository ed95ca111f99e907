"""The typed configuration of a run, in sections: one per factory that reads it.

    Config(data=DataSettings, players=PlayersSettings, objective=ObjectiveSettings,
           optimisers=OptimisersSettings, step=StepSettings, evaluation=EvaluationSettings,
           run=RunSettings, <one section per model with settings: mlp, r3gan, stylegan2>)

Each section is a frozen dataclass of `options.option` fields, which carry their own help and
bounds; vocabularies are functions of the modules that own the names. `Config(**names)` also
takes any field by its own name (names are unique across sections), which is how flags and
saved configs map onto it: `Config(loss="hinge", model="dcgan28")`. `to_dict()` is the flat
record checkpoints and summaries keep.
"""

import dataclasses
from typing import Any

from jaxgan import losses, objective as objective_lib, optim, players as players_lib, schedules
from jaxgan.views import ada_pipeline, augment
from jaxgan.regularisers import penalties
from jaxgan.data import catalog, folder, mixtures, pipeline
from jaxgan.errors import ConfigError
from jaxgan.games.joint import RULES as JOINT_RULES
from jaxgan.models import layers, registry
from jaxgan.options import check, option


def _augment(text: str) -> None:
  """Raises ValueError unless `text` is 'ada' or a DiffAugment policy."""
  if text.strip() != "ada":
    augment.parse_policy(text)


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """What the players learn from (jaxgan.data)."""
  dataset: str = option("ring8", f"Training data: {', '.join(catalog.names())}, or "
                        "tfds:NAME (a TFDS catalog dataset already prepared in --data_dir).",
                        check=catalog.check)
  data_dir: str = option("", "Where prepared datasets live ('' = TFDS's default).")
  manual_dir: str = option("", "Raw files of fashion_mnist, mnist, cifar10 ('' = Debian's "
                           "Fashion-MNIST folder, or <data_dir>/downloads/manual).")
  data_path: str = option("", "The folder of images (image_folder) or the .npy/.npz file "
                          "(array).")
  image_size: int = option(64, "Resolution of image_folder images.", at_least=1)
  image_channels: int = option(3, "Channels of image_folder images (1 or 3).",
                               check=lambda c: _one_of("image_channels", c, (1, 3)))
  image_fit: str = option("crop", "How image_folder makes non-square images square: crop "
                          "the centre, or pad to the longer side with black.",
                          choices=lambda: folder.FITS)
  bad_images: str = option("error", "An image_folder file that cannot be decoded: error "
                           "(named, before training), or skip (left out and counted).",
                           choices=lambda: folder.ON_BAD)
  mirror: bool = option(False, "Add every image's left-right mirror image (2x the examples; "
                        "StyleGAN's --mirror).")
  pad_to: int = option(0, "Centre each image on a canvas of zeros this many pixels square "
                       "(Fashion-MNIST 28 -> 32 for stylegan2); 0 = as stored.", at_least=0)
  train_subset: int = option(0, "Train on this many images only, the same ones in every run "
                             "(a fixed permutation's first; the limited-data setting); 0 = "
                             "all.", at_least=0)
  data_placement: str = option("device", "device: the whole set on the device, batches drawn "
                               "in the step; host: batches read and decoded by grain's worker "
                               "processes (--data_workers) and prefetched.",
                               choices=lambda: catalog.PLACEMENTS)
  data_workers: int = option(-1, "Processes reading and decoding host-fed batches (grain); "
                             "0 = a thread of the main process; -1 = the cores but one, 1 to "
                             "8.", at_least=-1)

  @property
  def is_mixture(self) -> bool:
    return self.dataset in mixtures.MIXTURES

  @property
  def workers(self) -> int:
    """The host feed's worker processes, `data_workers` resolved."""
    return pipeline.default_workers() if self.data_workers < 0 else self.data_workers


@dataclasses.dataclass(frozen=True)
class PlayersSettings:
  """The generator and discriminator, what every model shares (jaxgan.models.registry); each
  model's own sizes are the section its file registers (`model_sections`)."""
  model: str = option("mlp", "Generator and discriminator.", choices=registry.names)
  latent_dim: int = option(0, "Dimension of z (0: the model's own).", at_least=0)
  g_conditioning: str = option("none", "Class conditioning of G: label embedding concatenated "
                               "to z, or conditional batch norm.",
                               choices=lambda: ("none", *layers.G_CONDITIONING))
  d_conditioning: str = option("none", "Class conditioning of D: projection head, or auxiliary "
                               "classifier (AC-GAN).",
                               choices=lambda: ("none", *layers.D_CONDITIONING))
  d_norm: str = option("default", "Normalisation of the dcgan and mlp discriminators (default: "
                       "spectral for dcgan, none for mlp).", choices=lambda: registry.D_NORMS)
  sync_batch_norm: bool = option(True, "On several devices, batch norm uses the statistics of "
                                 "the global batch.")
  packing: int = option(1, "PacGAN: D judges packs of this many samples (1 = off).",
                        at_least=1)

  @property
  def conditional(self) -> bool:
    return self.g_conditioning != "none" or self.d_conditioning != "none"

  def validate(self) -> None:
    check(self)
    d_norm = registry.resolve_d_norm(self.d_norm, self.model)
    if d_norm not in registry.get(self.model).d_norms:
      raise ConfigError(f"d_norm={self.d_norm!r} is not accepted for model={self.model!r}; "
                        f"choose one of: default, {', '.join(registry.get(self.model).d_norms)}")
    if self.packing > 1 and self.conditional:
      raise ConfigError(f"packing={self.packing} is not accepted with a conditional model: a "
                        f"pack would mix labels; give packing=1")


@dataclasses.dataclass(frozen=True)
class ObjectiveSettings:
  """D's cost: loss, regularisers, D's view of its inputs (jaxgan.objective)."""
  loss: str = option("non_saturating", "Adversarial loss (jaxgan.losses; rpgan is R3GAN's "
                     "name for relativistic).",
                     choices=lambda: sorted(losses.LOSSES))
  penalty: str = option("none", "Gradient penalties of D (jaxgan.regularisers.penalties "
                        "describes each): "
                        f"none, or comma-separated names of {', '.join(penalties.PENALTIES)}, "
                        "each at --penalty_weight or its own name:weight (R3GAN: r1,r2).",
                        check=penalties.parse)
  penalty_weight: float = option(10.0, "Weight of the penalty: lambda of GP and DRAGAN, gamma "
                                 "of R1/R2 (which cost gamma/2 E|grad D|^2).", at_least=0)
  penalty_every: int = option(1, "Lazy regularisation: the penalty every this many D updates, "
                              "its weight multiplied by as much.", at_least=1)
  penalty_decay_to: float = option(1.0, "The penalties' weights move to this fraction of "
                                   "their own along half a cosine over the schedule (R3GAN: "
                                   "0.1); 1 = constant.", at_least=0)
  lecam_weight: float = option(0.0, "Weight of LeCam regularisation of D (EMAs of D's "
                               "outputs); 0 = off.", at_least=0)
  lecam_decay: float = option(0.99, "Decay of LeCam's EMAs.", at_least=0, below=1)
  instance_noise: float = option(0.0, "Std of Gaussian noise added to every input of D; "
                                 "0 = off.", at_least=0)
  instance_noise_steps: int = option(0, "Anneal the instance noise linearly to 0 over this "
                                     "many steps; 0 = constant.", at_least=0)
  augment: str = option("", "Augmentation of D's image inputs (real and fake alike): ada "
                        "(adaptive discriminator augmentation, the ada_* flags), or a "
                        "DiffAugment policy, a comma-separated subset of color,translation,"
                        "cutout; '' = off.", check=_augment)
  augment_p: float = option(1.0, "The probability that a sample of D's is augmented (each "
                            "drawn on its own).", at_least=0, at_most=1)
  augment_growth: str = option("none", "cosine: the probability grows from 0 to augment_p "
                               "(with --augment=ada: to ada_p) along half a cosine over the "
                               "schedule (R3GAN).",
                               choices=lambda: schedules.GROWTHS)
  ada_p: float = option(-1.0, "ADA's probability held fixed (0 = no augmentation, r_t still "
                        "logged); -1 = adaptive from 0.", at_least=-1, at_most=1,
                        check=lambda p: _one_of("ada_p", p, (-1.0,)) if p < 0 else None)
  ada_target: float = option(0.6, "ADA's target for r_t = E[sign(D(real))].", at_least=0,
                             at_most=1)
  ada_interval: int = option(4, "ADA adjusts p every this many D updates.", at_least=1)
  ada_kimg: float = option(500.0, "ADA's speed: p can move by 1 in this many thousand "
                           "images.", above=0)
  ada_pipeline: str = option("bgc", "ADA's operations: group letters (b blits, g geometric, "
                             "c colour) or names from " + ", ".join(ada_pipeline.OPS) + ".",
                             check=ada_pipeline.parse_ops)
  ac_weight: float = option(1.0, "Weight of the AC-GAN class cross-entropy.", at_least=0)
  pl_weight: float = option(0.0, "Weight of G's path-length regularisation (StyleGAN2: 2; "
                            "0 = off); needs a generator with per-layer latents (stylegan2).",
                            at_least=0)
  pl_every: int = option(4, "Path length is taken every this many G updates, its weight "
                         "times this.", at_least=1)
  pl_decay: float = option(0.01, "Speed of the path length's running mean.", above=0,
                           at_most=1)
  pl_batch_shrink: int = option(2, "Path length runs on batch / this fresh samples.",
                                at_least=1)
  ortho_weight: float = option(0.0, "Weight of BigGAN's orthogonal regularisation of G's "
                               "weights, off the diagonal (BigGAN: 1e-4; 0 = off).",
                               at_least=0)

  def validate(self) -> None:
    check(self)
    if self.augment.strip() == "ada":
      try:
        objective_lib.check_ada_growth(self.ada_p, self.augment_growth)
      except ValueError as e:
        raise ConfigError(str(e)) from None


@dataclasses.dataclass(frozen=True)
class OptimisersSettings:
  """Each player's optimizer and its schedule (jaxgan.optim)."""
  optimizer: str = option("adam", "Both players' optimizer (optimistic_*: steps with "
                          "2 g_t - g_(t-1)).", choices=lambda: optim.OPTIMIZERS)
  g_lr: float = option(1e-3, "Generator learning rate.", above=0)
  d_lr: float = option(1e-3, "Discriminator learning rate.", above=0)
  lr_schedule: str = option("constant", "Learning-rate schedule of both players over the run.",
                            choices=lambda: sorted(optim.LR_SCHEDULES))
  g_beta1: float = option(0.5, "Generator Adam beta1.", at_least=0, below=1)
  g_beta2: float = option(0.999, "Generator Adam beta2.", at_least=0, below=1)
  d_beta1: float = option(0.5, "Discriminator Adam beta1.", at_least=0, below=1)
  d_beta2: float = option(0.999, "Discriminator Adam beta2.", at_least=0, below=1)
  lr_decay_to: float = option(0.0, "The cosine and linear learning-rate schedules end at this "
                              "fraction of g_lr and d_lr (R3GAN: 0.25, 2e-4 -> 5e-5).",
                              at_least=0, at_most=1)
  beta2_to: float = option(0.0, "Both players' Adam beta2 moves from g_beta2/d_beta2 to this "
                           "along half a cosine over the schedule (R3GAN: 0.9 -> 0.99); 0 = "
                           "constant.", at_least=0, below=1)
  d_clip: float = option(0.0, "WGAN weight clipping: D's parameters stay in [-d_clip, d_clip]; "
                         "0 = off.", at_least=0)


@dataclasses.dataclass(frozen=True)
class StepSettings:
  """The update rule and the policies around it (jaxgan.step.make_train_step)."""
  d_steps: int = option(1, "Discriminator updates per generator update.", at_least=1)
  reuse_fake: bool = option(False, "G update back-propagates through the last D update's "
                            "generated batch.")
  ema_decay: float = option(0.999, "Decay of the generator's parameter EMA.", at_least=0,
                            at_most=1)
  ema_debias: bool = option(True, "Debias a constant EMA decay, as Adam debiases its "
                            "moments: the EMA is the normalised average of G's weights since "
                            "the first update, not a mix that keeps decay^t of the "
                            "initialisation (--noema_debias: the plain EMA).")
  ema_half_life: float = option(0.0, "The EMA of G by its half-life in images seen (Karras "
                                "et al. 2020); 0 = ema_decay per step instead.", at_least=0)
  ema_rampup: float = option(0.0, "StyleGAN's ramp-up: the half-life is at most this times the "
                             "images seen so far; 0 = off.", at_least=0)
  ema_start: int = option(0, "BigGAN's EMA start: the EMA equals G's weights until this "
                          "update, then averages (official ema_start; 0 = from the first).",
                          at_least=0)
  ema_growth: str = option("none", "cosine: the half-life grows from 0 to ema_half_life along "
                           "half a cosine over the schedule (R3GAN).",
                           choices=lambda: schedules.GROWTHS)
  unroll_steps: int = option(0, "Unrolled GAN: G's cost against D unrolled this many steps "
                             "ahead; 0 = off.", at_least=0)
  update_rule: str = option("alternating", "alternating (Algorithm 1), or a joint rule moving "
                            "both players from the same point.",
                            choices=lambda: ("alternating", *JOINT_RULES))
  consensus_weight: float = option(1.0, "gamma of consensus optimisation.", at_least=0)
  compute_dtype: str = option("float32", "dtype the players compute in during training; "
                              "bfloat16 keeps float32 parameters, optimizer states, losses and "
                              "evaluation (mixed precision).",
                              choices=lambda: players_lib.COMPUTE_DTYPES)
  batch_gpu: int = option(0, "Micro-batch per device (StyleGAN3's name): each player's "
                          "gradient is accumulated over parts of this many samples, so the "
                          "batch is batch_size while memory follows this; 0 = whole "
                          "minibatches.", at_least=0)
  on_nonfinite: str = option("stop", "A NaN or Inf in a step's losses, gradients or "
                             "parameters: stop the run (the last checkpoint stays the last good "
                             "one), or skip that update and count it in the 'skipped' metric.",
                             choices=lambda: ON_NONFINITE)

  def validate(self) -> None:
    check(self)
    if self.update_rule != "alternating" and (self.d_steps != 1 or self.unroll_steps
                                              or self.reuse_fake):
      raise ConfigError(f"update_rule={self.update_rule!r} moves both players from the same "
                        f"point and needs d_steps=1, unroll_steps=0 and reuse_fake=false; got "
                        f"d_steps={self.d_steps}, unroll_steps={self.unroll_steps}, "
                        f"reuse_fake={self.reuse_fake}")
    if self.batch_gpu and (self.update_rule != "alternating" or self.unroll_steps
                           or self.reuse_fake):
      raise ConfigError(f"batch_gpu={self.batch_gpu} accumulates the alternating update's "
                        f"gradients: it needs update_rule=alternating, unroll_steps=0 and "
                        f"reuse_fake=false")

  def ema(self, horizon: int, batch_size: int):
    """Returns the EMA's decay: `ema_decay`, or from the half-life settings a schedule (with
    a ramp-up or growth) or a number (a constant half-life, debiased like `ema_decay`);
    with `ema_start`, 0 until that update."""
    if not self.ema_half_life:
      decay = self.ema_decay
    elif not self.ema_rampup and self.ema_growth == "none":
      decay = float(0.5 ** (batch_size / self.ema_half_life))
    else:
      decay = schedules.ema_half_life(self.ema_half_life, batch_size, self.ema_rampup,
                                      horizon if self.ema_growth == "cosine" else 0)
    return schedules.pegged_until(self.ema_start, decay) if self.ema_start > 1 else decay

  def debiases(self, horizon: int = 1, batch_size: int = 1) -> bool:
    """Whether `ema_debias` changes anything: a constant decay strictly between 0 and 1."""
    decay = self.ema(horizon, batch_size)
    return not callable(decay) and 0.0 < decay < 1.0

  def settings(self, horizon: int = 1, batch_size: int = 1) -> dict[str, Any]:
    """Returns the `make_train_step` keyword arguments of this section (`horizon`: the steps
    of the schedules; `batch_size`: for an EMA by half-life)."""
    return dict(d_steps=self.d_steps, reuse_fake=self.reuse_fake,
                ema_decay=self.ema(horizon, batch_size),
                unroll_steps=self.unroll_steps, update_rule=self.update_rule,
                consensus_weight=self.consensus_weight, compute_dtype=self.compute_dtype,
                skip_nonfinite=self.on_nonfinite == "skip", micro_batch=self.batch_gpu,
                ema_debias=self.ema_debias)


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
  """What is measured, and how often (jaxgan.runner.evaluation)."""
  eval_every: int = option(5000, "Steps between evaluations.", at_least=1)
  eval_samples: int = option(2500, "Samples per 2D evaluation.", at_least=1)
  grid_size: int = option(64, "Samples in the image grid (conditional models: 10 per class).",
                          at_least=1)
  inception_weights: str = option("", "FID Inception weights "
                                  "(pt_inception-2015-12-05-6726825d.pth, or .npz) for "
                                  "FID/KID/IS/precision-recall at each evaluation of an image "
                                  "run; default $JAXGAN_INCEPTION_WEIGHTS. Without them those "
                                  "metrics are reported as unavailable.")
  fid_samples: int = option(10_000, "Generated and reference images per Inception "
                            "evaluation.", at_least=2)
  fid_cache_dir: str = option("", "Where reference Inception statistics are cached ('' = "
                              "~/.cache/jaxgan).")
  domain_samples: int = option(10_000, "Samples per domain-classifier evaluation "
                               "(Fashion-MNIST, MNIST and their stacked sets; PROTOCOLS.md's "
                               "stacked count is 26000).", at_least=2)
  domain_reference: str = option("train", "The real images the domain metrics compare with: "
                                 "train (as the run sees them) or test (the whole test split; "
                                 "the limited-data setting's yardstick).",
                                 choices=lambda: ("train", "test"))
  overfit_images: int = option(0, "Each evaluation also measures D's memorising its "
                               "training images (jaxgan.metrics.overfit): D's outputs on this "
                               "many training images, as many it never trained on (those "
                               "train_subset leaves out, else the test split) and as many "
                               "samples; 0 = off.", at_least=0)


@dataclasses.dataclass(frozen=True)
class RunSettings:
  """How long, how big, and what the loop writes (jaxgan.runner.train)."""
  seed: int = option(0, "Seed of parameters, noise and data order.")
  num_steps: int = option(10_000, "Full alternating updates to run.", at_least=1)
  batch_size: int = option(256, "Samples per minibatch.", at_least=1)
  steps_per_call: int = option(1, "Steps per compiled call (fewer dispatches; matches 1 step "
                               "per call to rounding, not bit for bit). num_steps, log_every, "
                               "eval_every and checkpoint_every must be multiples of it; image "
                               "datasets need --data_placement=device.", at_least=1)
  schedule_steps: int = option(0, "The steps over which every scheduled value (learning "
                               "rates, beta2, penalty weights, the EMA's growth) moves from its "
                               "start to its end, then stays; 0 = num_steps.", at_least=0)
  log_every: int = option(1000, "Steps between metric logs.", at_least=1)
  tensorboard: bool = option(True, "Also write TensorBoard event files.")
  checkpoint_every: int = option(1000, "Steps between checkpoints in <workdir>/checkpoints "
                                 "(one is also written at the end and when SIGTERM or SIGINT "
                                 "stops the run).", at_least=1)
  keep_checkpoints: int = option(3, "How many of the newest checkpoints to keep.", at_least=1)


# What a NaN or Inf in a step does: stop the run, or drop that update (`skip_nonfinite`).
ON_NONFINITE = ("stop", "skip")

# Each model's own section (`mlp`, `r3gan`, `stylegan2`, ...), registered by its file.
MODEL_SECTIONS = registry.settings_sections()
SECTIONS = {"data": DataSettings, "players": PlayersSettings, **MODEL_SECTIONS,
            "objective": ObjectiveSettings, "optimisers": OptimisersSettings,
            "step": StepSettings, "evaluation": EvaluationSettings, "run": RunSettings}
# Each field's section, by the field's name (the flag's name).
SECTION_OF = {f.name: section for section, cls in SECTIONS.items()
              for f in dataclasses.fields(cls)}

# Fields added after runs were saved whose default moved what a run computes: a run saved
# without the field ran as this value says (`from_saved`).
SAVED_BEFORE = {"ema_debias": False}


def from_saved(saved: dict[str, Any]) -> dict[str, Any]:
  """Returns a saved run's settings (config.json) as this version's field names and values:
  its own settings, the fields it predates as it ran (`SAVED_BEFORE`), others not kept."""
  return {**SAVED_BEFORE, **{k: v for k, v in saved.items() if k in SECTION_OF}}


def _one_of(name: str, value, accepted: tuple) -> None:
  if value not in accepted:
    raise ValueError(f"{name}={value!r} is not accepted; choose {' or '.join(map(str, accepted))}")


@dataclasses.dataclass(frozen=True, init=False)
class Config:
  """Everything a run needs; `validate()` names the first bad field and what it accepts."""
  data: DataSettings
  players: PlayersSettings
  objective: ObjectiveSettings
  optimisers: OptimisersSettings
  step: StepSettings
  evaluation: EvaluationSettings
  run: RunSettings
  # The model sections, `(name, section)` pairs in `MODEL_SECTIONS`' order (a tuple, so that
  # a Config hashes), read as attributes: `config.r3gan`.
  models: tuple[tuple[str, Any], ...]

  def __init__(self, **given: Any):
    """Takes sections by name (`objective=ObjectiveSettings(...)`, `r3gan=R3GANSettings(...)`)
    and fields by their own names (`loss="hinge"`), a field overriding its section's value."""
    unknown = sorted(set(given) - set(SECTIONS) - set(SECTION_OF))
    if unknown:
      raise ConfigError(f"{', '.join(unknown)}: no such config field; the fields are "
                        f"{', '.join(SECTION_OF)}")
    made = {}
    for section, cls in SECTIONS.items():
      base = given.get(section, cls())
      if not isinstance(base, cls):
        raise ConfigError(f"{section}={base!r} is not accepted; it must be a "
                          f"{cls.__module__}.{cls.__name__}")
      fields = {k: v for k, v in given.items() if SECTION_OF.get(k) == section}
      made[section] = dataclasses.replace(base, **fields)
    for section in SECTIONS:
      if section not in MODEL_SECTIONS:
        object.__setattr__(self, section, made.pop(section))
    object.__setattr__(self, "models", tuple(made.items()))

  def __getattr__(self, name: str):
    """A model's section by its name (`config.stylegan2`)."""
    models = dict(self.__dict__.get("models", ()))
    if name in models:
      return models[name]
    raise AttributeError(f"Config has no section or attribute {name!r}")

  @property
  def model_settings(self):
    """Returns the chosen model's own section, or None for a model without settings."""
    section = registry.get(self.players.model).section
    return getattr(self, section) if section else None

  def replace(self, **changes: Any) -> "Config":
    """Returns a copy with `changes` (sections or fields by name) applied."""
    return Config(**{**{s: getattr(self, s) for s in SECTIONS}, **changes})

  def validate(self) -> "Config":
    """Returns self, or raises ConfigError naming the bad field, its value and what it accepts."""
    for section in SECTIONS:
      part = getattr(self, section)
      part.validate() if hasattr(part, "validate") else check(part)
    self._validate_across()
    self._validate_steps_per_call()
    return self

  def _validate_across(self) -> None:
    """The rules that tie one section's field to another's."""
    data, players, objective = self.data, self.players, self.objective
    if self.step.batch_gpu and self.run.batch_size % self.step.batch_gpu:
      raise ConfigError(f"batch_gpu={self.step.batch_gpu} does not divide batch_size="
                        f"{self.run.batch_size}; give a divisor (of each device's share, on "
                        f"several devices)")
    if data.is_mixture and registry.get(players.model).images:
      flat = [m.name for m in registry.MODELS.values() if not m.images]
      raise ConfigError(f"model={players.model!r} is not accepted for the 2D dataset "
                        f"{data.dataset}; choose {' or '.join(flat)}")
    if data.is_mixture and players.conditional:
      raise ConfigError(f"g_conditioning={players.g_conditioning!r} / d_conditioning="
                        f"{players.d_conditioning!r} are not accepted for {data.dataset}, which "
                        f"has no labels; choose none")
    if objective.augment and data.is_mixture:
      raise ConfigError(f"augment={objective.augment!r} is not accepted for the 2D dataset "
                        f"{data.dataset}: augmentation acts on images; give augment=''")
    if self.run.batch_size % players.packing:
      raise ConfigError(f"packing={players.packing} does not divide batch_size="
                        f"{self.run.batch_size}; give a batch that is a multiple of "
                        f"{players.packing}")
    if self.mlp.d_features > 1 and not (players.model == "mlp"
                                        and objective.loss.startswith("mmd")):
      raise ConfigError(f"d_features={self.mlp.d_features} is not accepted with model="
                        f"{players.model!r} and loss={objective.loss!r}: feature outputs are "
                        f"for an mlp D under an mmd_* loss; give d_features=1")

  def _validate_steps_per_call(self) -> None:
    n = self.run.steps_per_call
    if n == 1:
      return
    if not self.data.is_mixture and self.data.data_placement != "device":
      raise ConfigError(f"steps_per_call={n} is not accepted with data_placement="
                        f"{self.data.data_placement}: several steps per call gather their "
                        f"batches on the device; give data_placement=device or steps_per_call=1")
    every = {"num_steps": self.run.num_steps, "log_every": self.run.log_every,
             "eval_every": self.evaluation.eval_every,
             "checkpoint_every": self.run.checkpoint_every}
    for name, value in every.items():
      if value % n:
        raise ConfigError(f"{name}={value} is not a multiple of steps_per_call={n}: the run "
                          f"stops only between calls of {n} steps; give a multiple of {n}")

  @property
  def horizon(self) -> int:
    """The steps of the schedules."""
    return self.run.schedule_steps or self.run.num_steps

  @property
  def uses_horizon(self) -> bool:
    """Whether any schedule spans `horizon`: the learning rates, β2, the penalties' weights,
    the EMA's half-life or the augmentation's probability."""
    o, opt = self.objective, self.optimisers
    return (opt.lr_schedule != "constant" or bool(opt.beta2_to) or o.penalty_decay_to != 1.0
            or self.step.ema_growth != "none" or o.augment_growth != "none")

  def to_dict(self) -> dict[str, Any]:
    """Returns every field by its own name: the flat record checkpoints keep."""
    return {k: v for s in SECTIONS for k, v in dataclasses.asdict(getattr(self, s)).items()}
