"""D's view of its inputs: transforms applied alike to real and generated samples.

A `View` maps a batch to what D sees, drawing its randomness from the key it is given (the
step gives real and generated batches independent keys). Views compose with `chain`, like
optax transformations: each part gets its own key, split from the chain's in order. A view
may declare state (ADA's augmentation probability), which then lives in
`GANState.objective` under the view's name; `apply` reads it, and `update` (called by the
step after each D update with D's real logits, the count of D updates before it, the
step's `costs.Devices` and the step) returns its next value. `logs(state)` names what the
step logs of it.

The maths lives in `jaxgan.views.augment` and `jaxgan.views.ada_pipeline`; this file only makes it
composable.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxgan.views import ada_pipeline as ada_lib
from jaxgan import schedules
from jaxgan.views import augment

PyTree = Any


class View(NamedTuple):
  """A transform of D's inputs: `apply(x, key, step, state) -> x`."""
  name: str
  apply: Callable[..., jax.Array]
  init: Callable[[], PyTree] = lambda: None
  update: Callable[..., PyTree] = lambda state, real_logits, updates, devices, step=0: state
  logs: Callable[[PyTree], dict] = lambda state: {}


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

  parts = {v.name: v for v in views}

  def update(state, real_logits, updates, devices, step=0):
    if state is None:
      return None
    return {name: parts[name].update(part, real_logits, updates, devices, step=step)
            for name, part in state.items()}

  def logs(state):
    return {k: v for name, part in (state or {}).items() for k, v in parts[name].logs(part).items()}

  return View("view", apply, stateful, update, logs)


def ada(p: schedules.Hyper | None = None, *, target: float = 0.6, interval: int = 4,
        kimg: float = 500.0, ops: str | tuple[str, ...] = "bgc") -> View:
  """Returns ADA (Karras et al. 2020, `jaxgan.views.ada_pipeline`): the pipeline `ops` ("bgc" or
  names), each operation with probability p per sample.

  With p None, p starts at 0 and follows r_t = E[sign(D(real))] toward `target`, adjusted
  every `interval` D updates by up to (images in them) / (`kimg` · 1000). A number p is
  fixed (p = 0 shows the images as they are); a schedule of the step sets p at each step
  (R3GAN grows it along a cosine). Either way p and r_t are state, logged as `aug/p` and
  `aug/rt` (the last interval's mean), and checkpointed with the run.
  """
  names = ada_lib.parse_ops(ops) if isinstance(ops, str) else tuple(ops)
  if not 0.0 <= target <= 1.0:
    raise ValueError(f"ada_target must be in [0, 1], got {target!r}")
  if not isinstance(interval, int) or interval < 1:
    raise ValueError(f"ada_interval must be a positive int, got {interval!r}")
  if not kimg > 0:
    raise ValueError(f"ada_kimg must be > 0, got {kimg!r}")
  if p is not None and not callable(p) and not 0.0 <= p <= 1.0:
    raise ValueError(f"ada_p must be in [0, 1] (or None: adaptive), got {p!r}")

  def apply(x, key, step, state):
    if p == 0.0:
      return x
    return ada_lib.augment(x, key, schedules.at(p, step) if callable(p) else state["p"], names)

  def update(state, real_logits, updates, devices, step=0):
    new = ada_lib.update(state, real_logits, updates, devices.total(real_logits.shape[0]),
                         target=target, interval=interval, kimg=kimg, mean=devices.mean)
    if p is None:
      return new
    fixed = jnp.asarray(schedules.at(p, step) if callable(p) else state["p"], jnp.float32)
    return {**new, "p": fixed}

  return View("ada", apply, lambda: ada_lib.init(0.0 if callable(p) else (p or 0.0)), update,
              lambda state: {"aug/p": state["p"], "aug/rt": state["rt"]})
