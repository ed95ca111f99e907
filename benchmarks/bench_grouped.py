r"""Times R3GAN's grouped 3×3 convolution in its three forms: `python -m benchmarks.bench_grouped`.

XLA's grouped convolution (`feature_group_count`), the dense block-diagonal form
(`jaxgan.models.r3gan.GroupedConv(impl="dense")`) and nine shifted-slice grouped matmuls, each
forward, forward + backward, and R1's double backward, at 128 channels in groups of 16,
28×28, batch 64. Prints the median of 3 calls after a compile, in ms.
"""

import time

import jax
import jax.numpy as jnp
from absl import app

from jaxgan.models import r3gan

B, H, W, C, GROUPS = 64, 28, 28, 128, 8


def _slices(x, kernel):
  cg = C // GROUPS
  k = kernel.reshape(3, 3, cg, GROUPS, cg).transpose(0, 1, 3, 2, 4)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(B, H + 2, W + 2, GROUPS, cg)
  out = sum(jnp.einsum("bhwgc,gco->bhwgo", xp[:, dy:dy + H, dx:dx + W], k[dy, dx])
            for dy in range(3) for dx in range(3))
  return out.reshape(B, H, W, C)


def _time(fn, *args) -> float:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(3):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return sorted(times)[1] * 1000


def main(argv):
  del argv
  x = jax.random.normal(jax.random.key(0), (B, H, W, C))
  params = r3gan.GroupedConv(C, 3, GROUPS, 1.0, "grouped").init(jax.random.key(1), x)
  forms = {impl: (lambda p, x, impl=impl: r3gan.GroupedConv(C, 3, GROUPS, 1.0, impl).apply(p, x))
           for impl in ("grouped", "dense")}
  forms["slices"] = lambda p, x: _slices(x, p["params"]["kernel"])
  for name, f in forms.items():
    fwd = jax.jit(lambda p, x, f=f: f(p, x).sum())
    grad = jax.jit(jax.grad(lambda p, x, f=f: (f(p, x) ** 2).sum(), argnums=(0, 1)))
    double = jax.jit(jax.grad(lambda p, x, f=f: (jax.grad(lambda v: (f(p, v) ** 2).sum())(x)
                                                 ** 2).sum()))
    print(f"{name}: forward {_time(fwd, params, x):.0f} ms, forward + backward "
          f"{_time(grad, params, x):.0f} ms, R1 double backward {_time(double, params, x):.0f} ms",
          flush=True)


if __name__ == "__main__":
  app.run(main)
