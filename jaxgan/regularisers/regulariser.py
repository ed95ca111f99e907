"""Regularisers of D's cost (and of G's), composed like optax transformations.

D's cost is its adversarial loss plus any number of regularisers. A `Regulariser` is an
unweighted cost of what D sees in one update (`DInputs`), a weight (a number or a schedule
of the step, `jaxgan.schedules`), and optionally state: `init()` returns it, `cost` takes it
and returns its next value. The step keeps that state in `GANState.objective` under the
regulariser's name, checkpoints it and averages it over devices with the rest.

- `penalty(name, weight)`: a stateless gradient penalty of
  `jaxgan.regularisers.penalties.PENALTIES`.
- `lazy(regulariser, every)`: the regulariser enters every `every`-th D update (counted over
  the run) with its weight multiplied by `every` (Karras et al. 2020's lazy regularisation).
- A stateful regulariser is a file of its own returning a `Regulariser`
  (`jaxgan.regularisers.lecam`).
- G's regularisers are `Regulariser`s too, seeing `jaxgan.regularisers.path_length.GInputs` and
  counting G's updates (`jaxgan.regularisers.path_length`); `lazy` and `total` serve both players.

R1 and R2 together are `(penalty("r1", γ), penalty("r2", γ))`.
"""

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jaxgan import schedules
from jaxgan.regularisers import penalties

PyTree = Any


class DInputs(NamedTuple):
  """What a regulariser of D can look at in one D update."""
  d_fn: Callable[[jax.Array], jax.Array]  # raw inputs -> D's logits, through D's view
  real: jax.Array                          # the real minibatch
  fake: jax.Array                          # the generated minibatch (labelled like `real`)
  real_logits: jax.Array                   # D's logits in the update's own forward pass
  fake_logits: jax.Array
  key: jax.Array                           # this regulariser's own key (this device's)
  update: jax.Array                        # D updates before this one, over the run


class Regulariser(NamedTuple):
  """`weight × cost(inputs, state)[0]` is added to D's cost; `[1]` is the next state."""
  name: str
  cost: Callable[[DInputs, PyTree], tuple[jax.Array, PyTree]]
  weight: schedules.Hyper = 1.0
  init: Callable[[], PyTree] = lambda: None
  # What it needs of the player beyond its parameters: "ws" is a generator's per-layer
  # latents (`num_ws`, `w_dim` and a `ws_delta` input), which path length differentiates in.
  needs: tuple[str, ...] = ()


def penalty(name: str, weight: schedules.Hyper) -> Regulariser:
  """Returns the gradient penalty `name` of `jaxgan.regularisers.penalties.PENALTIES` with this
  weight."""
  if name not in penalties.PENALTIES:
    raise ValueError(f"penalty={name!r} is not accepted; choose one of: none, "
                     f"{', '.join(penalties.PENALTIES)}")
  fn = penalties.PENALTIES[name]
  return Regulariser(name, lambda d, state: (fn(d).astype(d.real.dtype), state), weight)


def check_every(every, flag: str = "penalty_every") -> None:
  """Raises ValueError unless `every` is a positive int (the period of lazy regularisation)."""
  if not isinstance(every, int) or isinstance(every, bool) or every < 1:
    raise ValueError(f"{flag} must be a positive int, got {every!r}")


def lazy(regulariser: Regulariser, every: int,
         count: Callable[[Any], jax.Array] = lambda inputs: inputs.update,
         flag: str = "penalty_every") -> Regulariser:
  """Returns the regulariser taken every `every` updates, its weight times `every`; the
  updates are counted by `count(inputs)`: D's (`DInputs.update`) unless a regulariser of G
  counts G's. Skipped, it costs 0 and keeps its state. `flag` names `every` in errors."""
  check_every(every, flag)
  if every == 1:
    return regulariser
  weight = regulariser.weight
  scaled = (lambda step: every * weight(step)) if callable(weight) else every * weight

  def cost(inputs, state):
    taken = lambda: regulariser.cost(inputs, state)
    skip = lambda: (jnp.zeros((), jax.eval_shape(taken)[0].dtype), state)
    return jax.lax.cond(count(inputs) % every == 0, taken, skip)

  return regulariser._replace(cost=cost, weight=scaled)


def total(regs: Sequence[Regulariser], d, states: dict, step,
          dtype) -> tuple[jax.Array, dict, dict]:
  """Returns the weighted sum (in `dtype`) of the regularisers, their new states (by name),
  and each one's unweighted cost by name (0 on the updates a lazy one skips), for the logs.

  `d` is what they see: `DInputs` for D's, `jaxgan.regularisers.path_length.GInputs` for G's. The
  first regulariser draws from `d.key` itself, the i-th from `fold_in(d.key, i)`.
  """
  value, new_states, terms = jnp.zeros((), dtype), dict(states), {}
  for i, reg in enumerate(regs):
    inputs = d if i == 0 else d._replace(key=jax.random.fold_in(d.key, i))
    if reg.name not in states and reg.init() is not None:
      raise ValueError(f"the objective's {reg.name!r} keeps state that this GANState lacks: "
                       f"create it with create_state(..., objective=objective)")
    result = reg.cost(inputs, states.get(reg.name))
    if not isinstance(result, tuple) or len(result) != 2:
      what = "a bare array" if hasattr(result, "shape") else type(result).__name__
      raise TypeError(f"regulariser {reg.name!r} returned {what}; a "
                      f"Regulariser's cost returns (cost, next_state), next_state None for a "
                      f"regulariser without state")
    reg_value, reg_state = result
    if jnp.shape(reg_value) != ():
      raise TypeError(f"regulariser {reg.name!r} returned a cost of shape "
                      f"{jnp.shape(reg_value)}; it must be a scalar")
    value = value + schedules.at(reg.weight, step) * reg_value
    terms[reg.name] = reg_value
    if reg_state is not None:
      new_states[reg.name] = reg_state
  return value, new_states, terms
