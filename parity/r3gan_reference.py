"""Writes R3GAN's parity fixture: small random official networks, their outputs and losses.

Run under PyTorch (CPU is enough) with the authors' code (brownvc/R3GAN) checked out at
--authors; nothing of theirs is copied, only numbers are written:

  python parity/r3gan_reference.py --authors=PATH --out=tests/data/parity/r3gan.npz

(the committed fixture: brownvc/R3GAN at 19a7ddf463fbac2bd39b4c1c73d63f1c441c7403, PyTorch
2.13 on the CPU).

The networks are built through the authors' `training.networks` wrappers, the classes their
network pickles hold, so the weights carry the state-dict names of their checkpoints
(`Model.MainLayers.…`). Configurations (`config`, a JSON string of each one's constructor
arguments and γ): `a` is 16 px, unconditional, widths changing between stages, 2 blocks a
stage; `b` is 32 px, 5 classes, expansion 3, one block a stage, a latent size other than 64.
FP16Stages is empty: everything runs in float32.

Every bias and every layer the fix-up initialisation leaves at zero (the last 1×1 of each
residual branch) is drawn non-zero, so that each weight matters. For each configuration
`cfg` the file holds:
  cfg/G/<name>, cfg/D/<name>    every parameter and buffer, under the official names;
  cfg/z, cfg/c, cfg/real        the inputs (c one-hot, (B, 0) when unconditional);
  cfg/fake                      G(z, c), NCHW, the images both players' updates use;
  cfg/real_logits, cfg/fake_logits    D(real, c), D(fake, c);
  cfg/d_rpgan, cfg/r1, cfg/r2   per sample, as the authors' D update returns them:
                                softplus(D(fake) − D(real)) and ‖∇ₓD‖² at real and at fake;
  cfg/g_rpgan                   per sample, as their G update returns it:
                                softplus(D(real) − D(fake));
  cfg/d_grad/<name>             ∂/∂θ_D of their D cost mean(d_rpgan + γ/2 (r1 + r2));
  cfg/g_grad/<name>             ∂/∂θ_G of their G cost mean(g_rpgan);
both gradients as their `AdversarialTraining` accumulates them (Scale 1, no augmentation).
"""

import argparse
import json
import math
import re
import sys
import types

import numpy as np

CONFIGS = {
    "a": dict(
        G=dict(NoiseDimension=12, WidthPerStage=[16, 12, 8], CardinalityPerStage=[8, 6, 4],
               BlocksPerStage=[2, 2, 2], ExpansionFactor=2, c_dim=0, img_resolution=16,
               FP16Stages=[]),
        D=dict(WidthPerStage=[8, 12, 16], CardinalityPerStage=[4, 6, 8],
               BlocksPerStage=[2, 2, 2], ExpansionFactor=2, c_dim=0, img_resolution=16,
               FP16Stages=[]),
        gamma=0.3, logit_scale=30.0),
    # Conditional: the embedding widths are the ones the authors' train.py sets, G's the
    # noise dimension, D's G's first stage width (D's last).
    "b": dict(
        G=dict(NoiseDimension=10, WidthPerStage=[12, 12, 8, 8],
               CardinalityPerStage=[6, 6, 4, 4], BlocksPerStage=[1, 1, 1, 1], ExpansionFactor=3,
               c_dim=5, img_resolution=32, ConditionEmbeddingDimension=10, FP16Stages=[]),
        D=dict(WidthPerStage=[8, 8, 12, 12], CardinalityPerStage=[4, 4, 6, 6],
               BlocksPerStage=[1, 1, 1, 1], ExpansionFactor=3, c_dim=5, img_resolution=32,
               ConditionEmbeddingDimension=12, FP16Stages=[]),
        gamma=5.0, logit_scale=15.0),
}
BATCH = 4


def _randomise(module, torch, gen, last: str = "", scale: float = 1.0):
  """Biases N(0, 0.3²); weights the initialisation left at zero N(0, 0.5² / fan_in); the
  parameter `last` times `scale` (D's last linear map, so that the logits are of order 1,
  where softplus bends, rather than of order 0.05)."""
  with torch.no_grad():
    for name, p in module.named_parameters():
      noise = torch.randn(p.shape, generator=gen)
      if name.endswith("Bias"):
        p.copy_(0.3 * noise)
      elif not bool(p.any()):
        fan_in = math.prod(p.shape[1:])
        p.copy_(0.5 / math.sqrt(fan_in) * noise)
      if name == last:
        p.mul_(scale)


