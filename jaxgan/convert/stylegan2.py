"""StyleGAN2 as NVIDIA's stylegan2-ada-pytorch names it, onto `jaxgan.models.stylegan2`.

The correspondence, G (prefix `synthesis.` for every block) and D alike:
- jaxgan module `b{R}_conv0` is the official `b{R}.conv0` (likewise conv1, torgb, fromrgb,
  skip, and D's epilogue `b4_conv`, `b4_fc`, `b4_out`); `mapping/fc{i}` is `mapping.fc{i}`,
  `mapping/embed` is `mapping.embed`; G's `const` is `synthesis.b4.const`.
- a kernel is `weight`: dense (O, I) transposed, convolution (O, I, kh, kw) to (kh, kw, I,
  O). D's `b4_fc` flattens a 4×4 map in NHWC order where the official flattens NCHW, so its
  columns are permuted. The official layers keep raw N(0, 1) weights and apply the same
  1/√fan-in gains jaxgan's equalised layers do, so values carry over unscaled.
- G's `stats/w_avg` is `mapping.w_avg`; `buffers/<layer>/noise_const` is the layer's
  `noise_const`.
- the official `resample_filter` buffers are not variables here: each must be the [1, 3, 3,
  1] filter jaxgan's resampling applies, or the network is refused.
"""

import numpy as np

from jaxgan.convert.state_dict import ConvertError, conv_kernel, fill

_LEAF = {"kernel": "weight", "bias": "bias", "noise_strength": "noise_strength",
         "w_avg": "w_avg", "noise_const": "noise_const", "const": "const"}


def _torch_name(path: tuple[str, ...], synthesis_prefix: str) -> str:
  collection, *keys = path
  if collection == "stats":
    return "mapping.w_avg"
  if keys == ["const"]:
    return "synthesis.b4.const"
  modules = [k.replace("_", ".") for k in keys[:-1]]
  prefix = synthesis_prefix if modules and modules[0] != "mapping" else ""
  return prefix + ".".join(modules + [_LEAF[keys[-1]]])


def _layout(path: tuple[str, ...], value: np.ndarray) -> np.ndarray:
  leaf = path[-1]
  if leaf == "const":
    return np.transpose(value, (1, 2, 0))
  if leaf != "kernel":
    return value
  if value.ndim == 4:
    return conv_kernel(value)
  if path[-2] == "b4_fc":  # (O, C·4·4) in C, H, W order -> (4·4·C, O) in H, W, C order
    out, flat = value.shape
    return value.reshape(out, flat // 16, 4, 4).transpose(2, 3, 1, 0).reshape(flat, out)
  return value.T


def _check_filters(state: dict[str, np.ndarray], what: str) -> list[str]:
  names = [n for n in state if n.endswith("resample_filter")]
  expected = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
  for name in names:
    if state[name].shape != (4, 4) or not np.allclose(state[name], expected, atol=1e-7):
      raise ConvertError(f"{what} {name} is not the [1, 3, 3, 1] filter jaxgan resamples "
                         f"with; refusing to approximate it")
  return names


def generator_variables(state: dict[str, np.ndarray], shapes: dict) -> dict:
  """Returns G's variables (`shapes`: those of the jaxgan G to fill) from its state dict."""
  ignore = _check_filters(state, "G's")
  return fill(shapes, state, lambda p: _torch_name(p, "synthesis."), _layout, ignore,
              what="StyleGAN2 generator")


def discriminator_variables(state: dict[str, np.ndarray], shapes: dict) -> dict:
  """Returns D's variables (`shapes`: those of the jaxgan D to fill) from its state dict."""
  ignore = _check_filters(state, "D's")
  return fill(shapes, state, lambda p: _torch_name(p, ""), _layout, ignore,
              what="StyleGAN2 discriminator")
