"""What every command does with a mistake: one line `FATAL <kind>: <what>`, exit code 2.

`parse_flags` is an absl `flags_parser` that answers a bad flag so, instead of printing the
usage; `fatal` ends a command so once it has named the bad value.
"""

import sys
from typing import NoReturn

from absl import flags


def fatal(message: str, kind: str = "Error") -> NoReturn:
  """Writes one FATAL line to stderr and exits with 2."""
  sys.stderr.write(f"FATAL {kind}: {message}\n")
  sys.stderr.flush()
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """Parses absl flags; a bad or unknown flag, or a positional argument, is one FATAL line."""
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    fatal(str(e), "Flags parsing error")
  if len(rest) > 1:
    fatal(f"unexpected arguments {rest[1:]}", "Flags parsing error")
  return rest
