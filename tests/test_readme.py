"""The README's library example runs as printed and reaches what the README says it shows."""

import ast
import contextlib
import io
import os
import re

import pytest

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def library_blocks() -> list[str]:
  """Returns the Python blocks of the README's "As a library" section, in order."""
  with open(README, encoding="utf-8") as f:
    text = f.read()
  section = text[text.index("## As a library"):]
  section = section[:section.index("\n## ", 1)]
  return re.findall(r"```python\n(.*?)```", section, re.S)


def run(code: str) -> dict:
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})  # pylint: disable=exec-used
  return ast.literal_eval(out.getvalue().strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("players", ["linen", "nnx"])
def test_the_library_example_reaches_every_mode_as_the_readme_says(players):
  example, nnx_players = library_blocks()[:2]
  if players == "nnx":
    line = next(l for l in example.splitlines() if l.startswith("G, D = "))
    example = example.replace(line, nnx_players)
  coverage = run(example)
  assert coverage["modes"] == 8, coverage
  # The README: "57 % of the samples within 3σ of a mode" (the linen players).
  assert coverage["hq_fraction"] > (0.5 if players == "linen" else 0.3), coverage
