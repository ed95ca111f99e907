r"""Trains a GAN from flags: `python -m experiments.run --flagfile=experiments/configs/ring8.flags`.

Every flag maps onto a field of `jaxgan.config.Config`; a flag given on the command line
after `--flagfile` overrides the file.
"""

import dataclasses
import os
import signal
import sys

from absl import app, flags, logging

from jaxgan import losses, penalties
from jaxgan import config as config_lib
from jaxgan.checkpoint import QuietOrbax
from jaxgan.config import LR_SCHEDULES, Config
from jaxgan.data import mixtures
from jaxgan.models.mlp import ACTIVATIONS
from jaxgan.optim import OPTIMIZERS
from jaxgan.players import COMPUTE_DTYPES
from jaxgan.step import UPDATE_RULES

_D = Config()  # defaults come from the typed config, stated once

flags.DEFINE_string("workdir", None, "Directory for metrics.jsonl, summary.json and pictures.")
flags.DEFINE_integer("seed", _D.seed, "Seed of parameters, noise and data order.")
flags.DEFINE_string("dataset", _D.dataset,
                    f"Training data: {', '.join(sorted(mixtures.MIXTURES))}, "
                    f"{', '.join(config_lib.IMAGE_DATASETS)}, or tfds:NAME (a TFDS catalog "
                    f"dataset already prepared in --data_dir).")
flags.DEFINE_string("data_dir", _D.data_dir, "Where prepared datasets live (default: TFDS's).")
flags.DEFINE_string("manual_dir", _D.manual_dir,
                    "Raw files of fashion_mnist, mnist, cifar10 (default: Debian's Fashion-MNIST "
                    "folder, or <data_dir>/downloads/manual).")
flags.DEFINE_string("data_path", _D.data_path,
                    "The folder of images (image_folder) or the .npy/.npz file (array).")
flags.DEFINE_integer("image_size", _D.image_size, "Resolution of image_folder images.",
                     lower_bound=1)
flags.DEFINE_integer("image_channels", _D.image_channels, "Channels of image_folder images.")
flags.DEFINE_enum("data_placement", _D.data_placement, list(config_lib.DATA_PLACEMENTS),
                  "device: the whole set on the device, batches drawn in the step; host: "
                  "batches read by a background thread and prefetched.")
flags.DEFINE_enum("loss", _D.loss, sorted(losses.LOSSES), "Adversarial loss.")
flags.DEFINE_integer("d_steps", _D.d_steps, "Discriminator updates per generator update.",
                     lower_bound=1)
flags.DEFINE_integer("batch_size", _D.batch_size, "Samples per minibatch.", lower_bound=1)
flags.DEFINE_integer("num_steps", _D.num_steps, "Full alternating updates to run.",
                     lower_bound=1)
flags.DEFINE_float("g_lr", _D.g_lr, "Generator Adam learning rate.", lower_bound=0.0)
flags.DEFINE_float("d_lr", _D.d_lr, "Discriminator Adam learning rate.", lower_bound=0.0)
flags.DEFINE_enum("lr_schedule", _D.lr_schedule, list(LR_SCHEDULES),
                  "Learning-rate schedule of both players over the run.")
flags.DEFINE_float("g_beta1", _D.g_beta1, "Generator Adam beta1.")
flags.DEFINE_float("g_beta2", _D.g_beta2, "Generator Adam beta2.")
flags.DEFINE_float("d_beta1", _D.d_beta1, "Discriminator Adam beta1.")
flags.DEFINE_float("d_beta2", _D.d_beta2, "Discriminator Adam beta2.")
flags.DEFINE_float("ema_decay", _D.ema_decay, "Decay of the generator's parameter EMA.")
flags.DEFINE_enum("penalty", _D.penalty, ["none", *penalties.PENALTIES],
                  "Gradient penalty of D, by its name in jaxgan.penalties (each is described "
                  "there).")
flags.DEFINE_float("penalty_weight", _D.penalty_weight,
                   "Weight of the penalty: lambda of GP and DRAGAN, gamma of R1/R2 (which cost "
                   "gamma/2 E|grad D|^2).")
flags.DEFINE_integer("penalty_every", _D.penalty_every,
                     "Lazy regularisation: the penalty every this many D updates, its weight "
                     "multiplied by as much.", lower_bound=1)
flags.DEFINE_float("d_clip", _D.d_clip,
                   "WGAN weight clipping: D's parameters stay in [-d_clip, d_clip]; 0 = off.",
                   lower_bound=0.0)
