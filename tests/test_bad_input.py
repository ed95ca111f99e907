"""The bad-input table of BUILD_NOTES.md: each case stops the runner with one clear message and
a non-zero exit code, and leaves every file already on disk (a finished run's checkpoints
and outputs among them) byte for byte as it was."""

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxgan.runner.config import Config
from jaxgan.runner.train import train_and_evaluate
from conftest import FAST_ENV, HOST_DEVICES, write_idx_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = dict(dataset="ring8", num_steps=20, batch_size=16, g_width=64, d_width=64,
           log_every=10, eval_every=10, checkpoint_every=10, eval_samples=100,
           tensorboard=False)
FLAGS = [f"--{k}={v}" for k, v in RUN.items() if k != "tensorboard"] + ["--notensorboard"]


@pytest.fixture(scope="module")
def disk(tmp_path_factory):
  return make_disk(tmp_path_factory.mktemp("disk"))


def make_disk(root):
  """Fills `root` with a finished run, one with only corrupt checkpoints, a file, flagfiles
  and a corrupt dataset; returns it."""
  train_and_evaluate(Config(**RUN), str(root / "run"))
  shutil.copytree(root / "run", root / "corrupt_run")
  for step in ("10", "20"):
    for folder, _, names in os.walk(root / "corrupt_run" / "checkpoints" / step / "state"):
      for name in names:
        if os.path.basename(folder) == "d":
          path = os.path.join(folder, name)
          with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
  (root / "a_file").write_text("not a directory\n")
  (root / "syntax.flags").write_text("--dataset=ring8\nbatch_size 64\n")
  raw = write_idx_dataset(str(root / "corrupt_raw"), n_train=20)
  images = os.path.join(raw, "train-images-idx3-ubyte.gz")
  with open(images, "r+b") as f:
    f.truncate(os.path.getsize(images) - 100)
  photos = root / "bad_photos"   # a truncated JPEG, an empty file and one that is no image
  photos.mkdir()
  rng = np.random.default_rng(0)
  for name in ("a.png", "b.jpg", "c.jpg"):
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(photos / name)
  data = (photos / "c.jpg").read_bytes()
  (photos / "c.jpg").write_bytes(data[:len(data) // 2])
  (photos / "d.png").write_bytes(b"")
  (photos / "e.png").write_text("not a picture\n")
  labelled = root / "labelled_photos"  # a dataset.json naming a file that is not there
  labelled.mkdir()
  Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(labelled / "a.png")
  (labelled / "dataset.json").write_text('{"labels": [["a.png", 0], ["b.png", 1]]}')
  return root


def snapshot(root) -> dict[str, str]:
  """Every file under root with the SHA-256 of its bytes."""
  files = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        files[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
  return files


def file_size_limit(kib: int, command: list[str]) -> list[str]:
  """Runs `command` where writes past `kib` KiB fail with EFBIG ("File too large"), as they
  fail with ENOSPC on a full disk (Python ignores the SIGXFSZ that would kill it)."""
  return ["bash", "-c", f'ulimit -f {kib} && exec "$@"', "bash", *command]


# (case, workdir under the disk folder, flags, text the message must contain)
CASES = [
    ("unknown flag", "run", ["--bogus_flag=1"], "Unknown command line flag 'bogus_flag'"),
    ("value of the wrong type", "run", ["--d_steps=two"], "--d_steps=two"),
    ("zero size", "run", ["--batch_size=0"], "batch_size"),
    ("negative size", "run", ["--num_steps=-3"], "num_steps"),
    ("learning rate NaN", "run", ["--g_lr=nan"], "g_lr=nan"),
    ("unknown loss", "run", ["--loss=hingee"],
     "--loss='hingee' is not accepted; choose one of: hinge, least_squares"),
    ("batch not divisible by devices", "run", ["--batch_size=30"],
     "batch_size=30 does not divide across 4 devices"),
    ("missing dataset", "new", ["--dataset=mnist", "--model=dcgan28", "--manual_dir={disk}/nope",
                                "--data_dir={disk}/tfds_missing"], "train-images-idx3-ubyte"),
    ("corrupt data file", "new", ["--dataset=mnist", "--model=dcgan28",
                                  "--manual_dir={disk}/corrupt_raw",
                                  "--data_dir={disk}/tfds_corrupt"],
     "train-images-idx3-ubyte.gz"),
    ("image folder with undecodable files", "new",
     ["--dataset=image_folder", "--data_path={disk}/bad_photos", "--image_size=16",
      "--data_dir={disk}/tfds_photos"],
     "3 of 5 files in {disk}/bad_photos cannot be read as images: c.jpg (truncated or "
     "corrupt: Truncated File Read); d.png (an empty file); e.png (not an image format PIL "
     "reads)"),
    ("dataset.json naming a missing file", "new",
     ["--dataset=image_folder", "--data_path={disk}/labelled_photos", "--image_size=16",
      "--data_dir={disk}/tfds_photos"], "dataset.json names 1 file(s) that are not images in "
     "{disk}/labelled_photos: b.png"),
    ("corrupt checkpoint", "corrupt_run", [], "no usable checkpoint"),
    ("checkpoint of another model", "new", ["--resume_from={disk}/run/checkpoints/20",
                                            "--g_width=32"], "g_width: 64 there, 32 now"),
    ("workdir of another run", "run", ["--loss=hinge"],
     "loss: 'non_saturating' there, 'hinge' now"),
    ("unwritable workdir", "a_file/w", [], "is not writable"),
    ("flagfile that does not exist", "run", ["--flagfile={disk}/none.flags"],
     "Flags parsing error: flagfile {disk}/none.flags not found; shipped configs: "
     "cifar10_biggan, cifar10_r3gan,"),
    ("flagfile with a syntax error", "run", ["--flagfile={disk}/syntax.flags"],
     "syntax.flags, line 2: 'batch_size 64' is not a flag"),
    ("conflicting flags", "run", ["--start_over", "--resume_from={disk}/run/checkpoints/10"],
     "give one of the two"),
    ("incomplete multi-host flags", "run", ["--coordinator_address=localhost:1234"],
     "go together"),
    ("checkpoint that does not exist", "new", ["--resume_from={disk}/run/checkpoints/15"],
     "no complete checkpoint there"),
    ("fewer steps than the checkpoint", "run", ["--num_steps=15"],
     "num_steps=15 is below the step of the checkpoint to continue, 20"),
    ("full disk", "run", ["--num_steps=40"],
     "could not write the records of step 30 in {disk}/run: File too large; the checkpoint "
     "of step 20 in {disk}/run/checkpoints is the last good one"),
]


def run_case(disk, case, workdir, flags) -> subprocess.CompletedProcess:
  env = dict(FAST_ENV)
  env.update(HOST_DEVICES)  # input checks; the file-size limit would also stop a GPU compile
  if case == "batch not divisible by devices":
    env["XLA_FLAGS"] += " --xla_force_host_platform_device_count=4"
  command = [sys.executable, "-m", "experiments.run", f"--workdir={disk / workdir}", *FLAGS,
             *[f.format(disk=disk) for f in flags]]
  if case == "full disk":
    command = file_size_limit(16, command)
  return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                        env=env)


def fatal_lines(stderr: str) -> list[str]:
  return [line for line in stderr.splitlines() if line.startswith("FATAL")]


@pytest.mark.parametrize("case, workdir, flags, needle", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_message_and_changes_nothing(disk, case, workdir, flags,
                                                                needle):
  before = snapshot(disk)
  before_log = (disk / "run" / "metrics.jsonl").read_text(encoding="utf-8")
  proc = run_case(disk, case, workdir, flags)
  fatal = fatal_lines(proc.stderr)
  assert proc.returncode != 0, proc.stderr[-2000:]
  assert len(fatal) == 1 and needle.format(disk=disk) in fatal[0], proc.stderr[-2000:]
  if case == "corrupt checkpoint":  # its abandoned reads printed tracebacks in ~2 runs of 3
    assert "Traceback" not in proc.stderr and "never retrieved" not in proc.stderr, proc.stderr
  after = snapshot(disk)
  if case == "full disk":  # the step's record went out before its pictures failed: the
    # records only grew (a resume drops those past the last checkpoint); nothing else moved
    log = "run/metrics.jsonl"
    grown = (disk / log).read_text(encoding="utf-8")
    assert grown.startswith(before_log) and grown != before_log
    before, after = ({k: v for k, v in files.items() if k != log} for files in (before, after))
  assert after == before  # nothing written, moved or removed
  assert not (disk / "new").exists()


if __name__ == "__main__":  # prints the table of BUILD_NOTES.md
  import pathlib
  import tempfile
  with tempfile.TemporaryDirectory() as folder:
    root = make_disk(pathlib.Path(folder))
    print("| # | bad input | flags | exit | message |\n| --- | --- | --- | --- | --- |")
    for number, (case, workdir, flags, _) in enumerate(CASES, 1):
      proc = run_case(root, case, workdir, flags)
      shown = " ".join(f.replace("{disk}/", "") for f in flags) or "(the run's own)"
      message = " / ".join(fatal_lines(proc.stderr)).replace(str(root) + "/", "")
      message = message.replace("|", "\\|")  # a table cell
      print(f"| {number} | {case} | `{shown}` | {proc.returncode} | {message} |")
