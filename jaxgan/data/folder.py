"""A folder of image files, read as it is: checked once, decoded by the feed's workers.

`open_folder(root, ...)` lists the images, takes their labels (from a StyleGAN-style
`dataset.json` at the root, else one class per subfolder, else none), and decodes every file
once to check it, in `workers` processes; the check's result is cached in `cache_dir` under
a fingerprint of the files' names, sizes, times and labels, so a second run starts at once.
A file that cannot be decoded (truncated, empty, not an image) stops the run before
training, naming every such file, or with `on_bad="skip"` is left out and counted.
Images of another mode (a greyscale one among RGB ones, RGBA, palette) are converted and
counted.

`FolderSource` then decodes examples on demand: the host feed's worker processes do the
decoding and resizing, so nothing is written beside the files and a folder of any size
trains. Non-square images are centre-cropped to a square (`fit="crop"`) or centred on a
black square (`fit="pad"`) and resized with PIL's bicubic filter (antialiased when
shrinking). A JPEG at least twice the size asked for is first decoded at a reduced DCT
scale (PIL's `draft`, 1/2 to 1/8), which keeps at least `size` pixels on the side that
matters: 3x faster at 512 -> 256 px, a mean difference of one grey level.

`dataset.json` holds `{"labels": [["relative/path.png", label], ...]}` (or `"labels":
null`: unlabelled, subfolders then only organise the files). Every file it names must
exist and every image under the root must be named.
"""

import dataclasses
import json
import multiprocessing
import os
from concurrent import futures

import numpy as np

from jaxgan.data.readers import (IMAGE_EXTENSIONS, DataError, folder_fingerprint,
                                 list_image_folder, safe_name)

LABELS_FILE = "dataset.json"
FITS = ("crop", "pad")
ON_BAD = ("error", "skip")
_CHECK_VERSION = 1  # bump when what the check records changes
_SERIAL_BELOW = 256  # folders with fewer files are checked in this process


@dataclasses.dataclass(frozen=True)
class FolderIndex:
  """The usable files of a folder (paths relative to `root`), their labels, and what the
  check found."""
  root: str
  files: tuple[str, ...]
  labels: tuple[int, ...] | None
  class_names: tuple[str, ...]
  skipped: tuple[tuple[str, str], ...]    # (file, why)
  converted: tuple[tuple[str, str], ...]  # (file, its mode)
  fingerprint: str


def _all_images(root: str) -> list[str]:
  found = []
  for folder, dirs, names in os.walk(root):
    dirs.sort()
    found += [os.path.relpath(os.path.join(folder, n), root) for n in sorted(names)
              if n.lower().endswith(IMAGE_EXTENSIONS)]
  return found


