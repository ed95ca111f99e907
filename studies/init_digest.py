r"""Prints what the runner builds from a flagfile before its first step: the fresh state's
digest, G's and D's module attributes and the step's settings, in the layout before issue 38
and after it, so that a move of the code can be checked on flagfiles too large to step here.

  PYTHONPATH=../before python studies/init_digest.py cifar10_r3gan ffhq256_stylegan2_ada ...
  python studies/init_digest.py cifar10_r3gan ffhq256_stylegan2_ada ...   # in this checkout

Run from the checkout's root (the flagfiles are read from experiments/configs/); each line
is `name {state, g, d, step}`, compared line for line between the two outputs.
"""
import hashlib
import importlib
import sys

import jax
import numpy as np
from experiments import run

try:
  from jaxgan.runner import factories
  from jaxgan.runner.checkpoint import state_digest
  build = factories.players_and_optimizers
except ImportError:  # the layout before issue 38 (by name: its modules are gone from this one)
  factories = importlib.import_module("jaxgan.wiring")
  state_digest = importlib.import_module("jaxgan.checkpoint").state_digest
  build = factories.build
from jaxgan.state import create_state

# A flagfile's data: its shape and classes, by the file name's first word.
SHAPES = {"cifar10": ((32, 32, 3), 10), "ffhq64": ((64, 64, 3), 0),
          "ffhq256": ((256, 256, 3), 0)}


def built(name: str) -> dict:
  run.FLAGS.unparse_flags()
  run.FLAGS(["run", f"--flagfile=experiments/configs/{name}.flags", "--workdir=unused"])
  config = run.config_from_flags()
  shape, classes = SHAPES[name.split("_")[0]]
  conditional = config.players.g_conditioning != "none"
  G, D, g_tx, d_tx = build(config, shape, classes if conditional else 0, True)
  objective = factories.objective_of(config.objective, config.horizon)
  state = create_state(jax.random.key(config.run.seed), G, D, g_tx, d_tx,
                       np.zeros((4, *shape), np.float32), objective)
  settings = config.step.settings(config.horizon, config.run.batch_size)
  sha = lambda text: hashlib.sha256(text.encode()).hexdigest()[:12]
  return {"state": state_digest(state)[:16], "g": sha(repr(G)), "d": sha(repr(D)),
          "step": repr(sorted((k, "schedule" if callable(v) else v)
                              for k, v in settings.items()))}


if __name__ == "__main__":
  for flagfile in sys.argv[1:]:
    print(flagfile, built(flagfile), flush=True)
