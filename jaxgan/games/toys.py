"""The games of PROTOCOLS.md §5, as functions f(x, y) that x minimises and y maximises.

- `bilinear`: f(x, y) = x·y. The only equilibrium is (0, 0).
- `dirac_gan`: the data are a point mass at 0 and the generator a point mass at θ; the
  discriminator is D(t) = ψ·t. With the GAN loss, f(θ, ψ) = g(ψθ) + g(0) with
  g(t) = log σ(t) = −log(1 + e^(−t)), written through our `non_saturating` loss's D cost (the
  value V is minus that cost; θ enters only the fake logit). `r1` adds the R1 penalty of D on
  the data, (r1 / 2)·E‖∇ₓD(x)‖² = (r1 / 2)·ψ², which the discriminator pays.
"""

import functools

import jax.numpy as jnp

from jaxgan import losses


def bilinear(x, y):
  return jnp.sum(x * y)


def dirac_gan(theta, psi, r1: float = 0.0):
  real_logit, fake_logit = psi * 0.0, psi * theta  # D(x) = psi * x at x = 0 and x = theta
  value = -losses.non_saturating(real_logit[None], fake_logit[None]).d
  return value - 0.5 * r1 * psi ** 2


GAMES = {"bilinear": bilinear, "dirac_gan": dirac_gan,
         "dirac_gan_r1": functools.partial(dirac_gan, r1=0.3)}
