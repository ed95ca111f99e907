"""The shape the code keeps: a short step module, short functions, no import cycles."""

import ast
import os

ROOT = os.path.join(os.path.dirname(__file__), os.pardir, "jaxgan")


def modules() -> dict[str, str]:
  """Returns {dotted module name: path} of every module in jaxgan/."""
  found = {}
  for folder, _, files in os.walk(ROOT):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        dotted = os.path.relpath(path, os.path.dirname(ROOT))[:-3].replace(os.sep, ".")
        found[dotted.removesuffix(".__init__")] = path
  return found


def test_the_step_module_and_the_algorithm_are_short():
  with open(os.path.join(ROOT, "step.py"), encoding="utf-8") as f:
    source = f.read()
  assert len(source.splitlines()) <= 250
  algorithm = next(n for n in ast.walk(ast.parse(source))
                   if isinstance(n, ast.FunctionDef) and n.name == "alternating")
  assert algorithm.end_lineno - algorithm.lineno + 1 <= 80


def test_no_function_in_the_library_is_over_100_lines():
  long = []
  for name, path in modules().items():
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    long += [f"{name}.{n.name}: {n.end_lineno - n.lineno + 1} lines" for n in ast.walk(tree)
             if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > 100]
  assert not long


def test_no_import_cycles_between_library_modules():
  found = modules()
  edges = {name: set() for name in found}
  for name, path in found.items():
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxgan"):
        for alias in node.names:
          target = f"{node.module}.{alias.name}"
          edges[name].add(target if target in found else node.module)
  # A package's __init__ re-exports its modules; an edge into a package means its __init__.
  packages = {n for n, p in found.items() if p.endswith("__init__.py")}

  def visit(node, path):
    for nxt in edges.get(node, ()):
      if nxt in packages and node.startswith(nxt + "."):
        continue  # a module of a package importing from its own package's namespace
      assert nxt not in path, " -> ".join(path + [nxt])
      visit(nxt, path + [nxt])

  for start in found:
    if start not in packages:
      visit(start, [start])


def test_experiments_holds_only_what_users_run():
  """Benchmarks and studies live beside it (benchmarks/, studies/), not installed."""
  folder = os.path.join(os.path.dirname(ROOT), "experiments")
  tools = sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py"))
  assert tools == ["__init__", "cli", "convert", "evaluate", "games", "overfit", "run",
                   "sample", "train_classifier"]
  with open(os.path.join(os.path.dirname(ROOT), "pyproject.toml"), encoding="utf-8") as f:
    assert 'include = ["jaxgan*", "experiments*"]' in f.read()