flags.DEFINE_float("lecam_weight", _D.lecam_weight,
                   "Weight of LeCam regularisation of D (EMAs of D's outputs); 0 = off.",
                   lower_bound=0.0)
flags.DEFINE_float("lecam_decay", _D.lecam_decay, "Decay of LeCam's EMAs.")
flags.DEFINE_float("instance_noise", _D.instance_noise,
                   "Std of Gaussian noise added to every input of D; 0 = off.", lower_bound=0.0)
flags.DEFINE_integer("instance_noise_steps", _D.instance_noise_steps,
                     "Anneal the instance noise linearly to 0 over this many steps; 0 = "
                     "constant.", lower_bound=0)
flags.DEFINE_string("augment", _D.augment,
                    "DiffAugment policy on D's image inputs (real and fake alike): a comma-"
                    "separated subset of color,translation,cutout; '' = off.")
flags.DEFINE_integer("packing", _D.packing,
                     "PacGAN: D judges packs of this many samples (1 = off).", lower_bound=1)
flags.DEFINE_integer("unroll_steps", _D.unroll_steps,
                     "Unrolled GAN: G's cost against D unrolled this many steps ahead; 0 = off.",
                     lower_bound=0)
flags.DEFINE_enum("update_rule", _D.update_rule, list(UPDATE_RULES),
                  "alternating (Algorithm 1), or a joint rule moving both players from the same "
                  "point: simultaneous, extragradient, consensus.")
flags.DEFINE_float("consensus_weight", _D.consensus_weight,
                   "gamma of consensus optimisation.", lower_bound=0.0)
flags.DEFINE_integer("steps_per_call", _D.steps_per_call,
                     "Steps per compiled call (fewer dispatches; BUILD_NOTES.md has what it "
                     "gains where; matches 1 step per call to rounding, not bit for bit). num_steps, log_every, eval_every and checkpoint_every must be "
                     "multiples of it; image datasets need --data_placement=device.",
                     lower_bound=1)
flags.DEFINE_enum("compute_dtype", _D.compute_dtype, list(COMPUTE_DTYPES),
                  "dtype the players compute in during training; bfloat16 keeps float32 "
                  "parameters, optimizer states, losses and evaluation (mixed precision).")
flags.DEFINE_enum("optimizer", _D.optimizer, list(OPTIMIZERS),
                  "Both players' optimizer (optimistic_*: steps with 2 g_t - g_(t-1)).")
flags.DEFINE_integer("d_features", _D.d_features,
                     "Outputs per sample of the mlp D (> 1 only with an mmd_* loss).",
                     lower_bound=1)
flags.DEFINE_bool("reuse_fake", _D.reuse_fake,
                  "G update back-propagates through the last D update's generated batch.")
flags.DEFINE_enum("model", _D.model, list(config_lib.MODELS), "Generator and discriminator.")
flags.DEFINE_integer("latent_dim", _D.latent_dim, "Dimension of z (0: the model's own).",
                     lower_bound=0)
flags.DEFINE_enum("g_conditioning", _D.g_conditioning, list(config_lib.G_CONDITIONING),
                  "Class conditioning of G: label embedding concatenated to z, or "
                  "conditional batch norm.")
flags.DEFINE_enum("d_conditioning", _D.d_conditioning, list(config_lib.D_CONDITIONING),
                  "Class conditioning of D: projection head, or auxiliary classifier (AC-GAN).")
flags.DEFINE_float("ac_weight", _D.ac_weight, "Weight of the AC-GAN class cross-entropy.")
flags.DEFINE_enum("d_norm", _D.d_norm, list(config_lib.D_NORMS),
                  "Normalisation of the dcgan and mlp discriminators (default: spectral for "
                  "dcgan, none for mlp).")
flags.DEFINE_integer("g_width", _D.g_width, "Generator hidden units per layer.", lower_bound=1)
flags.DEFINE_integer("g_depth", _D.g_depth, "Generator hidden layers.", lower_bound=1)
flags.DEFINE_integer("d_width", _D.d_width, "Discriminator hidden units per layer.",
                     lower_bound=1)
flags.DEFINE_integer("d_depth", _D.d_depth, "Discriminator hidden layers.", lower_bound=1)
flags.DEFINE_enum("activation", _D.activation, sorted(ACTIVATIONS), "Hidden activation.")
flags.DEFINE_integer("log_every", _D.log_every, "Steps between metric logs.", lower_bound=1)
flags.DEFINE_integer("eval_every", _D.eval_every, "Steps between evaluations.", lower_bound=1)
flags.DEFINE_integer("eval_samples", _D.eval_samples, "Samples per 2D evaluation.",
                     lower_bound=1)
