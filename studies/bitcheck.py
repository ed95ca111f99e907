r"""Runs every shipped flagfile for a few steps and records what it computed, bit for bit.

A refactor of the step must not move any number: this runs each file of
`experiments/configs/` shortened to `--steps` (200) on this machine and writes, per file, the
final state's `state_sha256`, a SHA-256 of every record of `metrics.jsonl` (timings left out)
and the final evaluation. Datasets this machine lacks (MNIST, CIFAR-10, an image folder) are
replaced by small synthetic ones written in the same raw formats, so the same builders, models
and step run; Fashion-MNIST is the real one (Debian's dataset-fashion-mnist).

  python -m studies.bitcheck --out=runs/bitcheck/after.json
  python -m studies.bitcheck --compare=runs/bitcheck/before.json,runs/bitcheck/after.json

The GPU-sized flagfiles (CIFAR-10's R3GAN at batch 512, FFHQ-256) do not fit a 24 GiB CPU at
their batch: `--extra=--batch_size=16 --steps=2` runs them smaller, alike on both sides.
"""

import gzip
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from experiments.cli import CONFIGS_DIR

flags.DEFINE_string("out", "runs/bitcheck/result.json", "Where the table goes (JSON).")
flags.DEFINE_string("root", "runs/bitcheck", "Workdirs and synthetic data go here.")
flags.DEFINE_integer("steps", 200, "Steps of each run.")
flags.DEFINE_list("configs", [], "Flagfile names to run (default: every one shipped).")
flags.DEFINE_multi_string("extra", [], "A flag passed to every run (e.g. --extra=--batch_size=16 "
                          "for the flagfiles whose batch does not fit this machine's memory).")
flags.DEFINE_list("compare", [], "Two result files: print where they differ, run nothing.")
flags.DEFINE_list("drop_keys", [], "Metrics left out of the digests, as timings are: ones a "
                  "change added, so that the rest can be compared with a run from before it.")
FLAGS = flags.FLAGS

CONFIGS = CONFIGS_DIR
TIMING = ("steps_per_sec", "train_seconds")


def _idx(path: str, array: np.ndarray) -> None:
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def synthetic_idx(folder: str, n: int = 1024) -> str:
  """MNIST-format IDX files of seeded random blobs (a stand-in with MNIST's shapes)."""
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  for split, count in (("train", n), ("t10k", n // 4)):
    images = (rng.random((count, 28, 28)) ** 3 * 255).astype(np.uint8)
    _idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), images)
    _idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), rng.integers(0, 10, count))
  return folder


def synthetic_cifar(folder: str, n: int = 256) -> str:
  """CIFAR-10's python batches of seeded random pixels."""
  sub = os.path.join(folder, "cifar-10-batches-py")
  os.makedirs(sub, exist_ok=True)
  rng = np.random.default_rng(1)
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": rng.integers(0, 10, n).tolist()}
    with open(os.path.join(sub, name), "wb") as f:
      pickle.dump(batch, f)
  return folder


def synthetic_folder(folder: str, n: int = 256) -> str:
  """A folder of seeded random 80x72 RGB PNGs (cropped and resized by the builder)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(2)
  for i in range(n):
    Image.fromarray(rng.integers(0, 256, (80, 72, 3), dtype=np.uint8)).save(
        os.path.join(folder, f"{i:04d}.png"))
  return folder


def data_flags(name: str, root: str) -> list[str]:
  data_dir = os.path.join(root, "tfds")
  if name.startswith("mnist"):
    return [f"--data_dir={data_dir}", f"--manual_dir={synthetic_idx(os.path.join(root, 'mnist'))}"]
  if name.startswith("cifar10"):
    return [f"--data_dir={data_dir}",
            f"--manual_dir={synthetic_cifar(os.path.join(root, 'cifar10'))}"]
  if name.startswith(("image_folder", "ffhq")):
    return [f"--data_dir={data_dir}",
            f"--data_path={synthetic_folder(os.path.join(root, 'photos'))}"]
  return [f"--data_dir={data_dir}"]


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_any_checkout(value):
  """`value` with the checkout's own path spelled `<repo>`, in nested dicts and lists too."""
  if isinstance(value, str):
    return value.replace(REPO, "<repo>")
  if isinstance(value, dict):
    return {k: _in_any_checkout(v) for k, v in value.items()}
  if isinstance(value, list):
    return [_in_any_checkout(v) for v in value]
  return value


def _without_timing(record: dict) -> dict:
  """Returns the record without timings, the checkout's own path spelled `<repo>` (messages
  and the evaluation protocol's weights file name files inside it, and two checkouts
  compared lie in different folders)."""
  return {k: _in_any_checkout(v) for k, v in record.items()
          if k not in TIMING and k not in FLAGS.drop_keys}


def records_sha256(workdir: str) -> tuple[str, int]:
  """Returns the SHA-256 of a run's metrics.jsonl records (see `_without_timing`) and their
  count."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [_without_timing(json.loads(line)) for line in f if line.strip()]
  return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest(), len(records)


def run_one(name: str, root: str, steps: int) -> dict:
  workdir = os.path.join(root, "runs", name.removesuffix(".flags"))
  command = [sys.executable, "-m", "experiments.run", f"--flagfile={os.path.join(CONFIGS, name)}",
             f"--workdir={workdir}", f"--num_steps={steps}", "--start_over",
             "--checkpoint_every=100000", "--compilation_cache=", "--notensorboard",
             *data_flags(name, root), *FLAGS.extra]
  start = time.perf_counter()
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode:
    return {"error": done.stderr[-2000:], "command": " ".join(command)}
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  metrics_sha256, count = records_sha256(workdir)
  final = {k: v for k, v in summary.items()
           if isinstance(v, (int, float)) and k not in TIMING}
  return {"state_sha256": summary["state_sha256"], "metrics_sha256": metrics_sha256,
          "records": count, "final": final,
          "final_metrics": _without_timing(summary.get("final_metrics", {})),
          "seconds": round(time.perf_counter() - start, 1)}


def compare(before_path: str, after_path: str) -> int:
  with open(before_path) as f:
    before = json.load(f)
  with open(after_path) as f:
    after = json.load(f)
  print("| flagfile | state_sha256 | metrics | final evaluation |")
  print("| --- | --- | --- | --- |")
  moved = 0
  for name in sorted(set(before) | set(after)):
    b, a = before.get(name, {}), after.get(name, {})
    same = [b.get(k) == a.get(k) and k in b for k in ("state_sha256", "metrics_sha256", "final")]
    moved += not all(same)
    print(f"| {name} | {'identical' if same[0] else 'DIFFERS'} "
          f"({a.get('state_sha256', '-')[:12]}) | {'identical' if same[1] else 'DIFFERS'} "
          f"({a.get('records', 0)} records) | {'identical' if same[2] else 'DIFFERS'} |")
  return int(moved > 0)


def main(argv):
  del argv
  if FLAGS.compare:
    if len(FLAGS.compare) != 2:
      raise app.UsageError(f"--compare takes two files; got {FLAGS.compare}")
    sys.exit(compare(*FLAGS.compare))
  names = FLAGS.configs or sorted(n for n in os.listdir(CONFIGS) if n.endswith(".flags"))
  root = os.path.abspath(FLAGS.root)
  results = {}
  for name in names:
    results[name] = run_one(name, root, FLAGS.steps)
    print(name, json.dumps(results[name])[:300], flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
      json.dump(results, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  app.run(main)
