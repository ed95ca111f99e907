r"""Draws jaxgan's import graph and measures its shape: floors, arrows back up, what a module pulls
in.

Read from the source (no import is run). A module's edges are the jaxgan modules its `import`
statements name, at the top of the file or inside a function (an import inside a function
is still a dependency, taken later). Floors: a module that imports no other jaxgan module is
on floor 0, any other one floor above the highest module it imports at the top of its file.
An arrow back up is an import (anywhere in the file) of a module on the same floor or above:
it runs against the layering, and with a top-level import it would be a cycle. "Pulls in"
is every module reachable from one module, and how many of those edges climb back up.

  python -m studies.import_graph                       # the table, and the runner's edges
  python -m studies.import_graph --walk=jaxgan.runner.config
  python -m studies.import_graph --root=../before/jaxgan   # another checkout's layout
"""

import ast
import os
import sys

from absl import app, flags

flags.DEFINE_string("root", os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "jaxgan"), "The package folder to read.")
flags.DEFINE_list("walk", ["jaxgan.runner.config", "jaxgan.runner.train"],
                  "Modules whose reach is printed (those missing from the layout are skipped).")
FLAGS = flags.FLAGS


def modules(root: str) -> dict[str, str]:
  """Returns {dotted name: path} of every module under `root` (a package's `__init__` as the
  package's own name)."""
  found = {}
  base = os.path.dirname(os.path.abspath(root))
  for folder, _, files in os.walk(root):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        dotted = os.path.relpath(path, base)[:-3].replace(os.sep, ".")
        found[dotted.removesuffix(".__init__")] = path
  return found


def edges(found: dict[str, str]) -> dict[str, dict[str, bool]]:
  """Returns {module: {imported module: whether imported at the top of the file}}."""
  out = {}
  for name, path in found.items():
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    top = {id(n) for n in tree.body}
    is_package = path.endswith("__init__.py")
    targets = {}
    for node in ast.walk(tree):
      names = []
      if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          parts = name.split(".") if is_package else name.split(".")[:-1]
          parts = parts[:len(parts) - node.level + 1]
          base = ".".join(parts + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in found else base for a in node.names]
      for target in names:
        while target not in found and "." in target:
          target = target.rsplit(".", 1)[0]
        if target in found and target != name:
          targets[target] = targets.get(target, False) or id(node) in top
    out[name] = targets
  return out


def floors(graph: dict[str, dict[str, bool]]) -> dict[str, int]:
  """Returns each module's floor, from its top-level imports (an import that closes a cycle,
  as a package's `__init__` importing its own modules may, is left out)."""
  floor: dict[str, int] = {}
  on_stack: set[str] = set()

  def visit(node):
    if node in floor:
      return floor[node]
    on_stack.add(node)
    below = [visit(t) for t, at_top in graph[node].items() if at_top and t not in on_stack]
    on_stack.discard(node)
    floor[node] = 1 + max(below, default=-1)
    return floor[node]

  for node in sorted(graph):
    visit(node)
  return floor


def chain(graph, floor, start: str) -> list[str]:
  """Returns a longest chain of top-level imports down from `start`."""
  path = [start]
  while floor[path[-1]]:
    path.append(next(t for t, at_top in graph[path[-1]].items()
                     if at_top and floor[t] == floor[path[-1]] - 1))
  return path


def back_up(graph, floor) -> list[tuple[str, str]]:
  """Returns the imports of a module on the same floor or above."""
  return sorted((a, b) for a, targets in graph.items() for b in targets if floor[b] >= floor[a])


def reach(graph, start: str) -> set[str]:
  seen, todo = set(), [start]
  while todo:
    node = todo.pop()
    for target in graph.get(node, ()):
      if target not in seen:
        seen.add(target)
        todo.append(target)
  return seen


def main(argv):
  del argv
  graph = edges(modules(FLAGS.root))
  floor = floors(graph)
  runner = {m for m in graph if m.startswith("jaxgan.runner")}
  into_runner = sorted((a, b) for a, t in graph.items() for b in t
                       if b in runner and a not in runner and a != "jaxgan._moved")
  up = back_up(graph, floor)
  print(f"modules: {len(graph)}, edges: {sum(map(len, graph.values()))}, "
        f"floors: {max(floor.values()) + 1}, arrows back up: {len(up)}")
  for a, b in up:
    print(f"  back up: {a} (floor {floor[a]}) -> {b} (floor {floor[b]})")
  print(f"library modules importing the runner: {len(into_runner)}")
  for a, b in into_runner:
    print(f"  {a} -> {b}")
  for start in FLAGS.walk:
    if start in graph:
      seen = reach(graph, start)
      climbs = sum(floor[b] >= floor[a] for a in seen | {start} for b in graph[a])
      print(f"{start} pulls in {len(seen)} modules; {climbs} of their imports climb back up")
  print("a longest chain: " + " -> ".join(chain(graph, floor, max(floor, key=floor.get))))
  top = [m for m in graph if "." not in m.removeprefix("jaxgan.")]
  print(f"modules directly in jaxgan/: {len(top) - 1}")


if __name__ == "__main__":
  sys.exit(app.run(main))
