"""The shape the code keeps: a short step module, short functions, no import cycles."""

import ast
import os
import shutil
import subprocess
import sys

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


def _imports(path: str) -> set[str]:
  """Returns the jaxgan modules a file imports, at its top or inside a function."""
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read())
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
  return {name for name in found if name.split(".")[0] == "jaxgan"}


def test_the_library_never_imports_the_runner():
  """Research code that imports the step takes none of the runner (`jaxgan.runner`)."""
  wrong = [f"{name} -> {target}" for name, path in modules().items()
           if not name.startswith("jaxgan.runner") and name != "jaxgan._moved"
           for target in _imports(path) if target.startswith("jaxgan.runner")]
  assert not wrong


def test_no_file_of_the_checkout_imports_a_module_by_its_old_name():
  from jaxgan import _moved  # pylint: disable=import-outside-toplevel
  checkout = os.path.dirname(ROOT)
  old = []
  for folder in ("jaxgan", "experiments", "tests", "benchmarks", "studies", "parity"):
    for path, _, files in os.walk(os.path.join(checkout, folder)):
      for name in (n for n in files if n.endswith(".py")):
        found = _imports(os.path.join(path, name)) & set(_moved.MOVED)
        old += [f"{os.path.join(path, name)}: {sorted(found)}"] if found else []
  assert not old


def test_the_old_module_names_are_the_new_modules_with_a_deprecation_warning():
  """`import jaxgan.config` and `jaxgan.lecam` still work for one release, and warn."""
  script = """
import importlib, warnings
import jaxgan
from jaxgan import _moved
for old, new in _moved.MOVED.items():
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    module = importlib.import_module(old)
  assert module is importlib.import_module(new), old
  assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message)
             for w in caught), old
with warnings.catch_warnings(record=True) as caught:
  warnings.simplefilter("always")
  import jaxgan.checkpoint
  from jaxgan.config import Config
  from jaxgan import penalties
  assert jaxgan.lecam is importlib.import_module("jaxgan.regularisers.lecam")
assert Config is importlib.import_module("jaxgan.runner.config").Config
assert penalties.PENALTIES is jaxgan.regularisers.penalties.PENALTIES
print("ok")
"""
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=os.path.dirname(ROOT), check=False)
  assert done.stdout.strip() == "ok", done.stderr[-3000:]


TINY_MODEL = '''"""A model added as one file: modules, settings section, registration."""
import dataclasses
import flax.linen as nn
from jaxgan.models import registry
from jaxgan.options import option


@dataclasses.dataclass(frozen=True)
class TinySettings:
  tiny_width: int = option(3, "tiny: hidden units.", at_least=1)


class TinyG(nn.Module):
  width: int
  latent_dim: int = 2

  @nn.compact
  def __call__(self, z, train: bool = True):
    return nn.Dense(2)(nn.relu(nn.Dense(self.width)(z)))


class TinyD(nn.Module):
  width: int

  @nn.compact
  def __call__(self, x, train: bool = True):
    return nn.Dense(1)(nn.relu(nn.Dense(self.width)(x)))[:, 0]


def players(spec, settings):
  return TinyG(settings.tiny_width, spec.latent_dim), TinyD(settings.tiny_width)


registry.register(registry.Model("tiny", players, latent_dim=2, settings=TinySettings,
                                 section="tiny", images=False))
'''


def test_a_new_model_is_one_file_that_the_config_flags_and_runner_see(tmp_path):
  """A copy of the checkout with one file added to jaxgan/models/: the registry, the config's
  vocabulary and section, the runner's flags and its players take the new model."""
  checkout = os.path.dirname(ROOT)
  for folder in ("jaxgan", "experiments"):
    shutil.copytree(os.path.join(checkout, folder), tmp_path / folder,
                    ignore=shutil.ignore_patterns("__pycache__"))
  (tmp_path / "jaxgan" / "models" / "tiny.py").write_text(TINY_MODEL)
  script = """
from experiments import run
from jaxgan.runner import factories
run.FLAGS(["run", "--model=tiny", "--tiny_width=5", "--num_steps=1", "--workdir=w"])
config = run.config_from_flags()
G, D, _, _ = factories.players_and_optimizers(config)
assert type(config.model_settings).__name__ == "TinySettings", config.model_settings
assert (G.width, D.width, config.to_dict()["tiny_width"]) == (5, 5, 5)
assert "tiny" in run.FLAGS["model"].help and "hidden units" in run.FLAGS["tiny_width"].help
print("ok")
"""
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=tmp_path, check=False,
                        env={**os.environ, "PYTHONPATH": str(tmp_path), "JAX_PLATFORMS": "cpu"})
  assert done.stdout.strip() == "ok", done.stderr[-3000:]


def test_each_model_file_holds_its_players_settings_and_registration():
  from jaxgan.models import registry  # pylint: disable=import-outside-toplevel
  for name, model in registry.MODELS.items():
    module = model.players.__module__
    assert module.startswith("jaxgan.models."), (name, module)
    if model.settings is not None:  # mlp_nnx shares mlp's section
      assert model.settings.__module__ in (module, "jaxgan.models.mlp"), name
  # No table of per-model values is kept outside the model files.
  with open(os.path.join(ROOT, "models", "registry.py"), encoding="utf-8") as f:
    source = f.read()
  assert not [m for m in registry.MODELS if f'"{m}"' in source]
