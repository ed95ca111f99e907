"""The benchmark models in PyTorch eager, trained as a PyTorch user writes it.

Only the comparisons import this file (`benchmarks.bench`, `benchmarks.torch_dcgan`);
PyTorch is an optional dependency of them alone (`pip install torch`), never of jaxgan.

The models are jaxgan's `DCGAN28Generator`/`DCGAN28Discriminator` and the MLP players
layer for layer (PROTOCOLS.md section 3): the same widths, kernel sizes, strides, batch-norm
constants (Keras' momentum 0.99 is PyTorch's 0.01) and Glorot-uniform kernels with zero
biases. Images are NCHW, PyTorch's default. The step is the DCGAN tutorial's: one fake
batch per step, detached for D's update and reused for G's, with the non-saturating loss
as binary cross-entropy on logits.
"""

import numpy as np
import torch
from torch import nn


def _glorot(module: nn.Module) -> nn.Module:
  for m in module.modules():
    if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
      nn.init.xavier_uniform_(m.weight)
      if m.bias is not None:
        nn.init.zeros_(m.bias)
  return module


def dcgan28_generator(latent_dim: int = 64) -> nn.Module:
  """z (B, 64) -> images (B, 1, 28, 28) in [-1, 1]."""
  bn = {"momentum": 0.01, "eps": 1e-3}
  up = {"padding": 2, "output_padding": 1, "bias": False}  # 5x5, stride 2: 7 -> 14 -> 28
  return _glorot(nn.Sequential(
      nn.Linear(latent_dim, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256, **bn),
      nn.LeakyReLU(0.2), nn.Unflatten(1, (256, 7, 7)),
      nn.ConvTranspose2d(256, 128, 5, 1, padding=2, bias=False), nn.BatchNorm2d(128, **bn),
      nn.LeakyReLU(0.2),
      nn.ConvTranspose2d(128, 64, 5, 2, **up), nn.BatchNorm2d(64, **bn), nn.LeakyReLU(0.2),
      nn.ConvTranspose2d(64, 1, 5, 2, **up), nn.Tanh()))


def dcgan28_discriminator() -> nn.Module:
  """images (B, 1, 28, 28) -> logits (B, 1)."""
  return _glorot(nn.Sequential(
      nn.Conv2d(1, 64, 5, 2, padding=2), nn.LeakyReLU(0.2),
      nn.Conv2d(64, 128, 5, 2, padding=2), nn.LeakyReLU(0.2),
      nn.Flatten(), nn.Linear(128 * 7 * 7, 1)))


def mlp(d_in: int, width: int, depth: int, d_out: int) -> nn.Module:
  """`depth` hidden tanh layers of `width` (jaxgan's MLP with `activation="tanh"`)."""
  layers, d = [], d_in
  for _ in range(depth):
    layers += [nn.Linear(d, width), nn.Tanh()]
    d = width
  return _glorot(nn.Sequential(*layers, nn.Linear(d, d_out)))


class TorchGAN:
  """Generator, discriminator, their Adam optimizers and the alternating step.

  `sample_real(batch_size)` returns a real batch as a tensor on `device` (the samplers
  below take the same `device`). On a GPU the players, the noise and the targets live
  there, as a PyTorch user moves them with `.to(device)`.
  """

  def __init__(self, generator: nn.Module, discriminator: nn.Module, latent_dim: int,
               sample_real, batch_size: int, lr: float = 2e-4, betas=(0.5, 0.999),
               device: str = "cpu"):
    self.device = torch.device(device)
    self.G, self.D = generator.to(self.device), discriminator.to(self.device)
    self.latent_dim, self.sample_real, self.batch_size = latent_dim, sample_real, batch_size
    self.g_opt = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
    self.d_opt = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
    self.bce = nn.BCEWithLogitsLoss()
    self.ones = torch.ones(batch_size, 1, device=self.device)
    self.zeros = torch.zeros(batch_size, 1, device=self.device)

  def step(self) -> tuple[torch.Tensor, torch.Tensor]:
    """One D update then one G update on the same generated batch; returns the losses."""
    real = self.sample_real(self.batch_size)
    z = torch.randn(self.batch_size, self.latent_dim, device=self.device)
    fake = self.G(z)
    self.d_opt.zero_grad(set_to_none=True)
    d_loss = (self.bce(self.D(real), self.ones) + self.bce(self.D(fake.detach()), self.zeros))
    d_loss.backward()
    self.d_opt.step()
    self.g_opt.zero_grad(set_to_none=True)
    g_loss = self.bce(self.D(fake), self.ones)
    g_loss.backward()
    self.g_opt.step()
    return d_loss, g_loss

  def run(self, count: int) -> None:
    for _ in range(count):
      d_loss, _ = self.step()
    d_loss.item()  # the user's usual read; on a GPU it also waits for the queued work

  @torch.no_grad()
  def generate(self, count: int, generator: nn.Module | None = None,
               batch_size: int = 500) -> np.ndarray:
    """Returns `count` samples of `generator` (default: G) in eval mode (running batch-norm
    statistics), NHWC."""
    g = self.G if generator is None else generator
    g.eval()
    out = [g(torch.randn(min(batch_size, count - i), self.latent_dim, device=self.device))
           for i in range(0, count, batch_size)]
    g.train()
    x = torch.cat(out).cpu().numpy()
    return np.moveaxis(x, 1, -1) if x.ndim == 4 else x


def image_sampler(images_uint8: np.ndarray, seed: int = 0, device: str = "cpu"):
  """Returns `sample(batch_size)`: epochs of shuffled batches from images (N, H, W[, C]).

  The whole set is kept as one float tensor in [-1, 1], NCHW, on `device`, indexed per
  batch: the fastest in-memory feed (a DataLoader adds per-sample Python work). Each
  epoch's permutation is drawn on the host from `seed` and moved once.
  """
  x = torch.from_numpy(np.asarray(images_uint8, np.float32) / 127.5 - 1.0)
  x = (x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()).to(device)
  g = torch.Generator().manual_seed(seed)
  permutation = lambda: torch.randperm(len(x), generator=g).to(device)
  state = {"perm": permutation(), "i": 0}

  def sample(batch_size: int) -> torch.Tensor:
    if state["i"] + batch_size > len(x):
      state["perm"], state["i"] = permutation(), 0
    idx = state["perm"][state["i"]:state["i"] + batch_size]
    state["i"] += batch_size
    return x[idx]

  return sample


def mixture_sampler(means: np.ndarray, sigma: float, device: str = "cpu"):
  """Returns `sample(batch_size)` from an equal-weight Gaussian mixture, drawn by torch on
  `device`."""
  centres = torch.from_numpy(np.asarray(means, np.float32)).to(device)

  def sample(batch_size: int) -> torch.Tensor:
    modes = torch.randint(len(centres), (batch_size,), device=device)
    return centres[modes] + sigma * torch.randn(batch_size, centres.shape[1], device=device)

  return sample


def threads_note(device: str = "cpu") -> str:
  if torch.device(device).type == "cuda":
    return (f"torch {torch.__version__} on {torch.cuda.get_device_name(device)}; TF32 in "
            f"matmuls {torch.backends.cuda.matmul.allow_tf32}, in convolutions "
            f"{torch.backends.cudnn.allow_tf32}")
  return f"torch {torch.__version__}, {torch.get_num_threads()} threads"

