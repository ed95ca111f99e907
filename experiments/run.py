r"""Trains a GAN from flags: `python -m experiments.run --flagfile=experiments/configs/ring8.flags`.

Every field of `jaxgan.runner.config.Config`'s sections is a flag of the same name, type, default
and help (declared from the fields, not listed here); a flag given on the command line after
`--flagfile` overrides the file.
"""

import dataclasses
import os
import signal
import sys

from absl import app, flags, logging

from experiments import cli

from jaxgan.runner import config as config_lib
from jaxgan import options
from jaxgan.runner.config import Config
from jaxgan.errors import ConfigError

flags.DEFINE_string("workdir", None, "Directory for metrics.jsonl, summary.json and pictures.")


def define_config_flags() -> None:
  """Declares one flag per config field, of the field's type, default and help."""
  define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
            str: flags.DEFINE_string}
  for cls in config_lib.SECTIONS.values():
    for field in dataclasses.fields(cls):
      define[type(field.default)](field.name, field.default, options.describe(field))


define_config_flags()
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
                    "its compiled steps instead of compiling (BUILD_NOTES.md has what it saves). "
                    "'' turns it off; "
                    "$JAX_COMPILATION_CACHE_DIR, when set, takes precedence.")
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
  return Config(**{name: FLAGS[name].value for name in config_lib.SECTION_OF}).validate()


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
  cli.fatal(message, "Flags parsing error")


def _check_flagfile_lines(argv: list[str]) -> None:
  """Names a flagfile line that is not a flag (absl would take it as a positional argument)."""
  for path in cli.flagfiles(argv):
    if not os.path.isfile(path):
      continue  # cli.check_flagfiles_exist names the missing file
    with open(path, encoding="utf-8") as f:
      for number, line in enumerate(f, 1):
        text = line.strip()
        if text and not text.startswith(("#", "//", "-")):
          _fail(f"{path}, line {number}: {text!r} is not a flag; write --name=value")


def parse_flags(argv: list[str]) -> list[str]:
  """Parses the flags, answering any mistake with one line naming it (no help dump): a
  flagfile that is not there (with the shipped ones), a line of one that is not a flag, and
  what `cli.parse_flags` answers."""
  cli.check_flagfiles_exist(argv[1:])
  _check_flagfile_lines(argv[1:])
  return cli.parse_flags(argv)


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
  cli.quiet_logs()
  # Read when JAX starts its backend, which nothing has done yet.
  xla_flags = xla_flags_for(FLAGS.xla_cpu_ynnpack, os.environ.get("XLA_FLAGS", ""))
  if xla_flags != os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = xla_flags
    logging.info("XLA_FLAGS=%s", xla_flags)
  # Imported here so that --help and flag errors answer without starting JAX.
  from jaxgan.runner.checkpoint import CheckpointError, CheckpointWriteError
  from jaxgan.data.readers import DataError
  from jaxgan.runner.preemption import Preempted
  from jaxgan.runner.train import NonFiniteError, RecordWriteError, train_and_evaluate
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
  except (DataError, ConfigError, CheckpointError) as e:  # bad input
    _fatal_error(e, 2)


if __name__ == "__main__":
  logging.set_verbosity(logging.INFO)
  app.run(main, flags_parser=parse_flags)
