r"""How fast a generator can fit images, without a game:
`python -m studies.fit_generator --dataset=stacked_fashion_mnist`.

Regresses each generator of `--models` from `--images` fixed latents onto as many fixed
training images by mean squared error (Adam at `--lr`, β1 `--beta1`, β2 0.99), and prints
the error after 100, 300 and `--steps` updates with the time taken. A generator that cannot
fit a few dozen images quickly will not follow a discriminator quickly either: the probe
separates the players' trainability from the game's dynamics.

`--models` names `build_players` models; an r3gan entry takes its stages as
`r3gan:WIDTHS:EXPANSION:GROUP_SIZE[:BLOCKS]`, widths joined by '/', say r3gan:128/64/32:1:32.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from jaxgan.runner import config as config_lib
from jaxgan.runner import factories
from jaxgan.data import images
from jaxgan.models import r3gan, registry

flags.DEFINE_string("dataset", "stacked_fashion_mnist", "The images to fit.")
flags.DEFINE_string("data_dir", "", "Where the dataset was prepared (TFDS's default if unset).")
flags.DEFINE_list("models", ["dcgan28", "r3gan:128/64/32:1:32"], "Generators to fit.")
flags.DEFINE_integer("images", 64, "Images (and latents) to fit.", lower_bound=1)
flags.DEFINE_integer("steps", 1000, "Adam updates.", lower_bound=1)
flags.DEFINE_float("lr", 1e-3, "Adam's learning rate.")
flags.DEFINE_float("beta1", 0.0, "Adam's beta1.")
flags.DEFINE_integer("latent_dim", 64, "Dimension of z.")
FLAGS = flags.FLAGS


def parse(entry: str) -> tuple[str, "r3gan.R3GANSettings | None"]:
  """Returns (model, stages) of a `--models` entry."""
  model, *rest = entry.split(":")
  if model != "r3gan":
    if rest:
      raise app.UsageError(f"--models entry {entry!r}: only r3gan takes stages")
    return model, None
  if len(rest) not in (3, 4):
    raise app.UsageError(f"--models entry {entry!r}: write r3gan:WIDTHS:EXPANSION:GROUP_SIZE"
                         f"[:BLOCKS], say r3gan:128/64/32:1:32")
  widths = tuple(int(w) for w in rest[0].split("/"))
  blocks = int(rest[3]) if len(rest) == 4 else 1
  return model, r3gan.R3GANSettings(stage_widths=",".join(map(str, widths)),
                                    expansion=int(rest[1]), group_size=int(rest[2]),
                                    stage_blocks=blocks)


def fit(generator, z: jax.Array, x: jax.Array) -> list[tuple[int, float]]:
  """Returns (step, mean squared error) after 100, 300 and FLAGS.steps updates."""
  variables = generator.init(jax.random.key(0), z)
  params = variables["params"]
  rest = {k: v for k, v in variables.items() if k != "params"}  # batch norm's statistics
  tx = optax.adam(FLAGS.lr, b1=FLAGS.beta1, b2=0.99)

  def loss(p, rest):
    if rest:
      out, rest = generator.apply({"params": p, **rest}, z, mutable=list(rest))
    else:
      out = generator.apply({"params": p}, z)
    return jnp.mean(jnp.square(out - x)), rest

  @jax.jit
  def step(p, opt, rest):
    (value, rest), grads = jax.value_and_grad(loss, has_aux=True)(p, rest)
    updates, opt = tx.update(grads, opt, p)
    return optax.apply_updates(p, updates), opt, rest, value

  opt, curve = tx.init(params), []
  for i in range(1, FLAGS.steps + 1):
    params, opt, rest, value = step(params, opt, rest)
    if i in (100, 300, FLAGS.steps):
      curve.append((i, float(value)))
  return curve


def main(argv):
  del argv
  data = factories.load_images(
        config_lib.DataSettings(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir))
  real, _ = data.read(np.arange(FLAGS.images))
  x = jnp.asarray(images.scale_pixels(real))
  z = jax.random.normal(jax.random.key(1), (FLAGS.images, FLAGS.latent_dim))
  print(f"{FLAGS.images} {FLAGS.dataset} images, Adam lr {FLAGS.lr:g} beta1 {FLAGS.beta1:g}; "
        f"variance of the images {float(jnp.var(x)):.4f}")
  for entry in FLAGS.models:
    model, stages = parse(entry)
    generator, _ = registry.build_players(model, data.image_shape, latent_dim=FLAGS.latent_dim,
                                          pixels=True, settings=stages)
    start = time.perf_counter()
    curve = fit(generator, z, x)
    print(f"{entry}: MSE " + ", ".join(f"{v:.4f} at {i}" for i, v in curve) +
          f" ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
  app.run(main)
