"""Writes DCGAN-64's parity fixture: PyTorch's examples DCGAN, small and random, and its outputs.

Run under PyTorch (CPU is enough) with pytorch/examples checked out at --authors. The
networks are the example's own `Generator` and `Discriminator` classes, read from
dcgan/main.py and defined here without running the rest of that script (its argument
parsing, data loading and training); nothing of theirs is copied, only numbers are written:

  python parity/dcgan_reference.py --authors=PATH --out=tests/data/parity/dcgan.npz

The file holds (images NCHW, as PyTorch has them):
  G/<name>, D/<name>       every parameter and buffer, under the example's names (`main.0.
                           weight`, `main.1.running_mean`, ...), before any forward pass;
  z (B, nz), x (B, nc, 64, 64)   G's latents and the images D scores;
  img_eval, img_train      G(z) in eval mode (running statistics) and in train mode (batch
                           statistics);
  logit_eval, logit_train  D(x) before the example's final sigmoid; prob_eval, prob_train
                           after it (what the example's netD returns);
  G_after/<name>, D_after/<name>   the batch-norm buffers after that one train-mode pass
                           (PyTorch's momentum 0.1, unbiased batch variance);
  sizes                    a JSON string of nz, ngf, ndf, nc, the image size and the batch.
Weights are drawn at a scale that keeps every layer active, and every batch-norm weight,
bias and running statistic is drawn non-zero (running variances away from 1).
"""

import argparse
import ast
import json
import os

import numpy as np

SIZES = {"nz": 10, "ngf": 8, "ndf": 8, "nc": 3, "image_size": 64, "batch": 4}


def example_classes(main_py: str, torch) -> dict:
  """The example's `Generator` and `Discriminator` classes, defined from main.py's source.

  Only those two class definitions are executed, with the module-level names they read
  (`nz`, `ngf`, `ndf`, `nc`, `nn`) set to SIZES; the script around them is not run.
  """
  with open(main_py, encoding="utf-8") as f:
    tree = ast.parse(f.read(), main_py)
  wanted = {"Generator", "Discriminator"}
  classes = [node for node in tree.body
             if isinstance(node, ast.ClassDef) and node.name in wanted]
  if {c.name for c in classes} != wanted:
    raise SystemExit(f"{main_py} does not define {sorted(wanted)}")
  scope = {"nn": torch.nn, "torch": torch,
           **{k: SIZES[k] for k in ("nz", "ngf", "ndf", "nc")}}
  code = compile(ast.Module(body=classes, type_ignores=[]), main_py, "exec")
  exec(code, scope)  # pylint: disable=exec-used
  return {name: scope[name] for name in wanted}


def _randomise(module, torch, gen):
  """Conv weights at 1/sqrt(fan-in); batch-norm weights, biases and statistics non-zero."""
  with torch.no_grad():
    for name, p in module.state_dict().items():
      noise = torch.randn(p.shape, generator=gen)
      if name.endswith("num_batches_tracked"):
        continue
      if p.ndim == 4:
        # Conv2d (O, I, kh, kw) and ConvTranspose2d (I, O, kh, kw): the fan-in of an
        # output is I * kh * kw for the one, I * kh * kw / stride**2 for the other; the
        # scale only needs to keep activations O(1), which batch norm then does anyway.
        fan_in = p.shape[1] * p.shape[2] * p.shape[3]
        p.copy_(noise / np.sqrt(fan_in))
      elif name.endswith("weight"):
        p.copy_(1.0 + 0.3 * noise)
      elif name.endswith("bias"):
        p.copy_(0.3 * noise)
      elif name.endswith("running_mean"):
        p.copy_(0.3 * noise)
      elif name.endswith("running_var"):
        p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
      else:
        raise SystemExit(f"unexpected entry {name}")


def _state(module) -> dict:
  return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def reference(classes: dict, torch, seed: int = 0) -> dict:
  gen = torch.Generator().manual_seed(seed)
  torch.manual_seed(seed)
  G = classes["Generator"](0)
  D = classes["Discriminator"](0)
  _randomise(G, torch, gen)
  _randomise(D, torch, gen)
  b, nz, nc, res = SIZES["batch"], SIZES["nz"], SIZES["nc"], SIZES["image_size"]
  z = torch.randn([b, nz], generator=gen)
  x = torch.rand([b, nc, res, res], generator=gen) * 2 - 1
  out = {"z": z.numpy(), "x": x.numpy()}
  out.update({f"G/{k}": v for k, v in _state(G).items()})
  out.update({f"D/{k}": v for k, v in _state(D).items()})
  # The example's netD ends in nn.Sigmoid; the logit is what its last convolution gives.
  d_logit = torch.nn.Sequential(*list(D.main)[:-1])
  with torch.no_grad():
    for mode in ("eval", "train"):  # eval first: a train-mode pass moves the statistics
      G.train(mode == "train")
      D.train(mode == "train")
      out[f"img_{mode}"] = G(z[:, :, None, None]).numpy()
      out[f"logit_{mode}"] = d_logit(x).reshape(-1).numpy()
      if mode == "train":  # undo d_logit's update so that the example's D sees the same
        D.load_state_dict({k: torch.from_numpy(out[f"D/{k}"]) for k in _state(D)})
      out[f"prob_{mode}"] = D(x).numpy()
  out.update({f"G_after/{k}": v for k, v in _state(G).items() if "running" in k})
  out.update({f"D_after/{k}": v for k, v in _state(D).items() if "running" in k})
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--authors", required=True, help="a checkout of pytorch/examples")
  parser.add_argument("--out", required=True)
  args = parser.parse_args()
  import torch  # pylint: disable=import-outside-toplevel
  classes = example_classes(os.path.join(args.authors, "dcgan", "main.py"), torch)
  arrays = reference(classes, torch)
  arrays["sizes"] = np.array(json.dumps(SIZES))
  np.savez_compressed(args.out, **arrays)
  print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
  main()
