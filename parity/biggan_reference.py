"""Writes BigGAN's parity fixture: BigGAN-PyTorch's own G and D, small and random, and outputs.

Run under PyTorch (CPU is enough) with ajbrock/BigGAN-PyTorch checked out at --authors; its
`BigGAN.py` and `layers.py` are imported from there and run as they are, and `utils.ortho`,
`utils.initiate_standing_stats` and `utils.accumulate_standing_stats` are defined from
utils.py's source (nothing of theirs is copied here; only numbers are written):

  python parity/biggan_reference.py --authors=PATH --out=tests/data/parity/biggan.npz

Four configurations, each under its own prefix:
  c32/  32 px, per-block class embeddings in the conditional batch norms (the CIFAR-10 form,
        G_shared off), attention in G and D at 16 px, N02 initialisation;
  h64/  64 px, the shared embedding with a hierarchical z (the ImageNet form), attention in G
        at 32 px and in D at 8 px, orthogonal initialisation, D_wide off;
  d64/  BigGAN-deep (`BigGANdeep.py`, G_depth = D_depth = 2, G_shared with hier as its launch
        script has them), 64 px, attention in G at 32 px and in D at 8 px;
  d32/  BigGAN-deep at 32 px, attention at 16 px (D's 32 px table places it after every
        stage).
For each (images NCHW, as PyTorch has them):
  <p>G/<name>, <p>D/<name>     every parameter and buffer under the official names, after
                               randomising (every bias, gain, attention gamma, running
                               statistic and singular vector non-zero);
  <p>z, <p>y, <p>x             latents, classes and the images D scores;
  <p>img_train, <p>img_eval    G(z, shared(y)) in train mode (batch statistics, one power
                               iteration stored) and then in eval mode;
  <p>G_after/<name>            G's buffers after that train-mode pass (u, stored_mean/var);
  <p>logit_train, <p>logit_eval, <p>D_after/<name>   the same for D(x, y);
  <p>standing_z, <p>standing_y the batches (S, B, ...) of `accumulate_standing_stats`, drawn by
                               it from torch's seeded generator and replayed here;
  <p>standing/<name>           the buffers of the same G built with `mybn=True` (its myBN, which
                               keeps standing statistics), loaded with the weights above and
                               given those S accumulations: stored mean and variance divided
                               by the accumulation counter (what its eval mode uses), under
                               the plain layout's names, and the singular vectors;
  <p>img_standing              that G in eval mode on z, y;
  <p>ortho/<name>              the gradient BigGAN's `utils.ortho` adds to each G weight at
                               strength 1 (its modified orthogonal regularisation, the shared
                               embedding left out as train_fns does);
  <p>sizes                     a JSON string of the configuration.
"""

import argparse
import ast
import json
import os
import sys

import numpy as np

CONFIGS = {
    "c32": dict(resolution=32, G_ch=4, D_ch=4, dim_z=16, n_classes=5, G_attn="16",
                D_attn="16", G_shared=False, hier=False, shared_dim=0, D_wide=True,
                G_init="N02", D_init="N02", SN_eps=1e-8, BN_eps=1e-5, batch=4),
    "h64": dict(resolution=64, G_ch=2, D_ch=2, dim_z=15, n_classes=5, G_attn="32",
                D_attn="8", G_shared=True, hier=True, shared_dim=8, D_wide=False,
                G_init="ortho", D_init="ortho", SN_eps=1e-6, BN_eps=1e-4, batch=4),
    "d64": dict(model="BigGANdeep", resolution=64, G_ch=4, D_ch=2, dim_z=6, n_classes=5,
                G_attn="32", D_attn="8", G_shared=True, hier=True, shared_dim=4,
                G_init="ortho", D_init="ortho", SN_eps=1e-6, BN_eps=1e-4, batch=4,
                out_scale=0.25),
    "d32": dict(model="BigGANdeep", resolution=32, G_ch=4, D_ch=4, dim_z=8, n_classes=3,
                G_attn="16", D_attn="16", G_shared=True, hier=True, shared_dim=0,
                G_init="N02", D_init="N02", SN_eps=1e-8, BN_eps=1e-5, batch=4,
                out_scale=0.25),
}


