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


# What jaxgan builds, and what it refuses, of an official network's constructor arguments.
# Each accepted option: the values jaxgan computes as the official code does (None where any
# value is read into a setting). Anything else is refused by name, never approximated.
_G_ACCEPTED = {"z_dim": None, "c_dim": None, "w_dim": None, "img_resolution": None,
               "img_channels": None, "mapping_kwargs": None, "synthesis_kwargs": None}
_MAPPING = {"num_layers": None, "embed_features": "w_dim", "layer_features": "w_dim",
            "activation": ("lrelu",), "lr_multiplier": (0.01,), "w_avg_beta": None}
_SYNTHESIS = {"channel_base": None, "channel_max": None, "num_fp16_res": None,
              "conv_clamp": None, "architecture": ("skip",), "resample_filter": ([1, 3, 3, 1],),
              "use_noise": (True,), "activation": ("lrelu",), "fp16_channels_last": None,
              "kernel_size": (3,)}
_D_ACCEPTED = {"c_dim": None, "img_resolution": None, "img_channels": None,
               "architecture": ("resnet", "orig"), "channel_base": None, "channel_max": None,
               "num_fp16_res": None, "conv_clamp": None, "cmap_dim": None,
               "block_kwargs": None, "mapping_kwargs": None, "epilogue_kwargs": None}
_D_BLOCK = {"activation": ("lrelu",), "resample_filter": ([1, 3, 3, 1],),
            "fp16_channels_last": None, "freeze_layers": None}
_D_EPILOGUE = {"mbstd_group_size": None, "mbstd_num_channels": None, "activation": ("lrelu",)}


def _check(kwargs: dict, accepted: dict, where: str, context: dict) -> None:
  for name, value in kwargs.items():
    if name not in accepted:
      raise ConvertError(f"{where}{name}={value!r}: an option jaxgan's StyleGAN2 does not "
                         f"implement")
    rule = accepted[name]
    if isinstance(rule, str):  # None or equal to another setting
      ok = value is None or value == context[rule]
    else:
      ok = rule is None or value in rule
    if not ok:
      raise ConvertError(f"{where}{name}={value!r}: jaxgan's StyleGAN2 implements "
                         f"{rule if not isinstance(rule, str) else f'{rule} ({context[rule]})'}"
                         f" only")


def _children(obj) -> list[str]:
  return list((obj.state.get("_modules") or {}))


