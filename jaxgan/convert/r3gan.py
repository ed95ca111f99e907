"""R3GAN as its authors' code (brownvc/R3GAN) names it, onto `jaxgan.models.r3gan`.

The official names are those of the `training.networks` wrappers their network pickles hold
(every name starts with `Model.`); stage s is `Model.MainLayers.{s}`, its layers
`.Layers.{l}`. G's stages run from the basis up, D's from the image down, as jaxgan's do.

- Residual blocks: jaxgan's `ResidualBlock_{i}` (numbered through the whole player) is the
  i-th official block in stage order: G's stage s holds its blocks at layers 1… (layer 0
  is the basis or the upsampling), D's at layers 0… (the last layer is the downsampling or
  the basis). In a block, `Conv_0`, `GroupedConv_0`, `Conv_1` are `LinearLayer1`,
  `LinearLayer2`, `LinearLayer3` (`.Layer.weight`) and `BiasedActivation_0`, `_1` are
  `NonLinearity1`, `NonLinearity2` (`.Bias`). jaxgan builds the same number of blocks in
  every stage, so an official network with `BlocksPerStage` differing between stages is
  refused.
- Stage transitions: jaxgan's `Conv_{k}` (the 1×1 where the width changes) is the k-th
  official `LinearLayer.Layer.weight` of an upsampling (G, layer 0) or downsampling (D, last
  layer) in stage order. The `Resampler.Kernel` buffers are not variables here: each must
  be the [1, 3, 3, 1] / 8 filter (the official default [1, 2, 1]) that `resample` applies.
- G: `basis` is `MainLayers.0.Layers.0.Basis`, (C, 4, 4) to (4, 4, C); `to_basis` is that
  layer's `LinearLayer.weight`; `to_image` is `AggregationLayer`; `embed` is
  `EmbeddingLayer` (jaxgan's width follows the latent size, as the official code's does).
- D: `from_image` is `ExtractionLayer`; the basis layer is the last stage's last layer: its
  `Basis.weight`, a depthwise (C, 1, 4, 4) convolution, is `basis` (4, 4, 1, C), and its
  `LinearLayer.weight` is `to_logit` (unconditional) or `to_embedding`; `label_embedding`
  is `EmbeddingLayer`.
- Layouts: a convolution (O, I / groups, kh, kw) becomes (kh, kw, I / groups, O). A grouped
  convolution's kernel stays grouped: jaxgan stores it so, and both codes put output
  channel o in group o // (O / groups), so the one transpose serves `GroupedConv` in either
  of its forms (its "dense" form builds the block-diagonal kernel from the stored one). A
  linear map (O, I) is transposed. The official weights hold their values unscaled (no
  runtime gains), as jaxgan's do.

The state dict does not record the number of stages or the image's resolution: build the
jaxgan players with the configuration's widths (`WidthPerStage`, D's reversed) and
resolution. Widths, expansion and cardinality (jaxgan's `group_size` = expansion × width /
cardinality, one value for every stage) are checked through the shapes.
"""

import re

import numpy as np

from jaxgan.convert import network_pickle
from jaxgan.convert.state_dict import ConvertError, conv_kernel, fill

_BLOCK = {"Conv_0": "LinearLayer1.Layer.weight", "GroupedConv_0": "LinearLayer2.Layer.weight",
          "Conv_1": "LinearLayer3.Layer.weight", "BiasedActivation_0": "NonLinearity1.Bias",
          "BiasedActivation_1": "NonLinearity2.Bias"}
_LAYER = re.compile(r"Model\.MainLayers\.(\d+)\.Layers\.(\d+)\.(.*)")


def _layers(state: dict) -> dict[tuple[int, int], set[str]]:
  """The official layers by (stage, layer), each with the rest of its arrays' names."""
  found = {}
  for name in state:
    match = _LAYER.fullmatch(name)
    if match:
      found.setdefault((int(match[1]), int(match[2])), set()).add(match[3])
  return found


def _structure(state: dict, what: str) -> tuple[list[str], list[str], int]:
  """Returns the official blocks' and transition 1×1s' prefixes in stage order, and the
  number of stages; raises ConvertError where the blocks per stage differ."""
  layers = _layers(state)
  stages = 1 + max((s for s, _ in layers), default=-1)
  blocks = [f"Model.MainLayers.{s}.Layers.{l}." for s, l in sorted(layers)
            if "LinearLayer1.Layer.weight" in layers[s, l]]
  transitions = [f"Model.MainLayers.{s}.Layers.{l}.LinearLayer.Layer.weight"
                 for s, l in sorted(layers) if "LinearLayer.Layer.weight" in layers[s, l]]
  per_stage = [sum(1 for b in blocks if b.startswith(f"Model.MainLayers.{s}.")) for s in
               range(stages)]
  if len(set(per_stage)) > 1:
    raise ConvertError(f"{what}'s blocks per stage {per_stage} differ between stages; jaxgan's "
                       f"R3GAN builds the same number in every stage")
  return blocks, transitions, stages


def _check_filters(state: dict, what: str) -> list[str]:
  names = [n for n in state if n.endswith("Resampler.Kernel")]
  expected = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
  for name in names:
    if np.shape(state[name]) != (4, 4) or not np.allclose(state[name], expected, atol=1e-7):
      raise ConvertError(f"{what} {name} is not the [1, 3, 3, 1] / 8 filter (official "
                         f"[1, 2, 1]) jaxgan resamples with; refusing to approximate it")
  return names


