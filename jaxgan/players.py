"""A player as the step sees it: `init` gives its arrays, `apply` runs it on them.

The step, sampling, checkpoints and the runner never touch a module directly; they go
through this protocol, which has a side for each flax API:

- `flax.linen`: the module is called as `module(inputs[, labels], train=...)`; `init` runs
  `module.init` with the key it is given; model state is every collection but "params".
  `apply`'s `rng`, when given, is the module's "noise" stream (`make_rng("noise")`) and
  `fold_in(rng, 1)` its "dropout" stream (`nn.Dropout`): the step passes one to each
  player from its own keys, the sampler one to the generator, for models that draw their
  own randomness (StyleGAN2's noise inputs and style mixing, dropout); others never read it.
- `flax.nnx`: the module already holds its arrays (made with its own `nnx.Rngs` when it was
  constructed), so `init` hands them out as plain nested dicts (`nnx.Param` → parameters,
  every other variable → model state) and ignores the key; `apply` merges the arrays back
  into the module in training or inference mode (`nnx.view` sets `deterministic` and
  `use_running_average`), calls `module(inputs[, labels])` and splits off the new model state.
  Random streams the module holds (`nnx.Dropout(rate, rngs=...)`, `nnx.Rngs`) are not
  state: each call reseeds them from `rng`, so the step's keys decide every draw.

A generator has a `latent_dim` attribute; a conditional player a `num_classes` attribute
above 0 and takes the labels as its second argument. `mixed_precision` is a policy wrapped
around either side.
"""

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx

PyTree = Any
COMPUTE_DTYPES = ("float32", "bfloat16")


class _Attributes:
  """What the step reads of a player's module: G's latent size, a conditional's classes."""

  @property
  def latent_dim(self) -> int:
    return self.module.latent_dim

  @property
  def num_classes(self) -> int:
    return getattr(self.module, "num_classes", 0)


@dataclasses.dataclass(frozen=True)
class LinenPlayer(_Attributes):
  """A `flax.linen` module as a player (hashable by the module's value, so jit caches)."""
  module: nn.Module

  def init(self, key, inputs) -> tuple[PyTree, PyTree]:
    """Returns `(params, model_state)`; a conditional module sees labels of zeros."""
    labels = jnp.zeros((inputs.shape[0],), jnp.int32)
    args = (inputs, labels) if self.num_classes else (inputs,)
    variables = dict(self.module.init({"params": key}, *args, train=False))
    return variables.pop("params"), variables

  def apply(self, params, model_state, inputs, labels, train: bool, rng=None, **kwargs):
    """Returns `(outputs, new_model_state)`; model state changes only in training.
    `kwargs` go to the module's call (a regulariser's hook, as `ws_delta` for path length)."""
    variables = {"params": params, **model_state}
    args = (inputs,) if labels is None or not self.num_classes else (inputs, labels)
    rngs = {} if rng is None else {"rngs": {"noise": rng,
                                            "dropout": jax.random.fold_in(rng, 1)}}
    if train and model_state:
      out, updates = self.module.apply(variables, *args, train=True, mutable=list(model_state),
                                       **rngs, **kwargs)
      return out, {**model_state, **updates}
    return self.module.apply(variables, *args, train=train, **rngs, **kwargs), model_state


