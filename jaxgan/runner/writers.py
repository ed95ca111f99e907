"""Where a run's numbers and pictures go: metrics.jsonl and TensorBoard event files.

The TensorBoard events are written with the `tensorboard` package's own event writer and
protocol buffers, so no TensorFlow is needed.
"""

import contextlib
import io
import json
import os
import stat
import tempfile
import time
from typing import Any

import numpy as np


class JsonlWriter:
  """Appends one JSON object per line to a file, flushing each write (no file: no-op)."""

  def __init__(self, path: str | None):
    self._file = open(path, "a", encoding="utf-8") if path else None

  def write(self, record: dict[str, Any]) -> None:
    if self._file:
      self._file.write(json.dumps(record) + "\n")
      self._file.flush()

  def close(self) -> None:
    if self._file:
      self._file.close()


def umask() -> int:
  """The process's umask: from /proc where it can (reading it with `os.umask` sets it for a
  moment, which is not thread-safe)."""
  try:
    with open("/proc/self/status", encoding="ascii") as f:
      return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
  except (OSError, StopIteration, ValueError, IndexError):
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text_atomically(path: str, text: str) -> None:
  """Writes `text` through a temporary file beside `path`: `path` then holds either what it
  held or the whole new text, never a part (a full disk, a kill). On failure the temporary
  file is removed and the error raised. The file gets the permissions `open` would give it
  (those of the file it replaces, or 0666 less the umask), not the temporary file's 0600."""
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
  try:
    try:
      mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
      mode = 0o666 & ~umask()
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_json_atomically(path: str, obj: Any) -> None:
  """Writes `obj` as indented JSON with `write_text_atomically`."""
  write_text_atomically(path, json.dumps(obj, indent=2))


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """Returns the records of a metrics.jsonl file."""
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


class TensorBoardWriter:
  """Writes scalars and images as TensorBoard events under `logdir`."""

  def __init__(self, logdir: str):
    # Imported here: only runs that write TensorBoard files pay for the import.
    from tensorboard.compat.proto import event_pb2, summary_pb2  # pylint: disable=g-import-not-at-top
    from tensorboard.summary.writer.event_file_writer import EventFileWriter  # pylint: disable=g-import-not-at-top
    self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
    self._writer = EventFileWriter(logdir)

  def _write(self, step: int, values) -> None:
    summary = self._summary_pb2.Summary(value=values)
    self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                                 summary=summary))

  def scalars(self, step: int, scalars: dict[str, float]) -> None:
    values = [self._summary_pb2.Summary.Value(tag=k, simple_value=float(v))
              for k, v in scalars.items() if isinstance(v, (int, float))]
    self._write(step, values)
    self._writer.flush()

  def image(self, step: int, tag: str, pixels: np.ndarray) -> None:
    """Writes an (H, W, 3) or (H, W) uint8 picture."""
    from PIL import Image  # pylint: disable=g-import-not-at-top
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    height, width = pixels.shape[:2]
    image = self._summary_pb2.Summary.Image(
        height=height, width=width, colorspace=3 if pixels.ndim == 3 else 1,
        encoded_image_string=buffer.getvalue())
    self._write(step, [self._summary_pb2.Summary.Value(tag=tag, image=image)])
    self._writer.flush()

  def restart(self, step: int) -> None:
    """Marks a resumed run: TensorBoard drops the events at or after `step` written before
    (by the interrupted run past its last checkpoint), as it does for a restarted session."""
    self._writer.add_event(self._event_pb2.Event(
        wall_time=time.time(), step=int(step),
        session_log=self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START)))
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()
