"""Stop requests: SIGTERM (preemption) and SIGINT (Ctrl-C) end a run cleanly after a step.

While a `StopSignals` is active the two signals only set a flag; the train loop asks
`should_stop(step)` after each step, saves a checkpoint and exits. A second Ctrl-C while the
checkpoint is written is ignored with a message, so that the write is not cut short.

With several processes every process must stop at the same step (the checkpoint is written
by all of them together). JAX's preemption service, started by `jax.distributed.initialize`,
already catches SIGTERM and agrees on a step across processes; it is asked through
`multihost_utils.reached_preemption_sync_point`, and SIGINT is turned into a SIGTERM to this
process so that it takes the same path.
"""

import os
import signal
import sys
import threading

import jax


class Preempted(Exception):
  """The run stopped on a signal after saving a checkpoint; run it again to continue."""

  def __init__(self, signum: int, step: int, checkpoint: str):
    self.signum, self.step, self.checkpoint = signum, step, checkpoint
    super().__init__(f"stopped by {signal.Signals(signum).name} after step {step}; "
                     f"checkpoint saved in {checkpoint}. Run the same command to resume.")


class StopSignals:
  """Context manager turning SIGTERM and SIGINT into a stop request."""

  def __init__(self):
    self.signum: int | None = None
    self._previous: dict[int, object] = {}
    self._multi_process = jax.process_count() > 1

  def _handler(self, signum, frame):
    del frame
    if self.signum is not None:
      print(f"{signal.Signals(signum).name} again: still finishing the step and saving the "
            f"checkpoint", file=sys.stderr, flush=True)
      return
    self.signum = signum
    print(f"{signal.Signals(signum).name} received: finishing this step, then saving a "
          f"checkpoint", file=sys.stderr, flush=True)
    if self._multi_process and signum == signal.SIGINT:
      os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption service, see above

  def __enter__(self) -> "StopSignals":
    if threading.current_thread() is not threading.main_thread():
      return self  # Python takes signals in the main thread only; the caller's own apply
    signals = [signal.SIGINT] if self._multi_process else [signal.SIGTERM, signal.SIGINT]
    for signum in signals:
      self._previous[signum] = signal.signal(signum, self._handler)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)

  def should_stop(self, step: int) -> bool:
    """Returns whether to stop after `step` (the same answer on every process)."""
    if self._multi_process:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      if multihost_utils.reached_preemption_sync_point(step):
        self.signum = self.signum or signal.SIGTERM
        return True
      return False
    return self.signum is not None