def _namer(blocks: list[str], transitions: list[str], top: dict[str, str]):
  """torch_name for `fill`: jaxgan's path (collection first) to the official name."""
  def torch_name(path: tuple[str, ...]) -> str:
    _, *keys = path
    module = keys[0]
    if module.startswith("ResidualBlock_") and len(keys) == 3 and keys[1] in _BLOCK:
      i = int(module.split("_")[1])
      return (blocks[i] + _BLOCK[keys[1]]) if i < len(blocks) else f"(no official block {i})"
    if re.fullmatch(r"Conv_\d+", module):
      k = int(module.split("_")[1])
      return transitions[k] if k < len(transitions) else f"(no official transition {k})"
    return top.get("/".join(keys), f"(jaxgan's {'/'.join(keys)}: no official name)")
  return torch_name


def _layout(path: tuple[str, ...], value: np.ndarray) -> np.ndarray:
  if path[-1] == "basis" and value.ndim == 3:  # G's (C, 4, 4)
    return np.transpose(value, (1, 2, 0))
  if value.ndim == 4:
    return conv_kernel(value)
  if value.ndim == 2:
    return value.T
  return value


def generator_variables(state: dict[str, np.ndarray], shapes: dict) -> dict:
  """Returns G's variables (`shapes`: those of the jaxgan G to fill) from its state dict."""
  what = "R3GAN generator"
  ignore = _check_filters(state, "G's")
  blocks, transitions, _ = _structure(state, "G")
  top = {"basis": "Model.MainLayers.0.Layers.0.Basis",
         "to_basis/kernel": "Model.MainLayers.0.Layers.0.LinearLayer.weight",
         "to_image/kernel": "Model.AggregationLayer.Layer.weight",
         "embed/kernel": "Model.EmbeddingLayer.weight"}
  return fill(shapes, state, _namer(blocks, transitions, top), _layout, ignore, what=what)


def discriminator_variables(state: dict[str, np.ndarray], shapes: dict) -> dict:
  """Returns D's variables (`shapes`: those of the jaxgan D to fill) from its state dict."""
  what = "R3GAN discriminator"
  ignore = _check_filters(state, "D's")
  blocks, transitions, stages = _structure(state, "D")
  last = f"Model.MainLayers.{stages - 1}.Layers.{len(blocks) // max(stages, 1)}."
  top = {"from_image/kernel": "Model.ExtractionLayer.Layer.weight",
         "basis": last + "Basis.weight",
         "to_logit/kernel": last + "LinearLayer.weight",
         "to_embedding/kernel": last + "LinearLayer.weight",
         "label_embedding/kernel": "Model.EmbeddingLayer.weight"}
  return fill(shapes, state, _namer(blocks, transitions, top), _layout, ignore, what=what)


def settings(G, D) -> dict:
  """Returns the jaxgan settings (`jaxgan.runner.config` field names) of R3GAN's official G and D
  (`network_pickle` records of its `training.networks` wrappers), read from their attributes
  and their arrays' shapes, with `image_shape` and `num_classes`; raises ConvertError naming
  what jaxgan's R3GAN cannot build."""
  for record, name in ((G, "Generator"), (D, "Discriminator")):
    if record.class_name != name or "Model" not in (record.state.get("_modules") or {}):
      raise ConvertError(f"the network's {name[0]} is a {record.class_name}, not R3GAN's "
                         f"{name}")
  g, d = network_pickle.state_dict(G), network_pickle.state_dict(D)
  z_dim, c_dim = int(G.state["z_dim"]), int(G.state["c_dim"])
  resolution = int(G.state["img_resolution"])
  blocks, transitions, stages = _structure(g, "G")
  _structure(d, "D")
  del transitions  # a stage keeps its input's width without one
  firsts = [f"Model.MainLayers.{s}.Layers.1.LinearLayer1.Layer.weight" for s in range(stages)]
  if any(name not in g for name in firsts):
    raise ConvertError("G has a stage without residual blocks; jaxgan's R3GAN has at least one "
                       "in each")
  widths = [int(g[name].shape[1]) for name in firsts]  # each stage's blocks' width
  hidden = [g[b + "LinearLayer1.Layer.weight"].shape[:2] for b in blocks]
  expansions = {int(h // w) for h, w in hidden if h % w == 0}
  groups = {int(g[b + "LinearLayer2.Layer.weight"].shape[1]) for b in blocks}
  kernels = {tuple(g[b + "LinearLayer2.Layer.weight"].shape[2:]) for b in blocks}
  if len(expansions) != 1 or len(groups) != 1 or kernels != {(3, 3)}:
    raise ConvertError(f"G's blocks have expansions {sorted(expansions)}, channels per group "
                       f"{sorted(groups)} and kernels {sorted(kernels)}; jaxgan's R3GAN has "
                       f"one expansion, one group size and 3x3 kernels")
  if resolution != 4 * 2 ** (stages - 1):
    raise ConvertError(f"{stages} stages at {resolution} px start from a "
                       f"{resolution // 2 ** (stages - 1)} px basis; jaxgan's R3GAN builds "
                       f"a 4 px one only")
  channels = int(g["Model.AggregationLayer.Layer.weight"].shape[0])
  if c_dim and g["Model.EmbeddingLayer.weight"].shape[0] != z_dim:
    raise ConvertError(f"G's label embedding is {g['Model.EmbeddingLayer.weight'].shape[0]} "
                       f"wide; jaxgan's R3GAN makes it as wide as z ({z_dim})")
  return {"model": "r3gan", "latent_dim": z_dim,
          "stage_widths": ",".join(str(w) for w in widths), "stage_blocks": len(blocks) // stages,
          "expansion": expansions.pop(), "group_size": groups.pop(),
          "g_conditioning": "concat" if c_dim else "none",
          "d_conditioning": "projection" if c_dim else "none",
          "image_shape": (resolution, resolution, channels), "num_classes": c_dim}