flags.DEFINE_integer("grid_size", _D.grid_size,
                     "Samples in the image grid (conditional models: 10 per class).",
                     lower_bound=1)
flags.DEFINE_bool("tensorboard", _D.tensorboard, "Also write TensorBoard event files.")
flags.DEFINE_string("inception_weights", _D.inception_weights,
                    "FID Inception weights (pt_inception-2015-12-05-6726825d.pth, or .npz) for "
                    "FID/KID/IS/precision-recall at each evaluation of an image run; default "
                    "$JAXGAN_INCEPTION_WEIGHTS. Without them those metrics are reported as "
                    "unavailable.")
flags.DEFINE_integer("fid_samples", _D.fid_samples,
                     "Generated and reference images per Inception evaluation.", lower_bound=2)
flags.DEFINE_integer("domain_samples", _D.domain_samples,
                     "Samples per domain-classifier evaluation (Fashion-MNIST, MNIST and their "
                     "stacked sets; PROTOCOLS.md's stacked count is 26000).", lower_bound=2)
flags.DEFINE_string("fid_cache_dir", _D.fid_cache_dir,
                    "Where reference Inception statistics are cached (default ~/.cache/jaxgan).")
flags.DEFINE_integer("checkpoint_every", _D.checkpoint_every,
                     "Steps between checkpoints in <workdir>/checkpoints (one is also written "
                     "at the end and when SIGTERM or SIGINT stops the run).", lower_bound=1)
flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints,
                     "How many of the newest checkpoints to keep.", lower_bound=1)
flags.DEFINE_enum("on_nonfinite", _D.on_nonfinite, list(config_lib.ON_NONFINITE),
                  "A NaN or Inf in a step's losses, gradients or parameters: stop the run "
                  "(the last checkpoint stays the last good one), or skip that update and count "
                  "it in the 'skipped' metric.")
flags.DEFINE_string("resume_from", None,
                    "Start from this checkpoint (a checkpoints/<step> directory, or a workdir "
                    "or checkpoints directory for its latest) instead of the workdir's latest. "
                    "Its config must match this run's.")
flags.DEFINE_bool("start_over", False,
                  "If the workdir holds a run, move it into <workdir>/archive/<time>/ and start "
                  "afresh instead of continuing it.")
flags.DEFINE_bool("xla_cpu_ynnpack", True,
                  "XLA:CPU's YNNPACK kernels for dots and convolutions (XLA's default). "
                  "--noxla_cpu_ynnpack uses XLA's own kernels instead (faster on some CPUs; "
                  "BUILD_NOTES.md has the measurements), with results that differ from the default "
                  "in the last bits. Ignored if $XLA_FLAGS already sets "
                  "--xla_cpu_experimental_ynn_fusion_type.")
flags.DEFINE_string("compilation_cache", os.path.join("~", ".cache", "jaxgan", "xla"),
                    "Persistent XLA compilation cache: a second run of the same program loads "
                    "its compiled steps instead of compiling (DCGAN-28: first step ~45 s -> "
                    "~13 s on 2 CPUs, BUILD_NOTES.md). '' turns it off; "
                    "$JAX_COMPILATION_CACHE_DIR, when set, takes precedence.")
flags.DEFINE_bool("sync_batch_norm", _D.sync_batch_norm,
                  "On several devices, batch norm uses the statistics of the global batch.")
# Multi-host runs: the same command on every host. Not needed where JAX finds the cluster
# itself (TPU pods, SLURM): see README, "Scaling out".
flags.DEFINE_string("coordinator_address", None,
                    "host:port of process 0, for jax.distributed.initialize.")
flags.DEFINE_integer("num_processes", None, "Number of processes (hosts) in the run.",
                     lower_bound=1)
flags.DEFINE_integer("process_id", None, "This process's index, 0 .. num_processes - 1.",
                     lower_bound=0)
flags.mark_flag_as_required("workdir")

FLAGS = flags.FLAGS


def config_from_flags() -> Config:
  """Returns the validated Config that the parsed flags describe."""
  values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(Config)}
  return Config(**values).validate()


