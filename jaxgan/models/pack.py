"""PacGAN (Lin et al. 2018): the discriminator judges m samples at once.

`Packed(d, m)` joins each run of m consecutive samples of a batch into one input along the
last axis (features of 2D points, channels of images) and returns one logit per pack. All m
samples of a pack are real or all are generated, so a generator that drops modes produces
packs whose joint statistics D can tell apart, even when each sample alone looks real. The
step needs no change: its losses see B/m logits per batch, and its penalties' per-sample
gradients become per-pack ones, which is what the packed D is.
"""

import flax.linen as nn
import jax


def pack(x: jax.Array, m: int) -> jax.Array:
  """Returns x of shape (B, ..., C) as (B/m, ..., m·C): rows i·m .. i·m+m-1 side by side."""
  if x.shape[0] % m:
    raise ValueError(f"PacGAN with packing={m} needs a batch that divides by {m}; got a batch "
                     f"of {x.shape[0]} samples (per device)")
  b, rest = x.shape[0], x.shape[1:]
  x = x.reshape(b // m, m, *rest)
  x = jax.numpy.moveaxis(x, 1, -2)  # (B/m, ..., m, C)
  return x.reshape(b // m, *rest[:-1], m * rest[-1])


class Packed(nn.Module):
  """Wraps a discriminator so that it scores packs of `packing` samples (its own input width
  grows m-fold; flax infers it at init)."""
  discriminator: nn.Module
  packing: int = 2

  @nn.compact
  def __call__(self, x, train: bool = True):
    return self.discriminator(pack(x, self.packing), train=train)