def _listing(root: str) -> tuple[list[str], list[int] | None, list[str]]:
  """Returns (files, labels or None, class names) before any file is opened."""
  json_path = os.path.join(root, LABELS_FILE)
  if not os.path.exists(json_path):
    pairs, classes = list_image_folder(root)
    files = [os.path.relpath(p, root) for p, _ in pairs]
    return files, ([label for _, label in pairs] if classes else None), classes
  try:
    with open(json_path, encoding="utf-8") as f:
      named = json.load(f)["labels"]
    if named is not None:
      named = {os.path.normpath(str(p)): int(label) for p, label in named}
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise DataError(f"{json_path} is not a dataset.json of the form {{\"labels\": "
                    f"[[\"file\", label], ...]}} or {{\"labels\": null}}: {e!r}") from e
  files = _all_images(root)
  if not files:
    raise DataError(f"{root} holds no images (extensions {', '.join(IMAGE_EXTENSIONS)})")
  if named is None:
    return files, None, []
  missing = sorted(set(named) - set(files))
  if missing:
    raise DataError(f"{json_path} names {len(missing)} file(s) that are not images in "
                    f"{root}: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
  unnamed = [f for f in files if f not in named]
  if unnamed:
    raise DataError(f"{len(unnamed)} image(s) in {root} have no label in {json_path}: "
                    f"{', '.join(unnamed[:5])}{' ...' if len(unnamed) > 5 else ''}; label "
                    f"them or move them out")
  labels = [named[f] for f in files]
  if min(labels) < 0:
    raise DataError(f"{json_path} gives label {min(labels)}; labels are 0, 1, ...")
  return files, labels, [str(c) for c in range(max(labels) + 1)]


def _check(path: str, channels: int) -> tuple[str, str]:
  """Returns ("ok" | "bad" | "converted", detail) for one file, decoding it whole."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top
  if os.path.getsize(path) == 0:
    return "bad", "an empty file"
  try:
    with Image.open(path) as im:
      im.load()
      mode = im.mode
  except UnidentifiedImageError:
    return "bad", "not an image format PIL reads"
  except OSError as e:
    return "bad", f"truncated or corrupt: {e}"
  except Exception as e:  # pylint: disable=broad-except  (PIL raises many kinds)
    return "bad", f"{type(e).__name__}: {e}"
  return ("ok", mode) if mode == ("L" if channels == 1 else "RGB") else ("converted", mode)


def _check_many(paths: list[str], channels: int) -> list[tuple[str, str]]:
  return [_check(p, channels) for p in paths]


def _check_all(root: str, files: list[str], channels: int, workers: int):
  paths = [os.path.join(root, f) for f in files]
  if workers <= 1 or len(paths) < _SERIAL_BELOW:
    return _check_many(paths, channels)
  chunk = max(64, len(paths) // (workers * 8))
  chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
  with futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
    return [r for part in ex.map(_check_many, chunks, [channels] * len(chunks)) for r in part]


def open_folder(root: str, channels: int = 3, on_bad: str = "error", workers: int = 1,
                cache_dir: str | None = None) -> FolderIndex:
  """Returns the checked index of the folder (see the module doc).

  Raises:
    DataError: the folder or its labels are unusable, or (with `on_bad="error"`) some
      files cannot be decoded: every one is named.
  """
  root = os.path.abspath(root)
  if not os.path.isdir(root):
    raise DataError(f"image folder {root} does not exist")
  if on_bad not in ON_BAD:
    raise DataError(f"bad_images={on_bad!r} is not accepted; choose one of {', '.join(ON_BAD)}")
  files, labels, classes = _listing(root)
  fingerprint = folder_fingerprint(
      [(os.path.join(root, f), label) for f, label in zip(files, labels or [0] * len(files))],
      _CHECK_VERSION, channels, labels is None)
  cache = (os.path.join(cache_dir, f"{safe_name(os.path.basename(root))}_{fingerprint}.json")
           if cache_dir else None)
  results = None
  if cache and os.path.exists(cache):
    with open(cache, encoding="utf-8") as f:
      results = [tuple(r) for r in json.load(f)["results"]]
  checked = results is None or len(results) != len(files)
  if checked:
    results = _check_all(root, files, channels, workers)
  bad = [(f, why) for f, (kind, why) in zip(files, results) if kind == "bad"]
  if bad and on_bad == "error":
    listed = "; ".join(f"{f} ({why})" for f, why in bad[:10])
    raise DataError(f"{len(bad)} of {len(files)} files in {root} cannot be read as images: "
                    f"{listed}{' ...' if len(bad) > 10 else ''}. Fix or remove them, or give "
                    f"--bad_images=skip to train without them")
  keep = [i for i, (kind, _) in enumerate(results) if kind != "bad"]
  if not keep:
    raise DataError(f"none of the {len(files)} files in {root} can be read as an image")
  if checked and cache:  # only a usable folder's check is kept: bad input writes nothing
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{cache}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump({"root": root, "files": files, "results": results}, f)
    os.replace(tmp, cache)
  return FolderIndex(
      root=root, files=tuple(files[i] for i in keep),
      labels=None if labels is None else tuple(labels[i] for i in keep),
      class_names=tuple(classes), skipped=tuple(bad),
      converted=tuple((f, why) for f, (kind, why) in zip(files, results) if kind == "converted"),
      fingerprint=fingerprint)


def decode(path: str, size: int, channels: int, fit: str = "crop") -> np.ndarray:
  """Returns the image at `path` made square (`fit`) and resized, (size, size, channels) uint8."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as im:
      w, h = im.size
      if im.format == "JPEG":  # decode at the smallest DCT scale that keeps `size` pixels
        side = min(w, h) if fit == "crop" else max(w, h)
        im.draft(im.mode, (-(-size * w // side), -(-size * h // side)))
      im = im.convert("L" if channels == 1 else "RGB")
      w, h = im.size
      if fit == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side))
      elif w != h:
        side = max(w, h)
        canvas = Image.new(im.mode, (side, side))
        canvas.paste(im, ((side - w) // 2, (side - h) // 2))
        im = canvas
      if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BICUBIC)
      array = np.asarray(im, np.uint8)
  except (OSError, SyntaxError, ValueError) as e:  # changed since the check
    raise DataError(f"cannot decode image {path}: {e}") from e
  return array.reshape(size, size, channels)


class FolderSource:
  """The examples of a checked folder, decoded when read: `{"image", "label"?}`."""

  def __init__(self, index: FolderIndex, size: int, channels: int, fit: str):
    self.index, self.size, self.channels, self.fit = index, size, channels, fit

  def __len__(self) -> int:
    return len(self.index.files)

  def __getitem__(self, i: int) -> dict:
    i = int(i)
    example = {"image": decode(os.path.join(self.index.root, self.index.files[i]), self.size,
                               self.channels, self.fit)}
    if self.index.labels is not None:
      example["label"] = self.index.labels[i]
    return example