def settings(G, D) -> dict:
  """Returns the jaxgan settings (`jaxgan.runner.config` field names) of an official StyleGAN2 G
  and D (`network_pickle.Persistent` records), with `image_shape` and `num_classes`; raises
  ConvertError naming any option or layer jaxgan does not implement."""
  for record, name in ((G, "Generator"), (D, "Discriminator")):
    if record.class_name != name:
      raise ConvertError(f"the network's {name[0]} is a {record.class_name}, not StyleGAN2's "
                         f"{name}")
  g = G.init_kwargs
  synthesis = G.child("synthesis")
  blocks = _children(synthesis)
  if "SynthesisInput" in synthesis.module_src or not all(b.startswith("b") for b in blocks):
    raise ConvertError(f"G's synthesis has layers {blocks[:4]}…: StyleGAN3's (SynthesisInput, "
                       f"filtered layers), which jaxgan does not implement")
  _check(g, _G_ACCEPTED, "G's ", g)
  mapping, synth = dict(g.get("mapping_kwargs") or {}), dict(g.get("synthesis_kwargs") or {})
  _check(mapping, _MAPPING, "G's mapping_kwargs.", g)
  _check(synth, _SYNTHESIS, "G's synthesis_kwargs.", g)
  d = D.init_kwargs
  _check(d, _D_ACCEPTED, "D's ", d)
  _check(dict(d.get("block_kwargs") or {}), _D_BLOCK, "D's block_kwargs.", d)
  epilogue = dict(d.get("epilogue_kwargs") or {})
  _check(epilogue, _D_EPILOGUE, "D's epilogue_kwargs.", d)
  d_mapping = dict(d.get("mapping_kwargs") or {})
  _check(d_mapping, _MAPPING, "D's mapping_kwargs.", {"w_dim": None})
  channel_base, channel_max = synth.get("channel_base", 32768), synth.get("channel_max", 512)
  g_shared = (g["img_resolution"], g["img_channels"], g["c_dim"], channel_base, channel_max)
  d_shared = (d["img_resolution"], d["img_channels"], d["c_dim"], d.get("channel_base", 32768),
              d.get("channel_max", 512))
  if g_shared != d_shared:
    raise ConvertError(f"G and D differ in (resolution, channels, classes, channel_base, "
                       f"channel_max): {g_shared} against {d_shared}; jaxgan builds both "
                       f"from one setting")
  cmap = d.get("cmap_dim")
  c4 = min(channel_base // 4, channel_max)
  if d["c_dim"] and cmap not in (None, c4):
    raise ConvertError(f"D's cmap_dim={cmap}: jaxgan projects onto D's 4x4 width ({c4}) only")
  clamps = {synth.get("conv_clamp"), d.get("conv_clamp")}
  if len(clamps) > 1:
    raise ConvertError(f"G's conv_clamp {synth.get('conv_clamp')} and D's "
                       f"{d.get('conv_clamp')} differ; jaxgan has one setting")
  classes = int(g["c_dim"])
  return {
      "model": "stylegan2", "latent_dim": int(g["z_dim"]), "w_dim": int(g["w_dim"]),
      "mapping_layers": int(mapping.get("num_layers", 8)),
      "d_mapping_layers": int(d_mapping.get("num_layers", 8)),
      "channel_base": int(channel_base), "channel_max": int(channel_max),
      "conv_clamp": float(clamps.pop() or 0.0),
      "d_architecture": d.get("architecture", "resnet"),
      "mbstd_group": int(epilogue.get("mbstd_group_size", 4) or 1),
      "mbstd_channels": int(epilogue.get("mbstd_num_channels", 1)),
      "g_conditioning": "concat" if classes else "none",
      "d_conditioning": "projection" if classes else "none",
      "image_shape": (int(g["img_resolution"]), int(g["img_resolution"]),
                      int(g["img_channels"])),
      "num_classes": classes,
  }


def augment_settings(pipe) -> tuple[str, float]:
  """Returns (jaxgan's `ada_pipeline`, p) of ADA's official AugmentPipe record; refuses
  operations or strengths jaxgan's pipeline does not implement."""
  from jaxgan.views import ada_pipeline  # pylint: disable=import-outside-toplevel
  if pipe.class_name != "AugmentPipe":
    raise ConvertError(f"augment_pipe is a {pipe.class_name}, not ADA's AugmentPipe")
  kwargs = pipe.init_kwargs
  defaults = {"xint_max": 0.125, "scale_std": 0.2, "rotate_max": 1, "aniso_std": 0.2,
              "xfrac_std": 0.125, "brightness_std": 0.2, "contrast_std": 0.5, "hue_max": 1,
              "saturation_std": 1}
  ops = []
  for name, value in kwargs.items():
    if name in ada_pipeline.OPS:
      if value not in (0, 1):
        raise ConvertError(f"augment_pipe {name}={value}: jaxgan's pipeline applies each "
                           f"operation with multiplier 0 or 1 only")
      if value:
        ops.append(name)
    elif name in defaults:
      if value != defaults[name]:
        raise ConvertError(f"augment_pipe {name}={value}: jaxgan's pipeline implements "
                           f"{defaults[name]} only")
    elif value:  # imgfilter, noise, cutout and their settings
      raise ConvertError(f"augment_pipe {name}={value!r}: an operation jaxgan's ADA pipeline "
                         f"does not implement")
  p = float(np.asarray(pipe.state["_buffers"]["p"]))
  return ",".join(o for o in ada_pipeline.OPS if o in ops), p
