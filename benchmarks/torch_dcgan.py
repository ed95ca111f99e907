r"""The default experiment in PyTorch eager, scored by jaxgan's domain metrics.

  python -m benchmarks.torch_dcgan --out=runs/torch_dcgan.json [--jaxgan_workdir=DIR]

Trains `benchmarks.torch_gan`'s DCGAN-28 (the same layers, initialisers and batch-norm
constants as jaxgan's) on Fashion-MNIST with the budget of
`experiments/configs/fashion_mnist_dcgan.flags`: 1,500 steps of batch 64, Adam(2e-4,
β1 = 0.5) for both players, the non-saturating loss, one generated batch per step used by
both players. Then it scores `--samples` images of G in eval mode (running batch-norm
statistics), and of an EMA of G's weights with the flagfile's decay, with the same
`DomainEvaluation` (classifier, reference rows, key) as the jaxgan run's final evaluation;
and, as the floor, as many real images of the test split.
`--jaxgan_workdir` puts a finished jaxgan run's final numbers beside them.
PyTorch is an optional dependency of this comparison only.
"""

import copy
import json
import os
import time

import jax
import numpy as np
import torch
from absl import app, flags, logging

from benchmarks import torch_gan
from jaxgan.runner import factories
from jaxgan.data import images
from jaxgan.runner.evaluation import DomainEvaluation
from jaxgan.metrics.classifier import WEIGHTS_DIR

flags.DEFINE_integer("num_steps", 1500, "Steps (one D and one G update each).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_float("ema_decay", 0.995, "Decay of the EMA of G's weights (scored separately).")
flags.DEFINE_integer("samples", 2000, "Generated images scored (the flagfile's domain_samples).")
flags.DEFINE_integer("seed", 0, "Torch seed; the scoring key is the jaxgan run's for seed 0.")
flags.DEFINE_string("data_dir", None, "Prepared datasets (TFDS default if unset).")
flags.DEFINE_string("jaxgan_workdir", None, "A finished jaxgan run to put beside the result.")
flags.DEFINE_string("out", "runs/torch_dcgan.json", "Where the JSON result goes.")
FLAGS = flags.FLAGS


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
  for e, p in zip(ema.parameters(), model.parameters()):
    e.mul_(decay).add_(p, alpha=1 - decay)
  for e, b in zip(ema.buffers(), model.buffers()):  # running statistics: copied, as jaxgan
    e.copy_(b)


def main(argv):
  del argv
  torch.manual_seed(FLAGS.seed)
  data = images.load("fashion_mnist", data_dir=FLAGS.data_dir)
  real = data.read_all()[0]
  gan = torch_gan.TorchGAN(torch_gan.dcgan28_generator(), torch_gan.dcgan28_discriminator(),
                           64, torch_gan.image_sampler(real, FLAGS.seed), FLAGS.batch_size)
  ema = copy.deepcopy(gan.G)
  t0 = time.perf_counter()
  for step in range(1, FLAGS.num_steps + 1):
    d_loss, g_loss = gan.step()
    ema_update(ema, gan.G, FLAGS.ema_decay)
    if step % 100 == 0:
      logging.info("step %d/%d | %.2f steps/s | d/loss %.4f | g/loss %.4f", step,
                   FLAGS.num_steps, step / (time.perf_counter() - t0), d_loss.item(),
                   g_loss.item())
  train_s = time.perf_counter() - t0
  # The jaxgan runner's evaluation key for seed 0, folded with 2 as its domain scorer's.
  eval_key = jax.random.fold_in(factories.run_keys(0)[2], 2)
  scorer = DomainEvaluation(None, data, FLAGS.samples, eval_key,
                            os.path.join(WEIGHTS_DIR, "fashion_mnist_classifier.npz"))
  result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "steps": FLAGS.num_steps, "train_seconds": train_s,
            "steps_per_sec": FLAGS.num_steps / train_s}
  for name, g in (("torch G", gan.G), ("torch G, EMA", ema)):
    result[name] = scorer.score(gan.generate(FLAGS.samples, g))
    logging.info("%s: %s", name, DomainEvaluation.describe(result[name]))
  # The floor: real images the classifier was not trained on, scored the same way.
  test = images.load("fashion_mnist", split="test", data_dir=FLAGS.data_dir)
  real_test = test.read(range(min(FLAGS.samples, test.num_examples)))[0]
  result["real test images"] = scorer.score(np.asarray(images.scale_pixels(real_test)))
  if FLAGS.jaxgan_workdir:
    with open(os.path.join(FLAGS.jaxgan_workdir, "summary.json"), encoding="utf-8") as f:
      summary = json.load(f)
    result["jaxgan G, EMA"] = {k: v for k, v in summary.items()
                               if k.startswith(("fd_", "kid_", "class_", "classes_"))}
    result["jaxgan train_seconds"] = summary["train_seconds"]
  os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
  with open(FLAGS.out, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result, indent=2))


if __name__ == "__main__":
  app.run(main)
