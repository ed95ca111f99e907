"""What a state must be for a step to update it, checked when the step is first traced.

`checked(step, g_tx, d_tx)` wraps a train step so that a state it cannot update is refused
with an error naming the mismatch (optimizer states made by other optimizers, parameters built
for inputs of another shape), not found out as an optax or flax error inside the step.
"""

from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.state import GANState, real_inputs

TrainStep = Callable[[GANState, Any], tuple[GANState, dict]]


def checked(step: TrainStep, g_tx, d_tx) -> TrainStep:
  """Returns `step` refusing, by name, a state it cannot update: optimizer states made by
  other optimizers than `g_tx` / `d_tx`, or parameters built for inputs of another shape
  than the batch's (checked on shapes only: under `jit`, once, when traced)."""

  def train_step(state: GANState, batch):
    for who, tx in (("g", g_tx), ("d", d_tx)):
      params, opt_state = getattr(state, f"{who}_params"), getattr(state, f"{who}_opt_state")
      want = jax.eval_shape(tx.init, params)
      shapes = lambda tree: [(tuple(np.shape(x)), jnp.result_type(x)) for x in
                             jax.tree.leaves(tree)]
      if (jax.tree.structure(want) != jax.tree.structure(opt_state)
          or shapes(want) != shapes(opt_state)):
        raise ValueError(f"{who}_tx does not match state.{who}_opt_state: the state was made "
                         f"with another optimizer (its {who}_opt_state is "
                         f"{_describe(opt_state)}, {who}_tx.init gives {_describe(want)}); "
                         f"make the state and the step with the same optimizers")
    try:
      return step(state, batch)
    except flax.errors.ScopeParamShapeError as e:
      raise ValueError(f"the state's parameters were made for inputs of another shape than "
                       f"this batch's {tuple(np.shape(real_inputs(batch)))}: give create_state "
                       f"the batch the step takes, (k, B, ...), or one minibatch (B, ...) "
                       f"({str(e).splitlines()[0]})") from e

  return train_step


def _describe(opt_state) -> str:
  """An optimizer state's kind, as its parts' type names: "(ScaleByAdamState, EmptyState)"."""
  if isinstance(opt_state, tuple) and not hasattr(opt_state, "_fields"):
    return f"({', '.join(_describe(part) for part in opt_state)})"
  return type(opt_state).__name__
