"""BigGAN-PyTorch's names for jaxgan's BigGAN and BigGAN-deep (`jaxgan.models.biggan`), and
the settings their weights describe.

The model keeps the official layouts (weights (out, in, ...), NCHW input-layer features,
spectral norm's `u`), so a state dict loads by names alone: `blocks.<i>.0.` is `block<i>/`,
`blocks.<i>.1.` `attention<i>/`, G's `output_layer.0.` and `.2.` are `output_bn/` and
`output_conv/`, a spectral norm's `u0` is `u` (model state, beside batch norm's
`stored_mean` and `stored_var`), and its logged `sv0` is left out. BigGAN-deep's D keeps a
stage's blocks in one list: `blocks.<s>.<k>.` is `block<s>_<k>/` (and its attention
`attention<s>_2/`); its G numbers blocks as BigGAN's does.
"""

import os
import re

import numpy as np

from jaxgan.convert.state_dict import ConvertError, fill, variable_shapes
from jaxgan.models import biggan

_RENAMES = ((re.compile(r"^(?:block|attention)(\d+)_(\d+)/"), r"blocks.\1.\2."),  # deep
            (re.compile(r"^block(\d+)/"), r"blocks.\1.0."),
            (re.compile(r"^attention(\d+)/"), r"blocks.\1.1."),
            (re.compile(r"^output_bn/"), "output_layer.0."),
            (re.compile(r"^output_conv/"), "output_layer.2."))


def official_name(path: tuple[str, ...]) -> str:
  """The official state-dict name of the variable at `path` (collection first)."""
  name = "/".join(path[1:])
  for pattern, new in _RENAMES:
    name = pattern.sub(new, name)
  name = name.replace("/", ".")
  return name[:-1] + "u0" if name.endswith(".u") or name == "u" else name


def variables(module, state_dict: dict[str, np.ndarray], *inputs) -> dict:
  """Returns `module`'s variables (`params` and `batch_stats`) from the official state dict
  of the same network; `inputs` are example inputs (z and labels, or images and labels)."""
  return _filled(variable_shapes(module, *inputs, train=False), state_dict, "BigGAN")


def _filled(shapes: dict, sd: dict, what: str) -> dict:
  """`shapes` filled from the official state dict `sd`, its logged `sv0`s left out."""
  sd = plain_batch_norms(sd)
  return fill(shapes, sd, official_name, what=what,
              ignore=[k for k in sd if k.rsplit(".", 1)[-1].startswith("sv")])


def plain_batch_norms(sd: dict) -> dict:
  """A state dict of a G trained with `--mybn` in the plain layout: its norms' `bn.stored_*`
  as `stored_*` (divided by `accumulation_counter` where standing statistics were being
  accumulated, as myBN's eval mode divides them), the counters dropped."""
  out = {}
  for name, value in sd.items():
    if name.endswith(".bn.accumulation_counter"):
      continue
    if ".bn.stored_" in name:
      counter = sd.get(name.rsplit(".bn.", 1)[0] + ".bn.accumulation_counter")
      if counter is not None and float(np.asarray(counter).reshape(-1)[0]) > 0:
        value = np.asarray(value) / float(np.asarray(counter).reshape(-1)[0])
      name = name.replace(".bn.stored_", ".stored_")
    out[name] = value
  return out


WEIGHT_FILES = ("G.pth", "D.pth", "G_ema.pth", "state_dict.pth")