def reference(cfg: dict, torch, networks, trainer, seed: int) -> dict:
  gen = torch.Generator().manual_seed(seed)
  torch.manual_seed(seed)
  G = networks.Generator(**cfg["G"])
  D = networks.Discriminator(**cfg["D"])
  _randomise(G, torch, gen)
  stages = len(cfg["D"]["WidthPerStage"])
  basis = f"Model.MainLayers.{stages - 1}.Layers.{cfg['D']['BlocksPerStage'][-1]}"
  _randomise(D, torch, gen, f"{basis}.LinearLayer.weight", cfg["logit_scale"])
  g = cfg["G"]
  z = torch.randn([BATCH, g["NoiseDimension"]], generator=gen)
  c = torch.zeros([BATCH, g["c_dim"]])
  if g["c_dim"]:
    c[torch.arange(BATCH), torch.tensor([3, 0, 4, 1]) % g["c_dim"]] = 1
  res = g["img_resolution"]
  real = torch.randn([BATCH, 3, res, res], generator=gen)
  out = {"z": z, "c": c, "real": real}
  with torch.no_grad():
    out["fake"] = G(z, c)
    out["real_logits"] = D(real, c)
    out["fake_logits"] = D(out["fake"], c)

  game = trainer.AdversarialTraining(G, D)
  for p in list(G.parameters()) + list(D.parameters()):
    p.grad = None
  d_rpgan, _, r1, r2 = game.AccumulateDiscriminatorGradients(z, real, c, cfg["gamma"])
  out.update(d_rpgan=d_rpgan, r1=r1, r2=r2)
  out.update({f"d_grad/{k}": p.grad for k, p in D.named_parameters()})
  assert all(p.grad is None for p in G.parameters())
  for p in list(G.parameters()) + list(D.parameters()):
    p.grad = None
  g_rpgan, _ = game.AccumulateGeneratorGradients(z, real, c)
  out["g_rpgan"] = g_rpgan
  out.update({f"g_grad/{k}": p.grad for k, p in G.named_parameters()})

  arrays = {k: v.detach().numpy() for k, v in out.items()}
  arrays.update({f"G/{k}": v.detach().numpy() for k, v in G.state_dict().items()})
  arrays.update({f"D/{k}": v.detach().numpy() for k, v in D.state_dict().items()})
  d_cost = float((d_rpgan + cfg["gamma"] / 2 * (r1 + r2)).mean())
  print(f"{seed}: images ±{float(out['fake'].abs().max()):.3g}, logits "
        f"±{float(out['real_logits'].abs().max()):.3g}, RpGAN D {float(d_rpgan.mean()):.4g} "
        f"G {float(g_rpgan.mean()):.4g}, γ/2 R1 {cfg['gamma'] / 2 * float(r1.mean()):.4g}, "
        f"γ/2 R2 {cfg['gamma'] / 2 * float(r2.mean()):.4g}, D cost {d_cost:.4g}")
  return arrays


def _stand_in_for_pkg_resources():
  """The authors' torch_utils import `pkg_resources.parse_version` (to tell PyTorch ≥ 1.11
  apart), which setuptools ≥ 81 no longer ships; a stand-in compares the leading numbers."""
  try:
    import pkg_resources  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    module = types.ModuleType("pkg_resources")
    module.parse_version = lambda v: tuple(int(n) for n in re.findall(r"\d+", v)[:3])
    sys.modules["pkg_resources"] = module


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--authors", required=True, help="a checkout of brownvc/R3GAN")
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  sys.path.insert(0, args.authors)
  _stand_in_for_pkg_resources()
  import torch  # pylint: disable=import-outside-toplevel
  from R3GAN import Trainer as trainer  # pylint: disable=import-outside-toplevel
  from training import networks  # pylint: disable=import-outside-toplevel
  torch.use_deterministic_algorithms(True)
  arrays = {}
  for i, (name, cfg) in enumerate(CONFIGS.items()):
    arrays.update({f"{name}/{k}": v
                   for k, v in reference(cfg, torch, networks, trainer, i).items()})
  arrays["config"] = np.array(json.dumps(CONFIGS))
  np.savez_compressed(args.out, **arrays)
  print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
  main()