def _cluster_detected() -> bool:
  """Returns whether the environment is a multi-process job JAX can join by itself."""
  env = os.environ
  slurm = int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env
  tpu = len([h for h in env.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1
  return slurm or tpu


def initialize_distributed() -> None:
  """Joins the other processes of a multi-host run (a no-op for a single process)."""
  import jax  # pylint: disable=g-import-not-at-top
  given = [FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id]
  if any(v is not None for v in given):
    if any(v is None for v in given):
      _fail("--coordinator_address, --num_processes and --process_id go together: give all "
            "three or none")
    if FLAGS.process_id >= FLAGS.num_processes:
      _fail(f"--process_id={FLAGS.process_id} must be below "
            f"--num_processes={FLAGS.num_processes}")
    # CPU processes need a collectives library to reach each other (GPU/TPU have theirs).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id)
  elif _cluster_detected():
    jax.distributed.initialize()


def _fail(message: str) -> None:
  print(f"FATAL Flags parsing error: {message}", file=sys.stderr)
  sys.exit(2)


def _check_flagfile_lines(argv: list[str]) -> None:
  """Names a flagfile line that is not a flag (absl would take it as a positional argument)."""
  for arg in argv:
    if not arg.startswith("--flagfile="):
      continue
    path = arg.split("=", 1)[1]
    if not os.path.isfile(path):
      continue  # absl names the missing file
    with open(path, encoding="utf-8") as f:
      for number, line in enumerate(f, 1):
        text = line.strip()
        if text and not text.startswith(("#", "//", "-")):
          _fail(f"{path}, line {number}: {text!r} is not a flag; write --name=value")


def parse_flags(argv: list[str]) -> list[str]:
  """Parses the flags, answering any mistake with one line naming it (no help dump)."""
  _check_flagfile_lines(argv[1:])
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    _fail(str(e))
  if len(rest) > 1:
    _fail(f"unexpected positional arguments: {' '.join(rest[1:])}")
  return rest


YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"


def xla_flags_for(use_ynnpack: bool, xla_flags: str) -> str:
  """Returns `xla_flags` with XLA:CPU's YNNPACK fusions turned off if `use_ynnpack` is False,
  unless the flags already choose them."""
  if use_ynnpack or YNN_FUSION_FLAG in xla_flags:
    return xla_flags
  return f"{xla_flags} {YNN_FUSION_FLAG}=".strip()


def use_compilation_cache(path: str) -> None:
  """Points JAX's persistent compilation cache at `path`, unless the environment names one."""
  import jax  # pylint: disable=import-outside-toplevel
  if path and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))


def _fatal_error(e: Exception, code: int) -> None:
  # One write, on a line of its own: after a failed checkpoint write or read, orbax's
  # threads may still be printing (seen: "Event loop is closed" tracebacks at exit).
  sys.stderr.write(f"\nFATAL {type(e).__name__}: {e}\n")
  sys.stderr.flush()
  sys.exit(code)


def main(argv):
  del argv  # parse_flags refused positional arguments
  try:
    config = config_from_flags()
  except ValueError as e:
    _fail(f"--{e}")
  logging.get_absl_handler().addFilter(QuietOrbax())
  # Read when JAX starts its backend, which nothing has done yet.
  xla_flags = xla_flags_for(FLAGS.xla_cpu_ynnpack, os.environ.get("XLA_FLAGS", ""))
  if xla_flags != os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = xla_flags
    logging.info("XLA_FLAGS=%s", xla_flags)
  # Imported here so that --help and flag errors answer without starting JAX.
  from jaxgan.checkpoint import CheckpointError, CheckpointWriteError
  from jaxgan.data.readers import DataError
  from jaxgan.preemption import Preempted
  from jaxgan.train import NonFiniteError, RecordWriteError, train_and_evaluate
  use_compilation_cache(FLAGS.compilation_cache)
  initialize_distributed()
  try:
    train_and_evaluate(config, FLAGS.workdir, resume_from=FLAGS.resume_from,
                       start_over=FLAGS.start_over)
  except Preempted as e:
    print(f"STOPPED {e}", file=sys.stderr)
    sys.exit(128 + e.signum)  # the shell's code for a process ended by that signal
  except KeyboardInterrupt:  # before the train loop, which saves a checkpoint instead
    print("STOPPED by SIGINT before training started; nothing new was saved",
          file=sys.stderr)
    sys.exit(128 + signal.SIGINT)
  except (NonFiniteError, CheckpointWriteError, RecordWriteError) as e:  # the run failed
    _fatal_error(e, 1)
  except (DataError, config_lib.ConfigError, CheckpointError) as e:  # bad input
    _fatal_error(e, 2)


if __name__ == "__main__":
  logging.set_verbosity(logging.INFO)
  app.run(main, flags_parser=parse_flags)
