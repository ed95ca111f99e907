"""The modules that moved in the re-layout of 2026-12, under their old names for one release.

`import jaxgan.config`, `from jaxgan import config` and `jaxgan.config` after `import jaxgan`
give the module at its new place (the same module object, so its classes are the same) with
a DeprecationWarning naming the new place. The old names go in the release after 0.1.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

MOVED = {
    "jaxgan.config": "jaxgan.runner.config",
    "jaxgan.wiring": "jaxgan.runner.factories",
    "jaxgan.train": "jaxgan.runner.train",
    "jaxgan.workdir": "jaxgan.runner.workdir",
    "jaxgan.checkpoint": "jaxgan.runner.checkpoint",
    "jaxgan.preemption": "jaxgan.runner.preemption",
    "jaxgan.writers": "jaxgan.runner.writers",
    "jaxgan.viz": "jaxgan.runner.pictures",
    "jaxgan.runs": "jaxgan.runner.runs",
    "jaxgan.export": "jaxgan.runner.export",
    "jaxgan.evaluate": "jaxgan.runner.evaluation",
    "jaxgan.converted_run": "jaxgan.runner.converted",
    "jaxgan.penalties": "jaxgan.regularisers.penalties",
    "jaxgan.lecam": "jaxgan.regularisers.lecam",
    "jaxgan.path_length": "jaxgan.regularisers.path_length",
    "jaxgan.augment": "jaxgan.views.augment",
    "jaxgan.ada": "jaxgan.views.ada_pipeline",
}


def new_module(old: str):
  """Returns the module `old` now is, after warning that the old name is deprecated."""
  warnings.warn(f"{old} moved to {MOVED[old]}; import it from there (the old name goes in the "
                f"next release)", DeprecationWarning, stacklevel=3)
  return importlib.import_module(MOVED[old])


class _OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Finds a moved module by its old name and loads it as the module at its new place."""

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname in MOVED:
      return importlib.machinery.ModuleSpec(fullname, self)
    return None

  def create_module(self, spec):
    return None  # a placeholder; exec_module puts the real module in its place

  def exec_module(self, module):
    # The import system returns what sys.modules holds under the name after this call.
    sys.modules[module.__name__] = new_module(module.__name__)


def install() -> None:
  """Makes the old names importable (once per process)."""
  if not any(isinstance(finder, _OldNames) for finder in sys.meta_path):
    sys.meta_path.append(_OldNames())
