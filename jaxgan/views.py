"""D's view of its inputs: transforms applied alike to real and generated samples.

A `View` maps a batch to what D sees, drawing its randomness from the key it is given (the
step gives real and generated batches independent keys). Views compose with `chain`, like
optax transformations: each part gets its own key, split from the chain's in order. A view
may declare state (ADA's augmentation probability), which then lives in
`GANState.objective` under the view's name; `apply` reads it, and `update` (called by the
step after each D update with D's real logits) returns its next value.

The maths lives in `jaxgan.augment`; this file only makes it composable.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan import augment, schedules

PyTree = Any


class View(NamedTuple):
  """A transform of D's inputs: `apply(x, key, step, state) -> x`."""
  name: str
  apply: Callable[..., jax.Array]
  init: Callable[[], PyTree] = lambda: None
  update: Callable[..., PyTree] = lambda state, real_logits, step: state


def identity() -> View:
  """Returns the view that shows D the samples as they are."""
  return View("identity", lambda x, key, step, state: x)


def instance_noise(sigma: schedules.Hyper, anneal_steps: int = 0) -> View:
  """Returns x + σ_t ε (ε ~ N(0, I)), σ_t falling linearly to 0 at `anneal_steps` (0: constant).

  σ₀ may itself be a schedule of the step; σ₀ = 0 is the identity (it draws nothing).
  """
  def apply(x, key, step, state):
    del state
    if not callable(sigma) and not sigma:
      return x
    sigma_now = schedules.at(sigma, step)
    return augment.instance_noise(x, key, augment.noise_scale(sigma_now, anneal_steps, step))

  return View("instance_noise", apply)


def diff_augment(policy: str | tuple[str, ...], p: schedules.Hyper = 1.0) -> View:
  """Returns DiffAugment (Zhao et al. 2020) with a policy such as "color,translation".

  With `p` < 1 (a number or a schedule of the step) each sample is augmented with
  probability p and shown as it is otherwise, the gate drawn per sample.
  """
  names = augment.parse_policy(policy) if isinstance(policy, str) else tuple(policy)

  def apply(x, key, step, state):
    del state
    if not callable(p) and p == 1.0:
      return augment.diff_augment(x, key, names)
    augment_key, gate_key = jax.random.split(key)
    gate = jax.random.uniform(gate_key, (x.shape[0],)) < schedules.at(p, step)
    gate = gate.reshape((-1,) + (1,) * (x.ndim - 1))
    return jnp.where(gate, augment.diff_augment(x, augment_key, names), x)

  return View("diff_augment", apply)


def chain(*views: View) -> View:
  """Returns the views applied in order, each with its own key split from the chain's.

  The chain's state is a dict of its parts' states by name (parts without state have none).
  """
  names = [v.name for v in views]
  if len(set(names)) != len(names):
    raise ValueError(f"a chain of views needs distinct names; got {names}")
  stateful = lambda: {v.name: s for v in views if (s := v.init()) is not None} or None

  def apply(x, key, step, state):
    keys = jax.random.split(key, len(views))
    for view, view_key in zip(views, keys):
      x = view.apply(x, view_key, step, (state or {}).get(view.name))
    return x

  def update(state, real_logits, step):
    if state is None:
      return None
    parts = {v.name: v for v in views}
    return {name: parts[name].update(part, real_logits, step) for name, part in state.items()}

  return View("view", apply, stateful, update)
