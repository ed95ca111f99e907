"""Generator and discriminator definitions, one file per model family.

Importing this package imports every module of its folder, so each model file's
`registry.register(...)` line has run before anyone asks the registry for a name: a new
model is a new file here (`jaxgan.models.registry` says what the file holds).
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_module.name}")

from jaxgan.models.mlp import MLP, MLPDiscriminator, MLPGenerator  # pylint: disable=g-import-not-at-top,wrong-import-position  # noqa: E402
