"""BigGAN's orthogonal regularisation of G's weights (Brock et al. 2019, §3.1), off the diagonal.

R = ½ Σ_W ‖W Wᵀ ⊙ (1 − I)‖²_F over G's weight matrices, each flattened to (outputs, inputs):
filters are pushed towards orthogonality to each other without constraining their norms.
Its gradient 2 (W Wᵀ ⊙ (1 − I)) W is what BigGAN-PyTorch's `utils.ortho` adds to each
weight's gradient at strength 1, so `orthogonal(β)` trains as `--G_ortho β` does (the paper's
β is 1e-4). It sees only G's parameters, so any model may use it.

Which axis holds the outputs follows the layer's own layout: a `weight` in PyTorch's layout
(BigGAN's layers: (out, in, ...)) and an `embedding` table (classes, features) by its first
axis, a flax `kernel` ((..., in, out)) by its last. Parameters with fewer than two axes
(biases, gains) are left out, as are those under a name in `skip` (BigGAN's shared class
embedding, which the official code leaves out too).
"""

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxgan import schedules
from jaxgan.regularisers import regulariser as regularisers

NAME = "orthogonal"


def matrices(params, skip: Sequence[str] = ("shared",)) -> list[jax.Array]:
  """Returns G's weights as (outputs, inputs) matrices (see the module's docstring)."""
  found = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    names = [str(getattr(p, "key", getattr(p, "name", p))) for p in path]
    if jnp.ndim(leaf) < 2 or any(n in skip for n in names):
      continue
    if names[-1] == "kernel":
      leaf = jnp.moveaxis(leaf, -1, 0)
    found.append(leaf.reshape(leaf.shape[0], -1))
  return found


def off_diagonal(w: jax.Array) -> jax.Array:
  """Returns ½ ‖W Wᵀ ⊙ (1 − I)‖²_F of one (outputs, inputs) matrix."""
  gram = w @ w.T
  return 0.5 * (jnp.sum(jnp.square(gram)) - jnp.sum(jnp.square(jnp.diagonal(gram))))


def value(params, skip: Sequence[str] = ("shared",)) -> jax.Array:
  """Returns R of the module's docstring over every weight of `params`."""
  terms = [off_diagonal(w.astype(jnp.float32)) for w in matrices(params, skip)]
  return sum(terms, jnp.zeros((), jnp.float32))


def orthogonal(weight: schedules.Hyper = 1e-4,
               skip: Sequence[str] = ("shared",)) -> regularisers.Regulariser:
  """Returns the orthogonal regulariser of G at `weight` (its cost takes G's inputs,
  `jaxgan.regularisers.path_length.GInputs`, and reads only `g_params`)."""
  skip = tuple(skip)
  return regularisers.Regulariser(NAME, lambda g, state: (value(g.g_params, skip), state),
                                  weight)
