"""Writes a network pickle as stylegan2-ada-pytorch's training loop writes its snapshots, and
the official G_ema's images for given z, to check `experiments.convert` end to end.

  python parity/official_pickle.py --authors=SG2 --out=DIR      # under PyTorch
  python -m experiments.convert --network=DIR/network.pkl --workdir=DIR/run
  python -m experiments.sample --workdir=DIR/run --latents=DIR/z.npy --noise_mode=const \\
      --out=DIR/jaxgan.npz
  then compare DIR/jaxgan.npz's `images` with DIR/official.npy (uint8, NHWC).

The networks are small (8 px, one channel) but in the official configuration's form:
conv_clamp 256, the 2 highest resolutions in float16, ADA's full pipeline with p = 0.25.
Nothing of the authors' code is kept: the pickle carries it, and this repository does not
commit the pickle.
"""

import argparse
import copy
import os
import pickle
import sys

import numpy as np


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--authors", required=True, help="a checkout of stylegan2-ada-pytorch")
  parser.add_argument("--out", required=True, help="a folder for the pickle, z and images")
  args = parser.parse_args()
  sys.path.insert(0, args.authors)
  import torch  # pylint: disable=import-outside-toplevel
  import dnnlib  # pylint: disable=import-outside-toplevel
  from training import augment, networks  # pylint: disable=import-outside-toplevel
  torch.manual_seed(0)
  easy = dnnlib.EasyDict
  G = networks.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=1,
                         mapping_kwargs=easy(num_layers=1),
                         synthesis_kwargs=easy(channel_base=32, channel_max=8, num_fp16_res=2,
                                               conv_clamp=256))
  D = networks.Discriminator(c_dim=0, img_resolution=8, img_channels=1, channel_base=32,
                             channel_max=8, num_fp16_res=2, conv_clamp=256,
                             block_kwargs=easy(), mapping_kwargs=easy(),
                             epilogue_kwargs=easy(mbstd_group_size=2))
  pipe = augment.AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                             brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
  pipe.p.copy_(torch.tensor(0.25))
  snapshot = dict(training_set_kwargs=dict(path="train.zip", resolution=8))
  for name, module in (("G", G), ("D", D), ("G_ema", G), ("augment_pipe", pipe)):
    snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "network.pkl"), "wb") as f:
    pickle.dump(snapshot, f)
  z = torch.from_numpy(np.random.RandomState(1).randn(5, 8).astype(np.float32))
  images = snapshot["G_ema"](z, None, noise_mode="const")
  images = (images.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
  np.save(os.path.join(args.out, "z.npy"), z.numpy())
  np.save(os.path.join(args.out, "official.npy"), images)
  print(f"wrote network.pkl, z.npy and official.npy to {args.out}")


if __name__ == "__main__":
  main()