def read(path: str) -> tuple[dict, dict, dict, dict]:
  """Returns `(G, D, G_ema, config)` of BigGAN-PyTorch's weights: a folder of its `G.pth`,
  `D.pth` and optionally `G_ema.pth` and `state_dict.pth` (whose `config` holds the training
  options), or the path of one of those files (its siblings are read). G_ema is G's weights
  where the folder has none; config is empty where there is no state_dict.pth."""
  from jaxgan.convert import network_pickle  # pylint: disable=import-outside-toplevel
  folder = path if os.path.isdir(path) else os.path.dirname(path)
  files = {name: os.path.join(folder, name) for name in WEIGHT_FILES}
  if not (os.path.isfile(files["G.pth"]) and os.path.isfile(files["D.pth"])):
    raise ConvertError(f"{folder} has no G.pth and D.pth: BigGAN-PyTorch's weights are a "
                       f"folder of G.pth, D.pth and G_ema.pth")
  g, d = network_pickle.read_tensors(files["G.pth"]), network_pickle.read_tensors(files["D.pth"])
  g_ema = (network_pickle.read_tensors(files["G_ema.pth"])
           if os.path.isfile(files["G_ema.pth"]) else g)
  config = {}
  if os.path.isfile(files["state_dict.pth"]):
    config = dict(network_pickle.read_plain(files["state_dict.pth"]).get("config") or {})
  return g, d, g_ema, config


def _blocks(sd: dict, name: str = "conv1") -> int:
  return len({k.split(".")[1] for k in sd if re.fullmatch(rf"blocks\.\d+\.0\.{name}\.weight", k)})


def settings(g: dict, d: dict, config: dict | None = None) -> dict:
  """Returns the jaxgan settings (config field names) of the official G and D state dicts,
  with `image_shape` and `num_classes`; `config` (the official training options, where the
  weights came with them) gives what shapes cannot: epsilons, EMA, learning rates."""
  config = dict(config or {})
  if "blocks.0.0.conv4.weight" in g:
    out = _deep_settings(g, d, config)
  else:
    out = _plain_settings(g, d)
  official = {"SN_eps": "sn_eps", "BN_eps": "bn_eps", "G_ortho": "ortho_weight",
              "num_D_steps": "d_steps", "G_lr": "g_lr", "D_lr": "d_lr", "G_B1": "g_beta1",
              "G_B2": "g_beta2", "D_B1": "d_beta1", "D_B2": "d_beta2",
              "ema_decay": "ema_decay", "ema_start": "ema_start"}
  out.update({ours: config[theirs] for theirs, ours in official.items() if theirs in config})
  return out


