"""Adversarial losses, each a pure function of the discriminator's logits.

Every loss maps `(real_logits, fake_logits)` to a `Costs(d, g)` pair of scalars:
`d` is what the discriminator minimises, `g` what the generator minimises. For the
probabilistic losses the discriminator is D(x) = sigmoid(logit), and every log of a
sigmoid is written as a softplus so that values and gradients stay finite for logits
of any magnitude the float type can hold.

Only the relativistic and MMD losses use the real logits in the generator's cost; for the
others the step need not run D on real data during the generator update, which
`Loss.g_uses_real` tells it.

The MMD losses (Li et al. 2017; Bińkowski et al. 2018) read D's output as a feature vector
per sample (shape (B,) or (B, F)) rather than a logit: D maximises the squared maximum mean
discrepancy between the real and generated features under a fixed kernel, G minimises it.
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
  """Returns the relativistic pairing costs over paired real/fake samples: RSGAN
  (Jolicoeur-Martineau 2019), R3GAN's RpGAN (`rpgan`, the same function): D pays
  softplus(D(G(z)) − D(x)), G pays softplus(D(x) − D(G(z))), the pairs taken in batch order."""
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


# Bandwidths of the Gaussian kernel mixture (Li et al. 2017) and exponents α of the
# rational-quadratic mixture (Bińkowski et al. 2018).
GAUSSIAN_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)
RQ_ALPHAS = (0.2, 0.5, 1.0, 2.0, 5.0)


def _features(logits: Array) -> Array:
  return logits.reshape(logits.shape[0], -1)


def squared_distances(a: Array, b: Array) -> Array:
  """Returns the (m, n) matrix of ‖aᵢ − bⱼ‖² of rows a (m, d) and b (n, d)."""
  # ‖a‖² + ‖b‖² − 2a·b can dip below 0 by rounding; the clamp keeps kernels ≤ 1.
  d = (jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2.0 * a @ b.T)
  return jnp.maximum(d, 0.0)


def gaussian_kernel(sq_dist: Array, sigmas=GAUSSIAN_SIGMAS) -> Array:
  """Returns Σ_σ exp(−d² / (2σ²)) of squared distances."""
  return sum(jnp.exp(-sq_dist / (2.0 * s * s)) for s in sigmas)


def rq_kernel(sq_dist: Array, alphas=RQ_ALPHAS) -> Array:
  """Returns Σ_α (1 + d² / (2α))^(−α) of squared distances."""
  # As exp(−α log1p(d² / (2α))), the same function: XLA:CPU's general `pow` and its gradient
  # are slow (BUILD_NOTES.md, "The stability table", has the measurement).
  return sum(jnp.exp(-a * jnp.log1p(sq_dist / (2.0 * a))) for a in alphas)


def mmd2(x: Array, y: Array, kernel: Callable[[Array], Array]) -> Array:
  """Returns the unbiased estimate of MMD²(P, Q) from samples x ~ P, y ~ Q (rows).

  (1/(m(m−1))) Σ_{i≠j} k(xᵢ, xⱼ) + (1/(n(n−1))) Σ_{i≠j} k(yᵢ, yⱼ) − (2/(mn)) Σ k(xᵢ, yⱼ).
  """
  m, n = x.shape[0], y.shape[0]
  if m < 2 or n < 2:
    raise ValueError(f"the unbiased MMD needs at least 2 samples per set; got {m} and {n}")
  k_xx, k_yy = kernel(squared_distances(x, x)), kernel(squared_distances(y, y))
  k_xy = kernel(squared_distances(x, y))
  off_diag = lambda k: jnp.sum(k) - jnp.sum(jnp.diagonal(k))
  return (off_diag(k_xx) / (m * (m - 1)) + off_diag(k_yy) / (n * (n - 1))
          - 2.0 * jnp.mean(k_xy))


def _mmd_costs(kernel):
  def costs(real_logits, fake_logits) -> Costs:
    value = mmd2(_features(real_logits), _features(fake_logits), kernel)
    return Costs(d=-value, g=value)
  return costs


mmd_gaussian = _mmd_costs(gaussian_kernel)
mmd_gaussian.__doc__ = "Returns D's cost −MMD² and G's MMD² under the Gaussian kernel mixture."
mmd_rq = _mmd_costs(rq_kernel)
mmd_rq.__doc__ = "Returns D's cost −MMD² and G's MMD² under the rational-quadratic mixture."


LOSSES: dict[str, Loss] = {
    "minimax": Loss(minimax),
    "non_saturating": Loss(non_saturating),
    "maximum_likelihood": Loss(maximum_likelihood),
    "hinge": Loss(hinge),
    "wasserstein": Loss(wasserstein),
    "least_squares": Loss(least_squares),
    "relativistic": Loss(relativistic, g_uses_real=True),
    "rpgan": Loss(relativistic, g_uses_real=True),  # R3GAN's name: relativistic pairing
    "relativistic_average": Loss(relativistic_average, g_uses_real=True),
    "mmd_gaussian": Loss(mmd_gaussian, g_uses_real=True),
    "mmd_rq": Loss(mmd_rq, g_uses_real=True),
}


def get(name: str | Loss) -> Loss:
  """Returns the loss registered under `name` (a `Loss` passes through)."""
  if isinstance(name, Loss):
    return name
  if name not in LOSSES:
    raise ValueError(f"unknown loss {name!r}; accepted: {', '.join(sorted(LOSSES))}")
  return LOSSES[name]
