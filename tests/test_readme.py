"""The README's library example runs as printed and reaches what the README says it shows."""

import ast
import os
import re
import subprocess
import sys

import pytest

from conftest import FAST_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def library_section() -> str:
  """Returns the README's "As a library" section."""
  with open(README, encoding="utf-8") as f:
    text = f.read()
  section = text[text.index("## As a library"):]
  return section[:section.index("\n## ", 1)]


def library_blocks() -> list[str]:
  """Returns the Python blocks of the README's "As a library" section, in order."""
  return re.findall(r"```python\n(.*?)```", library_section(), re.S)


def run(code: str, folder) -> dict:
  """Runs `code` as a user does, as a script in a folder of its own away from the repository,
  so that `import jaxgan` finds the installed package; returns what its last line printed."""
  script = folder / "example.py"
  script.write_text(code, encoding="utf-8")
  env = {k: v for k, v in FAST_ENV.items() if k != "PYTHONPATH"}
  proc = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True,
                        text=True, timeout=600, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def test_the_readme_says_where_to_run_a_script_from():
  text = " ".join(library_section().split())
  assert "anywhere but beside the clone" in text
  assert "module 'jaxgan' has no attribute 'data'" in text


@pytest.mark.slow
@pytest.mark.parametrize("players", ["linen", "nnx"])
def test_the_library_example_reaches_every_mode_as_the_readme_says(players, tmp_path):
  example, nnx_players = library_blocks()[:2]
  if players == "nnx":
    line = next(l for l in example.splitlines() if l.startswith("G, D = "))
    example = example.replace(line, nnx_players)
  assert os.path.realpath(tmp_path) != os.path.realpath(ROOT)
  coverage = run(example, tmp_path)
  assert coverage["modes"] == 8, coverage
  # The README: "57 % of the samples within 3σ of a mode" (the linen players).
  assert coverage["hq_fraction"] > (0.5 if players == "linen" else 0.3), coverage
