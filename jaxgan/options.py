"""A config field that carries its own help and bounds, and the one check that reads them.

`option(default, help, ...)` is a `dataclasses.field` whose metadata says what the field
accepts: a lower or upper bound, or a vocabulary. A vocabulary is a function of the module that
owns the names (`losses.LOSSES`, the models' registry, ...), so a name is added in one place
and the config, the flags and the checks all see it. `check(section)` validates every field of
a section from that metadata; the runner's flags are declared from the same fields
(`experiments/run.py`), so no list of fields is written twice.
"""

import dataclasses
import math
from typing import Any, Callable, Iterable

from jaxgan.errors import ConfigError


def option(default: Any, help: str, *, choices: Callable[[], Iterable[str]] | None = None,
           at_least: float | None = None, above: float | None = None,
           below: float | None = None, at_most: float | None = None,
           check: Callable[[Any], None] | None = None):
  """Returns a dataclass field of `default`'s type (bool, int, float or str).

  Args:
    default: the value when none is given; its type is the field's type.
    help: one or two sentences for `--help`.
    choices: returns the accepted names (read when checked, from the module that owns them).
    at_least, above, below, at_most: bounds of a number.
    check: raises ValueError naming the problem, for rules a vocabulary cannot state.
  """
  return dataclasses.field(default=default, metadata=dict(
      help=help, choices=choices, at_least=at_least, above=above, below=below,
      at_most=at_most, check=check))


def describe(field: dataclasses.Field) -> str:
  """Returns the field's help with its choices or bounds appended."""
  meta = field.metadata
  text = meta["help"]
  if meta["choices"] is not None:
    text += f" One of: {', '.join(meta['choices']())}."
  return text


def _number_rule(kind: type, meta) -> tuple[Callable[[Any], bool], str]:
  """Returns (accepts(value), what it must be) for an int or float field."""
  bounds = [(meta["at_least"], ">=", lambda v, b: v >= b), (meta["above"], ">", lambda v, b: v > b),
            (meta["below"], "<", lambda v, b: v < b), (meta["at_most"], "<=", lambda v, b: v <= b)]
  bounds = [(b, sign, test) for b, sign, test in bounds if b is not None]
  if kind is int:
    is_kind = lambda v: isinstance(v, int) and not isinstance(v, bool)
    noun = "an integer"
  else:
    is_kind = lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                         and math.isfinite(v))
    noun = "a finite number"
  if len(bounds) == 2 and bounds[0][1].startswith(">") and bounds[1][1].startswith("<"):
    (lo, lo_sign, _), (hi, hi_sign, _) = bounds
    left, right = "[" if lo_sign == ">=" else "(", "]" if hi_sign == "<=" else ")"
    what = f"it must lie in {left}{lo:g}, {hi:g}{right}"
  else:
    what = f"it must be {noun}" + "".join(f" {sign} {b:g}" for b, sign, _ in bounds)
  return (lambda v: is_kind(v) and all(test(v, b) for b, _, test in bounds)), what


def check(section) -> None:
  """Raises ConfigError naming the first field of `section` whose value it does not accept."""
  for field in dataclasses.fields(section):
    value, meta = getattr(section, field.name), field.metadata
    kind = type(field.default)
    if meta["choices"] is not None:
      accepted = tuple(meta["choices"]())
      if value not in accepted:
        raise ConfigError(f"{field.name}={value!r} is not accepted; choose one of: "
                          f"{', '.join(accepted)}")
    elif kind in (int, float):
      accepts, what = _number_rule(kind, meta)
      if not accepts(value):
        raise ConfigError(f"{field.name}={value!r} is not accepted; {what}")
    elif not isinstance(value, kind):
      raise ConfigError(f"{field.name}={value!r} is not accepted; it must be a {kind.__name__}")
    if meta["check"] is not None:
      try:
        meta["check"](value)
      except ValueError as e:
        raise ConfigError(str(e)) from None