def _deep_settings(g: dict, d: dict, config: dict) -> dict:
  """BigGAN-deep's (BigGANdeep.py): G lists its blocks apart (two a stage, attention after
  the second), D a stage's together (attention third). Depths other than 2 are refused."""
  d_depth = len({k.split(".")[2] for k in d
                 if re.fullmatch(r"blocks\.0\.\d+\.conv1\.weight", k)})
  for name, depth in (("G_depth", config.get("G_depth", biggan.DEEP_DEPTH)),
                      ("D_depth", config.get("D_depth", d_depth))):
    if depth != biggan.DEEP_DEPTH:
      raise ConvertError(f"{name}={depth}: jaxgan's BigGAN-deep has {biggan.DEEP_DEPTH} blocks "
                         f"a resolution, as the authors' script trains it")
  if _blocks(g) % biggan.DEEP_DEPTH:
    raise ConvertError(f"G has {_blocks(g)} blocks, not {biggan.DEEP_DEPTH} a resolution: "
                       f"jaxgan's BigGAN-deep has {biggan.DEEP_DEPTH}")
  stages = _blocks(g) // biggan.DEEP_DEPTH
  if stages not in (3, 4, 5, 6):
    raise ConvertError(f"G has {stages} stages; jaxgan's BigGAN-deep has 3 to 6 (32 to 256 px)")
  resolution = {3: 32, 4: 64, 5: 128, 6: 256}[stages]
  try:
    ins, _, placed = biggan.G_ARCH[resolution]
    d_ins, _, _, d_placed = biggan.D_DEEP_ARCH[resolution]
    if _blocks(d) != len(d_ins):
      raise ConvertError(f"D has {_blocks(d)} stages where a {resolution} px BigGAN-deep has "
                         f"{len(d_ins)}")
    num_classes, shared_dim = g["shared.weight"].shape
    out = dict(model="biggan_deep", latent_dim=int(g["linear.weight"].shape[1] - shared_dim),
               g_conditioning="cbn", d_conditioning="projection",
               g_ch=int(g["linear.weight"].shape[0] // (ins[0] * biggan.BOTTOM ** 2)),
               d_ch=int(d["input_conv.weight"].shape[0] // d_ins[0]),
               g_attention=",".join(str(placed[s]) for s in range(stages)
                                    if f"blocks.{biggan.DEEP_DEPTH * s + 1}.1.gamma" in g) or "0",
               d_attention=",".join(sorted({str(d_placed[s]) for s in range(len(d_ins))
                                            if f"blocks.{s}.{biggan.DEEP_DEPTH}.gamma" in d},
                                           key=int)) or "0",
               shared_embedding=True, hierarchical_z=True, shared_dim=int(shared_dim),
               image_shape=(resolution, resolution, int(g["output_layer.2.weight"].shape[0])),
               num_classes=int(num_classes))
  except KeyError as e:
    raise ConvertError(f"not BigGAN-PyTorch's BigGAN-deep weights: {e} is missing") from e
  if d.get("embed.weight") is None or d["embed.weight"].shape[0] != num_classes:
    raise ConvertError("D's class embedding does not match G's classes")
  return out


def _plain_settings(g: dict, d: dict) -> dict:
  blocks = _blocks(g)
  if blocks not in (3, 4, 5, 6):
    raise ConvertError(f"G has {blocks} blocks; jaxgan's BigGAN has 3 to 6 (32 to 256 px)")
  resolution = {3: 32, 4: 64, 5: 128, 6: 256}[blocks]
  try:
    if _blocks(d) != len(biggan.D_ARCH[resolution][1]):
      raise ConvertError(f"D has {_blocks(d)} blocks where a {resolution} px BigGAN has "
                         f"{len(biggan.D_ARCH[resolution][1])}")
    ins, _, placed = biggan.G_ARCH[resolution]
    g_ch = g["linear.weight"].shape[0] // (ins[0] * biggan.BOTTOM ** 2)
    d_ch = d["blocks.0.0.conv2.weight"].shape[0] // biggan.D_ARCH[resolution][1][0]
    channels = g["output_layer.2.weight"].shape[0]
    shared = "shared.weight" in g
    cbn_in = g["blocks.0.0.bn1.gain.weight"].shape[1 if shared else 0]
    if shared:
      num_classes, shared_dim = g["shared.weight"].shape
      chunk = cbn_in - shared_dim
      latent = chunk * (blocks + 1) if chunk else g["linear.weight"].shape[1]
    else:
      num_classes, shared_dim, chunk = cbn_in, 0, 0
      latent = g["linear.weight"].shape[1]
    d_placed = biggan.D_ARCH[resolution][3]
    attention = lambda sd, where: ",".join(
        str(r) for r in sorted({where[i] for i in range(len(where))
                                if f"blocks.{i}.1.gamma" in sd})) or "0"
    d_wide = d["blocks.0.0.conv1.weight"].shape[0] == d["blocks.0.0.conv2.weight"].shape[0]
  except KeyError as e:
    raise ConvertError(f"not BigGAN-PyTorch's weights: {e} is missing") from e
  if d.get("embed.weight") is None or d["embed.weight"].shape[0] != num_classes:
    raise ConvertError("D's class embedding does not match G's classes")
  out = dict(model="biggan", latent_dim=int(latent), g_conditioning="cbn",
             d_conditioning="projection", g_ch=int(g_ch), d_ch=int(d_ch),
             g_attention=attention(g, placed), d_attention=attention(d, d_placed),
             shared_embedding=shared, shared_dim=int(shared_dim), hierarchical_z=bool(chunk),
             d_wide=bool(d_wide), image_shape=(resolution, resolution, int(channels)),
             num_classes=int(num_classes))
  return out


def generator_variables(sd: dict, shapes: dict) -> dict:
  """G's variables (`params`, `batch_stats`) filled from its official state dict."""
  return _filled(shapes, sd, "BigGAN G")


def discriminator_variables(sd: dict, shapes: dict) -> dict:
  """D's variables filled from its official state dict."""
  return _filled(shapes, sd, "BigGAN D")
