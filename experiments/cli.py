"""What every command does with a mistake: one line `FATAL <kind>: <what>`, exit code 2.

`parse_flags` is an absl `flags_parser` that answers a bad flag so, instead of printing the
usage; `fatal` ends a command so once it has named the bad value. `quiet_logs` drops the
log lines that say nothing to the user of a command (JAX probing for a TPU, orbax's chatter).
"""

import glob
import logging as py_logging
import os
import sys
from typing import Callable, NoReturn, TextIO

from absl import flags

CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def fatal(message: str, kind: str = "Error") -> NoReturn:
  """Writes one FATAL line to stderr and exits with 2."""
  sys.stderr.write(f"FATAL {kind}: {message}\n")
  sys.stderr.flush()
  sys.exit(2)


def shipped_configs() -> list[str]:
  """The names of the flagfiles in experiments/configs/, without `.flags`."""
  return sorted(os.path.basename(p).removesuffix(".flags")
                for p in glob.glob(os.path.join(CONFIGS_DIR, "*.flags")))


def _shown(path: str) -> str:
  """`path` relative to the working directory when it lies below it, else absolute."""
  relative = os.path.relpath(path)
  return path if relative.startswith(os.pardir) else relative


def flagfiles(argv: list[str]) -> list[str]:
  """The files that `--flagfile=F` (or `--flagfile F`, `-flagfile...`) in `argv` name."""
  paths = []
  for i, arg in enumerate(argv):
    for prefix in ("--flagfile=", "-flagfile="):
      if arg.startswith(prefix):
        paths.append(os.path.expanduser(arg[len(prefix):].strip()))
    if arg in ("--flagfile", "-flagfile") and i + 1 < len(argv):
      paths.append(os.path.expanduser(argv[i + 1].strip()))
  return paths


def check_flagfiles_exist(argv: list[str]) -> None:
  """Names a flagfile that is not there, and the configs that are shipped."""
  for path in flagfiles(argv):
    if not os.path.isfile(path):
      fatal(f"flagfile {path} not found; shipped configs: {', '.join(shipped_configs())} "
            f"(in {_shown(CONFIGS_DIR)}{os.sep}, as NAME.flags)", "Flags parsing error")


def parse_flags(argv: list[str]) -> list[str]:
  """Parses absl flags; a bad or unknown flag, a missing flagfile or a positional argument is
  one FATAL line."""
  check_flagfiles_exist(argv[1:])
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    fatal(str(e), "Flags parsing error")
  if len(rest) > 1:
    fatal(f"unexpected arguments {rest[1:]}", "Flags parsing error")
  return rest


class NoTpuProbe(py_logging.Filter):
  """Drops JAX's INFO line "Unable to initialize backend 'tpu': ... cannot open shared object
  file" (no libtpu installed: a machine without TPUs), logged by every command that starts
  JAX. A TPU that fails to start on a machine with libtpu is reported otherwise, and kept."""

  def filter(self, record):
    message = record.getMessage()
    return not ("Unable to initialize backend 'tpu'" in message
                and "cannot open shared object file" in message)


def quiet_logs() -> None:
  """Installs the commands' log filters: JAX's TPU probe on a machine without TPUs, and
  orbax's INFO lines and read-only warnings (`jaxgan.runner.checkpoint.QuietOrbax`)."""
  from absl import logging  # pylint: disable=import-outside-toplevel
  from jaxgan.runner.checkpoint import QuietOrbax  # pylint: disable=import-outside-toplevel
  py_logging.getLogger("jax._src.xla_bridge").addFilter(NoTpuProbe())
  logging.get_absl_handler().addFilter(QuietOrbax())


def progress_printer(stream: TextIO, noun: str, lines: int = 4) -> Callable[[int, int], None]:
  """Returns `progress(done, total)` for a long loop: on a terminal one counter rewritten in
  place (`\\r`); elsewhere (a log file, a pipe) a whole line each time another 1/`lines` of
  the work is done, and at the end."""
  tty = stream.isatty()
  shown = [0]

  def progress(done: int, total: int) -> None:
    if tty:
      stream.write(f"\r{done}/{total} {noun}" + ("\n" if done == total else ""))
    elif done == total or done * lines // total > shown[0] * lines // total:
      stream.write(f"{done}/{total} {noun}\n")
      shown[0] = done
    stream.flush()

  return progress
