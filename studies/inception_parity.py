r"""Checks jaxgan's flax Inception against a PyTorch one given the same weights file.

Two steps, because PyTorch is not a dependency of jaxgan:

    # in an environment with torch: random weights, saved as a .pth, and the torch outputs
    python studies/inception_parity.py write --dir=/tmp/parity
    # in jaxgan's environment: read that .pth with jaxgan's reader, run the flax network
    python -m studies.inception_parity check --dir=/tmp/parity

The PyTorch network below follows the layout the published FID weights were saved from
(NCHW tensors, (O, I, kh, kw) kernels, pools that leave padding out of averages, a max-pool
branch in the last block, bilinear resizing with align_corners=False). What the comparison
establishes: our weight mapping, padding, pooling and resizing agree with a PyTorch
realisation of that network to float32 rounding.
"""

import argparse
import os

import numpy as np


def torch_network():
  import torch
  from torch import nn
  import torch.nn.functional as F

  class Conv(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, padding=0):
      super().__init__()
      self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
      self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
      return F.relu(self.bn(self.conv(x)))

  def avg(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)

  class A(nn.Module):
    def __init__(self, cin, pool):
      super().__init__()
      self.branch1x1 = Conv(cin, 64, 1)
      self.branch5x5_1, self.branch5x5_2 = Conv(cin, 48, 1), Conv(48, 64, 5, padding=2)
      self.branch3x3dbl_1 = Conv(cin, 64, 1)
      self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
      self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
      self.branch_pool = Conv(cin, pool, 1)

    def forward(self, x):
      return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                        self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                        self.branch_pool(avg(x))], 1)

  class B(nn.Module):
    def __init__(self, cin):
      super().__init__()
      self.branch3x3 = Conv(cin, 384, 3, stride=2)
      self.branch3x3dbl_1 = Conv(cin, 64, 1)
      self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
      self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x):
      return torch.cat([self.branch3x3(x),
                        self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                        F.max_pool2d(x, 3, 2)], 1)

  class C(nn.Module):
    def __init__(self, cin, c):
      super().__init__()
      row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
      self.branch1x1 = Conv(cin, 192, 1)
      self.branch7x7_1, self.branch7x7_2 = Conv(cin, c, 1), Conv(c, c, **row)
      self.branch7x7_3 = Conv(c, 192, **col)
      self.branch7x7dbl_1, self.branch7x7dbl_2 = Conv(cin, c, 1), Conv(c, c, **col)
      self.branch7x7dbl_3, self.branch7x7dbl_4 = Conv(c, c, **row), Conv(c, c, **col)
      self.branch7x7dbl_5 = Conv(c, 192, **row)
      self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
      b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
      bd = x
      for i in range(1, 6):
        bd = getattr(self, f"branch7x7dbl_{i}")(bd)
      return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(avg(x))], 1)

  class D(nn.Module):
    def __init__(self, cin):
      super().__init__()
      self.branch3x3_1, self.branch3x3_2 = Conv(cin, 192, 1), Conv(192, 320, 3, stride=2)
      self.branch7x7x3_1 = Conv(cin, 192, 1)
      self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
      self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
      self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x):
      b7 = x
      for i in range(1, 5):
        b7 = getattr(self, f"branch7x7x3_{i}")(b7)
      return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, 2)], 1)

  class E(nn.Module):
    def __init__(self, cin, max_pool):
      super().__init__()
      self.max_pool = max_pool
      self.branch1x1 = Conv(cin, 320, 1)
      self.branch3x3_1 = Conv(cin, 384, 1)
      self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
      self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
      self.branch3x3dbl_1 = Conv(cin, 448, 1)
      self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
      self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
      self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
      self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
      b3 = self.branch3x3_1(x)
      b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
      bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
      bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
      pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else avg(x)
      return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)

  class FIDInception(nn.Module):
    def __init__(self):
      super().__init__()
      self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
      self.Conv2d_2a_3x3 = Conv(32, 32, 3)
      self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
      self.Conv2d_3b_1x1 = Conv(64, 80, 1)
      self.Conv2d_4a_3x3 = Conv(80, 192, 3)
      self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
      self.Mixed_6a = B(288)
      self.Mixed_6b, self.Mixed_6c = C(768, 128), C(768, 160)
      self.Mixed_6d, self.Mixed_6e = C(768, 160), C(768, 192)
      self.Mixed_7a = D(768)
      self.Mixed_7b, self.Mixed_7c = E(1280, False), E(2048, True)
      self.fc = nn.Linear(2048, 1008)

    def forward(self, images_nchw):  # in [-1, 1]
      x = F.interpolate(images_nchw, size=(299, 299), mode="bilinear", align_corners=False)
      if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
      x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
      x = F.max_pool2d(x, 3, 2)
      x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
      x = F.max_pool2d(x, 3, 2)
      for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
        x = getattr(self, f"Mixed_{name}")(x)
      pool = x.mean(dim=(2, 3))
      return pool, self.fc(pool)

  return FIDInception()


def write(directory: str) -> None:
  import torch
  torch.manual_seed(0)
  net = torch_network().eval()
  with torch.no_grad():  # non-trivial batch statistics, so batch norm is exercised
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.1, 0.1)
        m.running_var.uniform_(0.5, 1.5)
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.1, 0.1)
  images = torch.rand(3, 1, 28, 28) * 2 - 1
  with torch.no_grad():
    pool, logits = net(images)
  os.makedirs(directory, exist_ok=True)
  torch.save(net.state_dict(), os.path.join(directory, "weights.pth"))
  np.savez(os.path.join(directory, "torch_outputs.npz"), images=images.numpy(),
           pool=pool.numpy(), logits=logits.numpy())
  print(f"wrote {directory}/weights.pth and torch_outputs.npz (torch {torch.__version__})")


def check(directory: str) -> None:
  import jax
  from jaxgan.metrics import inception_weights
  from jaxgan.models import inception
  expected = np.load(os.path.join(directory, "torch_outputs.npz"))
  variables = inception_weights.load_variables(os.path.join(directory, "weights.pth"))
  images = np.transpose(expected["images"], (0, 2, 3, 1))  # NCHW -> NHWC
  out = jax.jit(inception.InceptionV3().apply)(variables, images)
  for name in ("pool", "logits"):
    diff = np.abs(np.asarray(out[name]) - expected[name])
    scale = np.abs(expected[name]).max()
    print(f"{name}: max |flax - torch| = {diff.max():.3g} (largest |value| {scale:.3g}, "
          f"relative {diff.max() / scale:.2g})")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("mode", choices=["write", "check"])
  parser.add_argument("--dir", required=True)
  args = parser.parse_args()
  write(args.dir) if args.mode == "write" else check(args.dir)
