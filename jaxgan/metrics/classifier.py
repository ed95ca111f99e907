"""A small CNN classifier of 28×28 images, trained by jaxgan, for offline domain metrics.

Inception was trained on ImageNet photographs; on Fashion-MNIST garments its features say
little, and its weights may not be at hand. This classifier is trained here on the domain's
own labelled data (`python -m experiments.train_classifier`). Its 128-dimensional penultimate
features and its class predictions feed `jaxgan.metrics.domain`, whose numbers carry the
classifier's name and are never called FID or IS.

The weights are a file of named arrays plus JSON metadata (dataset, test accuracy, training
settings, SHA-256 of the arrays): `save` / `load`.
"""

import hashlib
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

FEATURES = 128
SIZE = 28  # the side of the images it takes
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


class DomainClassifier(nn.Module):
  """Returns `{"features": (B, 128), "logits": (B, num_classes)}` of images in [−1, 1]."""
  num_classes: int = 10

  @nn.compact
  def __call__(self, x):
    if x.ndim != 4 or x.shape[1:3] != (SIZE, SIZE):
      raise ValueError(f"the domain classifier takes (B, 28, 28, C) images; got {x.shape}")
    for width in (32, 64):
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.relu(nn.Conv(width, (3, 3))(x))
      x = nn.max_pool(x, (2, 2), (2, 2))
    features = nn.relu(nn.Dense(FEATURES)(x.reshape(x.shape[0], -1)))
    return {"features": features, "logits": nn.Dense(self.num_classes)(features)}


def train(images, labels, test_images, test_labels, *, num_classes: int = 10, epochs: int = 5,
          batch_size: int = 128, learning_rate: float = 1e-3, seed: int = 0,
          log=print) -> tuple[dict, float]:
  """Returns `(params, test accuracy)` of a classifier trained with Adam on images in [−1, 1]."""
  model = DomainClassifier(num_classes)
  key = jax.random.key(seed)
  params = model.init(key, jnp.zeros((1, *images.shape[1:])))["params"]
  steps = epochs * (len(images) // batch_size)
  tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    def loss(p):
      logits = model.apply({"params": p}, x)["logits"]
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    value, grads = jax.value_and_grad(loss)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  rng = np.random.default_rng(seed)
  for epoch in range(epochs):
    order = rng.permutation(len(images))
    losses = []
    for i in range(len(images) // batch_size):
      rows = order[i * batch_size:(i + 1) * batch_size]
      params, opt_state, value = step(params, opt_state, images[rows], labels[rows])
      losses.append(value)
    accuracy = evaluate(params, test_images, test_labels, num_classes)
    log(f"epoch {epoch + 1}/{epochs}: train loss {float(np.mean(losses)):.4f}, test accuracy "
        f"{accuracy:.4f}")
  return params, accuracy


def predict(params, images, num_classes: int = 10, batch_size: int = 1000):
  """Returns (features (N, 128), class probabilities (N, num_classes)) of images in [−1, 1]."""
  apply = _apply_fn(num_classes)
  features, probs = [], []
  for start in range(0, len(images), batch_size):
    out = apply(params, jnp.asarray(images[start:start + batch_size], jnp.float32))
    features.append(np.asarray(out["features"]))
    probs.append(np.asarray(jax.nn.softmax(out["logits"])))
  return np.concatenate(features), np.concatenate(probs)


_APPLY = {}


def _apply_fn(num_classes):
  if num_classes not in _APPLY:
    model = DomainClassifier(num_classes)
    _APPLY[num_classes] = jax.jit(lambda p, x: model.apply({"params": p}, x))
  return _APPLY[num_classes]


def evaluate(params, images, labels, num_classes: int = 10) -> float:
  """Returns the accuracy on labelled images."""
  _, probs = predict(params, images, num_classes)
  return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))


def _flat(params) -> dict[str, np.ndarray]:
  return {"/".join(p.key for p in path): np.asarray(v)
          for path, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def digest(params) -> str:
  """Returns the SHA-256 of the arrays, in name order."""
  h = hashlib.sha256()
  for name, value in sorted(_flat(params).items()):
    h.update(name.encode())
    h.update(np.ascontiguousarray(value, np.float32).tobytes())
  return h.hexdigest()


def save(path: str, params, meta: dict) -> None:
  """Writes the arrays and `meta` (plus their SHA-256) to an .npz file, atomically."""
  meta = {**meta, "sha256": digest(params)}
  tmp = f"{path}.tmp-{os.getpid()}.npz"
  np.savez(tmp, __meta__=np.array(json.dumps(meta)), **_flat(params))
  os.replace(tmp, path)


def load(path: str) -> tuple[dict, dict]:
  """Returns `(params, meta)`; raises ValueError if the arrays do not match their SHA-256."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no domain classifier at {path}; train one with `python -m "
                            f"experiments.train_classifier`")
  with np.load(path) as f:
    meta = json.loads(str(f["__meta__"]))
    params = {}
    for name in f.files:
      if name == "__meta__":
        continue
      node = params
      *parents, leaf = name.split("/")
      for p in parents:
        node = node.setdefault(p, {})
      node[leaf] = f[name]
  if digest(params) != meta.get("sha256"):
    raise ValueError(f"{path}: the arrays do not match the SHA-256 in their metadata")
  return params, meta