STANDING = 3  # accumulations of the standing statistics


def official_functions(authors: str, torch, *names: str) -> dict:
  """BigGAN-PyTorch's functions `names` of utils.py, defined from its source alone (the module
  itself imports torchvision and its data code, which this needs nothing of)."""
  path = os.path.join(authors, "utils.py")
  with open(path, encoding="utf-8") as f:
    tree = ast.parse(f.read(), path)
  nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
  scope = {"torch": torch}
  exec(compile(ast.Module(body=nodes, type_ignores=[]), path, "exec"), scope)  # pylint: disable=exec-used
  return {name: scope[name] for name in names}


def standing(authors: str, prefix: str, cfg: dict, torch, weights: dict, z, y) -> dict:
  """The official standing statistics: G with myBN, `accumulate_standing_stats`, eval mode."""
  import importlib  # pylint: disable=import-outside-toplevel
  models = importlib.import_module(cfg.get("model", "BigGAN"))
  kw = {k: v for k, v in cfg.items() if k not in ("batch", "model", "out_scale")}
  G = models.Generator(**kw, no_optim=True, mybn=True)
  state = G.state_dict()
  plain = lambda name: name.replace(".bn.stored_", ".stored_")
  with torch.no_grad():
    for name, value in state.items():
      if not name.endswith("accumulation_counter"):
        value.copy_(torch.from_numpy(weights[plain(name)]))
  fns = official_functions(authors, torch, "initiate_standing_stats",
                           "accumulate_standing_stats")
  b, n = cfg["batch"], cfg["n_classes"]
  z_, y_ = torch.zeros(b, G.dim_z), torch.zeros(b, dtype=torch.int64)
  torch.manual_seed(5)  # replay the draws the official loop makes from torch's generator
  drawn_z, drawn_y = [], []
  for _ in range(STANDING):
    drawn_z.append(z_.normal_().clone())
    drawn_y.append(y_.random_(0, n).clone())
  torch.manual_seed(5)
  fns["accumulate_standing_stats"](G, z_, y_, n, STANDING)
  assert torch.equal(z_, drawn_z[-1]) and torch.equal(y_, drawn_y[-1])
  out = {f"{prefix}standing_z": torch.stack(drawn_z).numpy(),
         f"{prefix}standing_y": torch.stack(drawn_y).numpy()}
  buffers = _buffers(G)
  for name, value in buffers.items():
    if ".stored_" in name:
      counter = buffers[name.rsplit(".", 1)[0] + ".accumulation_counter"]
      out[f"{prefix}standing/{plain(name)}"] = value / counter
    elif not name.endswith("accumulation_counter") and name.rsplit(".", 1)[-1].startswith("u"):
      out[f"{prefix}standing/{name}"] = value
  with torch.no_grad():
    out[f"{prefix}img_standing"] = G(z, G.shared(y)).numpy()
  return out


def _randomise(module, torch, gen):
  """Weights at 1/sqrt(fan-in); biases, gains, gammas, statistics and u's non-zero."""
  with torch.no_grad():
    for name, p in module.state_dict().items():
      noise = torch.randn(p.shape, generator=gen, dtype=torch.float64).float()
      leaf = name.rsplit(".", 1)[-1]
      if leaf == "stored_var":
        p.copy_(0.5 + torch.rand(p.shape, generator=gen))
      elif leaf in ("stored_mean", "bias", "gamma"):
        p.copy_(0.3 * noise)
      elif leaf == "gain" and p.ndim == 1:  # G's output batch norm
        p.copy_(1.0 + 0.3 * noise)
      elif leaf.startswith("u") and leaf[1:].isdigit():
        p.copy_(noise)
      elif leaf.startswith("sv"):
        continue
      elif leaf == "weight":
        fan_in = max(1, int(np.prod(p.shape[1:])))
        p.copy_(noise / np.sqrt(fan_in))