@dataclasses.dataclass(frozen=True, eq=False)
class NNXPlayer(_Attributes):
  """A `flax.nnx` module as a player (hashable by identity)."""
  module: nnx.Module

  def __post_init__(self):
    modes = {}
    for train in (True, False):
      view = nnx.view(self.module, raise_if_not_found=False, deterministic=not train,
                      use_running_average=not train)
      modes[train] = nnx.split(view, nnx.Param, nnx.RngState, ...)
    _, params, rngs, rest = modes[True]
    streams = sorted({v.tag for _, v in nnx.to_flat_state(rngs) if isinstance(v, nnx.RngKey)})
    object.__setattr__(self, "_graphdefs", {t: modes[t][0] for t in modes})
    object.__setattr__(self, "_templates", (params, rngs, rest))
    object.__setattr__(self, "_streams", tuple(streams))

  def init(self, key, inputs) -> tuple[PyTree, PyTree]:
    """Returns the module's own `(params, model_state)` as nested dicts (`key` is unused;
    its random streams are not state: `apply` reseeds them)."""
    del key, inputs
    params, _, rest = self._templates
    return nnx.to_pure_dict(params), nnx.to_pure_dict(rest)

  def apply(self, params, model_state, inputs, labels, train: bool, rng=None, **kwargs):
    """Returns `(outputs, new_model_state)`; model state changes only in training. The
    module's random streams (`nnx.Dropout`'s, any `nnx.Rngs` it holds) start each call from
    `rng` (the i-th stream, by name, from `fold_in(rng, i)`); a training call that draws
    from them without `rng` is refused."""
    if kwargs:
      raise ValueError(f"{type(self.module).__name__} is an NNX player, which takes no "
                       f"regulariser hooks ({', '.join(kwargs)})")
    params_t, rngs_t, rest_t = (jax.tree.map(lambda x: x, t) for t in self._templates)
    nnx.replace_by_pure_dict(params_t, params)
    nnx.replace_by_pure_dict(rest_t, model_state)
    module = nnx.merge(self._graphdefs[bool(train)], params_t, rngs_t, rest_t)
    if self._streams:
      if rng is None and train:
        raise ValueError(f"{type(self.module).__name__} draws from its random streams "
                         f"{self._streams}: apply it with rng= (the step and the sampler pass "
                         f"one)")
      if rng is not None:
        nnx.reseed(module, **{name: jax.random.fold_in(rng, i)
                              for i, name in enumerate(self._streams)})
    args = (inputs,) if labels is None or not self.num_classes else (inputs, labels)
    out = module(*args)
    if not train:
      return out, model_state
    return out, nnx.to_pure_dict(nnx.split(module, nnx.Param, nnx.RngState, ...)[3])


def _cast_floats(tree, dtype):
  return jax.tree.map(
      lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


@dataclasses.dataclass(frozen=True)
class MixedPrecision:
  """A player computing in `dtype` on copies of its float32 parameters and inputs.

  Gradients flow back through the casts to the float32 parameters; outputs come back as
  float32 and model state keeps its own dtype (flax's batch norm reduces in float32).
  """
  player: Any
  dtype: str

  latent_dim = property(lambda self: self.player.latent_dim)
  num_classes = property(lambda self: self.player.num_classes)
  module = property(lambda self: self.player.module)

  def init(self, key, inputs):
    return self.player.init(key, inputs)

  def apply(self, params, model_state, inputs, labels, train: bool, rng=None, **kwargs):
    params, inputs = _cast_floats((params, inputs), jnp.dtype(self.dtype))
    out, new_state = self.player.apply(params, model_state, inputs, labels, train, rng,
                                       **kwargs)
    new_state = jax.tree.map(lambda new, old: new.astype(old.dtype), new_state, model_state)
    return _cast_floats(out, jnp.float32), new_state


def as_generator(module, compute_dtype: str = "float32"):
  """Returns the player of a generator, refused by name unless its module says its latent
  size (`latent_dim`, the size of z the step draws)."""
  player = as_player(module, compute_dtype)
  if not isinstance(getattr(player.module, "latent_dim", None), int):
    raise TypeError(f"the generator {type(player.module).__name__} has no int `latent_dim`: "
                    f"give its module a latent_dim field, the size of the z it takes")
  return player


def as_player(module, compute_dtype: str = "float32"):
  """Returns the player of a linen or NNX module (a player is returned as it is)."""
  if compute_dtype not in COMPUTE_DTYPES:
    raise ValueError(f"compute_dtype={compute_dtype!r} is not accepted; choose one of: "
                     f"{', '.join(COMPUTE_DTYPES)}")
  if isinstance(module, (LinenPlayer, NNXPlayer, MixedPrecision)):
    player = module
  elif isinstance(module, nn.Module):
    player = LinenPlayer(module)
  elif isinstance(module, nnx.Module):
    player = NNXPlayer(module)
  else:
    raise TypeError(f"a player must be a flax.linen or flax.nnx Module; got "
                    f"{type(module).__name__}")
  return player if compute_dtype == "float32" else MixedPrecision(player, compute_dtype)
