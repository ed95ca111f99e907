"""Writes StyleGAN2's parity fixture: small random official networks and their outputs.

Run under PyTorch (CPU is enough) with NVIDIA's stylegan2-ada-pytorch checked out at
--authors; nothing of theirs is copied, only numbers are written:

  python parity/stylegan2_reference.py --authors=PATH --out=tests/data/parity/stylegan2.npz

The file holds, for each configuration `cfg` (`a`: 32 px RGB, unconditional, residual D;
`b`: 16 px grey, 4 classes, D without skips, 2 standard-deviation channels):
  cfg/G/<name>, cfg/D/<name>   every parameter and buffer, under the official names;
  cfg/z, cfg/c, cfg/x          the inputs (c one-hot; x the images D scores);
  cfg/ws, cfg/ws_psi           mapping at ψ 1 and ψ 0.7 (w_avg set at random);
  cfg/img_const, cfg/img_none  synthesis of ws with noise_mode const and none;
  cfg/logits, cfg/r1_grad      D(x, c), and ∂ΣD(x, c)/∂x;
  cfg/pl_noise, cfg/pl_mean, cfg/pl_lengths, cfg/pl_penalty   the path-length penalty of the
                               images synthesised from ws (const noise), as the official loss
                               computes it, with the running mean before the update.
Every bias, noise strength and w_avg is drawn non-zero so that each weight matters. The
`config` entry is a JSON string of each configuration's constructor arguments.
"""

import argparse
import json
import sys

import numpy as np

CONFIGS = {
    "a": dict(G=dict(z_dim=12, c_dim=0, w_dim=16, img_resolution=32, img_channels=3,
                     mapping_kwargs=dict(num_layers=2),
                     synthesis_kwargs=dict(channel_base=256, channel_max=16)),
              D=dict(c_dim=0, img_resolution=32, img_channels=3, architecture="resnet",
                     channel_base=256, channel_max=16,
                     epilogue_kwargs=dict(mbstd_group_size=2, mbstd_num_channels=1))),
    "b": dict(G=dict(z_dim=8, c_dim=4, w_dim=8, img_resolution=16, img_channels=1,
                     mapping_kwargs=dict(num_layers=3),
                     synthesis_kwargs=dict(channel_base=128, channel_max=8)),
              D=dict(c_dim=4, img_resolution=16, img_channels=1, architecture="orig",
                     channel_base=128, channel_max=8, mapping_kwargs=dict(num_layers=2),
                     epilogue_kwargs=dict(mbstd_group_size=4, mbstd_num_channels=2))),
}
BATCH = 4


def _randomise(module, torch, gen):
  """Every bias, noise strength and w_avg drawn non-zero (affine biases around 1)."""
  with torch.no_grad():
    for name, p in list(module.named_parameters()) + list(module.named_buffers()):
      if name.endswith("resample_filter"):
        continue
      noise = torch.randn(p.shape, generator=gen)
      if name.endswith("affine.bias"):
        p.copy_(1.0 + 0.2 * noise)
      elif name.endswith("bias") or name.endswith("noise_strength"):
        p.copy_(0.3 * noise)
      elif name.endswith("w_avg"):
        p.copy_(0.5 * noise)


def reference(cfg: dict, torch, networks, seed: int) -> dict:
  gen = torch.Generator().manual_seed(seed)
  torch.manual_seed(seed)
  G = networks.Generator(**cfg["G"]).eval().requires_grad_(False)
  D = networks.Discriminator(**cfg["D"]).eval().requires_grad_(False)
  _randomise(G, torch, gen)
  _randomise(D, torch, gen)
  g, d = cfg["G"], cfg["D"]
  z = torch.randn([BATCH, g["z_dim"]], generator=gen)
  c = torch.zeros([BATCH, g["c_dim"]])
  if g["c_dim"]:
    c[torch.arange(BATCH), torch.arange(BATCH) % g["c_dim"]] = 1
  res, ch = g["img_resolution"], g["img_channels"]
  x = torch.randn([BATCH, ch, res, res], generator=gen)
  out = {"z": z, "c": c, "x": x}
  out["ws"] = G.mapping(z, c)
  out["ws_psi"] = G.mapping(z, c, truncation_psi=0.7)
  out["img_const"] = G.synthesis(out["ws"], noise_mode="const")
  out["img_none"] = G.synthesis(out["ws"], noise_mode="none")
  out["logits"] = D(x, c)[:, 0]
  xg = x.clone().requires_grad_(True)
  out["r1_grad"], = torch.autograd.grad(D(xg, c).sum(), [xg])
  # The official loss's path-length term, on const noise so both sides draw the same images.
  ws = out["ws"].clone().requires_grad_(True)
  img = G.synthesis(ws, noise_mode="const")
  pl_noise = torch.randn(img.shape, generator=gen) / np.sqrt(img.shape[2] * img.shape[3])
  pl_grads, = torch.autograd.grad((img * pl_noise).sum(), [ws])
  pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
  pl_mean = torch.tensor(0.3)
  new_mean = pl_mean.lerp(pl_lengths.mean(), 0.01)
  out.update(pl_noise=pl_noise, pl_mean=pl_mean, pl_lengths=pl_lengths,
             pl_penalty=(pl_lengths - new_mean).square().mean())
  arrays = {k: v.detach().numpy() for k, v in out.items()}
  arrays.update({f"G/{k}": v.detach().numpy() for k, v in G.state_dict().items()})
  arrays.update({f"D/{k}": v.detach().numpy() for k, v in D.state_dict().items()})
  return arrays


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--authors", required=True, help="a checkout of stylegan2-ada-pytorch")
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  sys.path.insert(0, args.authors)
  import torch  # pylint: disable=import-outside-toplevel
  from training import networks  # pylint: disable=import-outside-toplevel
  arrays = {}
  for i, (name, cfg) in enumerate(CONFIGS.items()):
    arrays.update({f"{name}/{k}": v for k, v in reference(cfg, torch, networks, i).items()})
  arrays["config"] = np.array(json.dumps(CONFIGS))
  np.savez_compressed(args.out, **arrays)
  print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
  main()
