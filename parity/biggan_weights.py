r"""BigGAN-PyTorch's weights folder, written by its own classes, and the check of its conversion.

Write (under PyTorch, with ajbrock/BigGAN-PyTorch at --authors): the parity fixture's h64
configuration (`parity/biggan_reference.py`), randomised, saved as the official training saves
it (`G.pth` in PyTorch's zip format, `G_ema.pth` and `D.pth` in the legacy one,
`state_dict.pth` with the training options), and `ref.npz`: z, classes and G_ema's eval-mode
images. Check (in jaxgan): convert the folder, restore the run, and print G_ema's largest
difference from the official images as a fraction of their range.

  python parity/biggan_weights.py --authors=PATH --out=DIR        # under torch
  python -m experiments.convert --network=DIR --workdir=RUN
  python parity/biggan_weights.py --check=RUN --out=DIR
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(authors: str, out: str) -> None:
  import torch  # pylint: disable=import-outside-toplevel
  sys.path.insert(0, authors)
  import BigGAN  # pylint: disable=import-outside-toplevel,import-error
  from parity.biggan_reference import CONFIGS, _randomise  # pylint: disable=import-outside-toplevel
  cfg = {k: v for k, v in CONFIGS["h64"].items() if k != "batch"}
  torch.manual_seed(0)
  gen = torch.Generator().manual_seed(5)
  G, D = BigGAN.Generator(**cfg, no_optim=True), BigGAN.Discriminator(**cfg)
  G_ema = BigGAN.Generator(**cfg, no_optim=True)
  for module in (G, D, G_ema):
    _randomise(module, torch, gen)
  os.makedirs(out, exist_ok=True)
  torch.save(G.state_dict(), os.path.join(out, "G.pth"))
  torch.save(D.state_dict(), os.path.join(out, "D.pth"), _use_new_zipfile_serialization=False)
  torch.save(G_ema.state_dict(), os.path.join(out, "G_ema.pth"),
             _use_new_zipfile_serialization=False)
  config = dict(cfg, num_D_steps=2, G_lr=1e-4, D_lr=4e-4, G_B1=0.0, G_B2=0.999, D_B1=0.0,
                D_B2=0.999, ema_decay=0.9999, ema_start=20000, G_ortho=0.0)
  torch.save({"itr": 1234, "config": config}, os.path.join(out, "state_dict.pth"))
  z = torch.randn(4, G_ema.dim_z, generator=gen)
  y = torch.arange(4)
  G_ema.eval()
  with torch.no_grad():
    images = G_ema(z, G_ema.shared(y)).numpy()
  np.savez(os.path.join(out, "ref.npz"), z=z.numpy(), y=y.numpy(), images=images)
  print(f"wrote {out}")


def check(run_dir: str, out: str) -> None:
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from jaxgan.players import as_generator  # pylint: disable=import-outside-toplevel
  from jaxgan.runner.runs import restore_run  # pylint: disable=import-outside-toplevel
  ref = np.load(os.path.join(out, "ref.npz"))
  run = restore_run(run_dir, with_data=False)
  images, _ = as_generator(run.generator).apply(run.state.g_ema, run.state.g_state,
                                                jnp.asarray(ref["z"]), jnp.asarray(ref["y"]),
                                                False)
  want = np.transpose(ref["images"], (0, 2, 3, 1))
  error = np.max(np.abs(np.asarray(images) - want)) / np.max(np.abs(want))
  print(f"G_ema's images: largest difference {error:.1e} of their range")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--authors", help="a BigGAN-PyTorch checkout (write)")
  parser.add_argument("--check", help="the converted run directory (check)")
  parser.add_argument("--out", required=True, help="the weights folder")
  args = parser.parse_args()
  if args.check:
    check(args.check, args.out)
  else:
    write(args.authors, args.out)