def _buffers(module) -> dict:
  return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def run(authors: str, prefix: str, cfg: dict, torch) -> dict:
  sys.path.insert(0, authors)
  import importlib  # pylint: disable=import-outside-toplevel
  models = importlib.import_module(cfg.get("model", "BigGAN"))
  torch.manual_seed(0)
  gen = torch.Generator().manual_seed(1)
  kw = {k: v for k, v in cfg.items() if k not in ("batch", "model", "out_scale")}
  G = models.Generator(**kw, no_optim=True)
  D = models.Discriminator(**kw)
  _randomise(G, torch, gen)
  _randomise(D, torch, gen)
  if "out_scale" in cfg:  # keep G's deep stacks off tanh's flat ends, where images say little
    with torch.no_grad():  # (the output convolution is spectrally normalised: scale its input)
      G.output_layer[0].gain.mul_(cfg["out_scale"])
      G.output_layer[0].bias.mul_(cfg["out_scale"])
  weights = _buffers(G)
  out = {f"{prefix}G/{k}": v for k, v in weights.items()}
  out.update({f"{prefix}D/{k}": v for k, v in _buffers(D).items()})
  b = cfg["batch"]
  z = torch.randn(b, G.dim_z, generator=gen)
  y = torch.arange(b) % cfg["n_classes"]
  res = cfg["resolution"]
  x = torch.tanh(torch.randn(b, 3, res, res, generator=gen))
  out.update({f"{prefix}z": z.numpy(), f"{prefix}y": y.numpy(), f"{prefix}x": x.numpy()})
  with torch.no_grad():
    G.train()
    out[f"{prefix}img_train"] = G(z, G.shared(y)).numpy()
    out.update({f"{prefix}G_after/{k}": v for k, v in _buffers(G).items()})
    G.eval()
    out[f"{prefix}img_eval"] = G(z, G.shared(y)).numpy()
    D.train()
    out[f"{prefix}logit_train"] = D(x, y)[:, 0].numpy()
    out.update({f"{prefix}D_after/{k}": v for k, v in _buffers(D).items()})
    D.eval()
    out[f"{prefix}logit_eval"] = D(x, y)[:, 0].numpy()
  # The modified orthogonal regularisation's gradient, at strength 1, on zero gradients.
  for p in G.parameters():
    p.grad = torch.zeros_like(p)
  out.update(standing(authors, prefix, cfg, torch, weights, z, y))
  official_functions(authors, torch, "ortho")["ortho"](G, 1.0, blacklist=[param for param in G.shared.parameters()])
  names = {id(p): n for n, p in G.named_parameters()}
  for p in G.parameters():
    if p.ndim >= 2 and not any(p is q for q in G.shared.parameters()):
      out[f"{prefix}ortho/{names[id(p)]}"] = p.grad.numpy().copy()
  out[f"{prefix}sizes"] = np.array(json.dumps({**cfg, "dim_z": G.dim_z}))
  sys.path.remove(authors)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--authors", required=True, help="a BigGAN-PyTorch checkout")
  parser.add_argument("--out", default="tests/data/parity/biggan.npz")
  args = parser.parse_args()
  import torch  # pylint: disable=import-outside-toplevel
  out = {}
  for prefix, cfg in CONFIGS.items():
    out.update(run(os.path.abspath(args.authors), prefix + "/", cfg, torch))
  commit = os.environ.get("AUTHORS_COMMIT", "unknown")
  out["meta"] = np.array(json.dumps({"authors": "ajbrock/BigGAN-PyTorch", "commit": commit,
                                     "torch": torch.__version__}))
  np.savez_compressed(args.out, **out)
  print(f"wrote {args.out}: {len(out)} arrays")


if __name__ == "__main__":
  main()
