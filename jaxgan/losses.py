"""Adversarial losses, each a pure function of the discriminator's logits.

Every loss maps `(real_logits, fake_logits)` to a `Costs(d, g)` pair of scalars:
`d` is what the discriminator minimises, `g` what the generator minimises. For the
probabilistic losses the discriminator is D(x) = sigmoid(logit), and every log of a
sigmoid is written as a softplus so that values and gradients stay finite for logits
of any magnitude the float type can hold.

Only the relativistic losses use the real logits in the generator's cost; for the
others the step need not run D on real data during the generator update, which
`Loss.g_uses_real` tells it.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Costs(NamedTuple):
  d: Array
  g: Array


class Loss(NamedTuple):
  """An adversarial loss: `fn(real_logits, fake_logits) -> Costs`."""
  fn: Callable[[Array, Array], Costs]
  g_uses_real: bool = False

  def __call__(self, real_logits: Array, fake_logits: Array) -> Costs:
    return self.fn(real_logits, fake_logits)


def _bce_discriminator(real_logits, fake_logits):
  # -E log D(x) - E log(1 - D(G(z))), with -log sigmoid(l) = softplus(-l)
  # and -log(1 - sigmoid(l)) = softplus(l).
  return (jnp.mean(jax.nn.softplus(-real_logits))
          + jnp.mean(jax.nn.softplus(fake_logits)))


def minimax(real_logits, fake_logits) -> Costs:
  """Returns the original game's costs; G minimises E log(1 - D(G(z)))."""
  return Costs(d=_bce_discriminator(real_logits, fake_logits),
               g=-jnp.mean(jax.nn.softplus(fake_logits)))


def non_saturating(real_logits, fake_logits) -> Costs:
  """Returns the costs with G minimising -E log D(G(z))."""
  return Costs(d=_bce_discriminator(real_logits, fake_logits),
               g=jnp.mean(jax.nn.softplus(-fake_logits)))


# exp(logit) overflows float32 beyond ~88.7. Above this cap the generator's
# maximum-likelihood cost continues as the tangent line of exp, so value and
# gradient stay finite and continuous; below it the cost is exact.
ML_LOGIT_CAP = 20.0


def _exp_capped(x, cap=ML_LOGIT_CAP):
  e_cap = jnp.exp(jnp.asarray(cap, x.dtype))
  return jnp.where(x <= cap, jnp.exp(jnp.minimum(x, cap)), e_cap * (1.0 + (x - cap)))


def maximum_likelihood(real_logits, fake_logits) -> Costs:
  """Returns the costs with G minimising -E exp(logit(D(G(z)))).

  With the optimal D, exp(logit) = p_data / p_g, and the expected gradient of this
  cost equals the gradient of KL(p_data || p_g) (Goodfellow 2016 writes the cost with
  a factor 1/2, which halves both sides).
  """
  return Costs(d=_bce_discriminator(real_logits, fake_logits),
               g=-jnp.mean(_exp_capped(fake_logits)))


def hinge(real_logits, fake_logits) -> Costs:
  """Returns the hinge costs: D gets relu(1 - l_real) + relu(1 + l_fake), G gets -l_fake."""
  return Costs(d=jnp.mean(jax.nn.relu(1.0 - real_logits))
               + jnp.mean(jax.nn.relu(1.0 + fake_logits)),
               g=-jnp.mean(fake_logits))


def wasserstein(real_logits, fake_logits) -> Costs:
  """Returns the WGAN critic and generator costs (needs a Lipschitz constraint on D)."""
  return Costs(d=jnp.mean(fake_logits) - jnp.mean(real_logits),
               g=-jnp.mean(fake_logits))


def least_squares(real_logits, fake_logits) -> Costs:
  """Returns the LSGAN costs with targets a=0 (fake), b=1 (real), c=1 (G's target)."""
  return Costs(d=0.5 * jnp.mean(jnp.square(real_logits - 1.0))
               + 0.5 * jnp.mean(jnp.square(fake_logits)),
               g=0.5 * jnp.mean(jnp.square(fake_logits - 1.0)))


def relativistic(real_logits, fake_logits) -> Costs:
  """Returns the relativistic standard (RSGAN) costs over paired real/fake samples."""
  diff = real_logits - fake_logits
  return Costs(d=jnp.mean(jax.nn.softplus(-diff)),
               g=jnp.mean(jax.nn.softplus(diff)))


def relativistic_average(real_logits, fake_logits) -> Costs:
  """Returns the relativistic average (RaSGAN) costs."""
  real_rel = real_logits - jnp.mean(fake_logits)
  fake_rel = fake_logits - jnp.mean(real_logits)
  return Costs(
      d=jnp.mean(jax.nn.softplus(-real_rel)) + jnp.mean(jax.nn.softplus(fake_rel)),
      g=jnp.mean(jax.nn.softplus(real_rel)) + jnp.mean(jax.nn.softplus(-fake_rel)))


LOSSES: dict[str, Loss] = {
    "minimax": Loss(minimax),
    "non_saturating": Loss(non_saturating),
    "maximum_likelihood": Loss(maximum_likelihood),
    "hinge": Loss(hinge),
    "wasserstein": Loss(wasserstein),
    "least_squares": Loss(least_squares),
    "relativistic": Loss(relativistic, g_uses_real=True),
    "relativistic_average": Loss(relativistic_average, g_uses_real=True),
}


def get(name: str | Loss) -> Loss:
  """Returns the loss registered under `name` (a `Loss` passes through)."""
  if isinstance(name, Loss):
    return name
  if name not in LOSSES:
    raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(sorted(LOSSES))}")
  return LOSSES[name]
