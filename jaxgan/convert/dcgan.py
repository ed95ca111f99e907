"""PyTorch's examples DCGAN (dcgan/main.py's netG and netD) onto `jaxgan.models.dcgan`'s DCGAN-64.

Both networks are one `nn.Sequential` called `main`, so a state-dict name is
`main.<index>.<entry>`; only the unconditional `DCGAN64Generator` / `DCGAN64Discriminator`
have a counterpart. The correspondence:
- G: layer k = 0..4 of jaxgan (`ConvTranspose_k`, then `GeneratorNorm_k/BatchNorm_0` for
  k < 4) is `main.{3k}` (ConvTranspose2d) and `main.{3k+1}` (BatchNorm2d); ReLU and tanh
  have no entries.
- D: `Conv_0` is `main.0`; `Conv_k` (k = 1..4) is `main.{3k-1}`; `BatchNorm_j` (j = 0..2,
  after Conv_{j+1}) is `main.{3j+3}`. jaxgan's D returns the logit of the example's last
  convolution; the example's netD applies a sigmoid to it.
- batch norm: `weight` is `scale`, `bias` is `bias` (params); `running_mean` and
  `running_var` are `mean` and `var` (batch_stats). `num_batches_tracked` is not used (the
  example keeps PyTorch's fixed momentum 0.1, which is jaxgan's momentum 0.9).
- Conv2d weight (O, I, kh, kw) is flax's kernel (kh, kw, I, O). ConvTranspose2d weight is
  (I, O, kh, kw), and PyTorch's transposed convolution is the adjoint of a convolution:
  over the stride-dilated input it correlates with the kernel flipped in both spatial
  axes, where jaxgan's `layers.ConvTranspose` (as flax's, `transpose_kernel=False`)
  correlates with its kernel as stored. So the kernel is weight[:, :, ::-1, ::-1] moved to
  (kh, kw, I, O); PyTorch's padding p is jaxgan's explicit padding k - 1 - p.
"""

import numpy as np

from jaxgan.convert.state_dict import conv_kernel, fill

_BN = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def _index(module: str, generator: bool) -> int | None:
  """The `main.<index>` of a jaxgan module name, or None where the example has none."""
  kind, _, k = module.rpartition("_")
  if not k.isdigit():
    return None
  k = int(k)
  if generator:
    return {"ConvTranspose": 3 * k, "GeneratorNorm": 3 * k + 1}.get(kind)
  if kind == "Conv":
    return 0 if k == 0 else 3 * k - 1
  return 3 * k + 3 if kind == "BatchNorm" else None


def _torch_name(path: tuple[str, ...], generator: bool) -> str:
  _, *keys = path
  leaf = keys[-1]
  index = _index(keys[0], generator)
  if index is None or (leaf != "kernel" and leaf not in _BN):
    return f"<no counterpart in the example for {'/'.join(path)}>"
  return f"main.{index}.{'weight' if leaf == 'kernel' else _BN[leaf]}"


def _layout(path: tuple[str, ...], value: np.ndarray) -> np.ndarray:
  if path[-1] != "kernel":
    return value
  if path[-2].startswith("ConvTranspose"):  # (I, O, kh, kw), flipped -> (kh, kw, I, O)
    return conv_kernel(np.swapaxes(value, 0, 1)[:, :, ::-1, ::-1])
  return conv_kernel(value)  # (O, I, kh, kw) -> (kh, kw, I, O)


def _ignored(state: dict) -> list[str]:
  return [n for n in state if n.endswith(".num_batches_tracked")]


def generator_variables(state: dict[str, np.ndarray], shapes: dict) -> dict:
  """Returns G's variables (`shapes`: those of the jaxgan `DCGAN64Generator` to fill)."""
  return fill(shapes, state, lambda p: _torch_name(p, True), _layout, _ignored(state),
              what="PyTorch examples DCGAN generator")


def discriminator_variables(state: dict[str, np.ndarray], shapes: dict) -> dict:
  """Returns D's variables (`shapes`: those of the jaxgan `DCGAN64Discriminator` to fill)."""
  return fill(shapes, state, lambda p: _torch_name(p, False), _layout, _ignored(state),
              what="PyTorch examples DCGAN discriminator")
