"""Preemption notices: when to stop training and save, asked once per step.

One process: SIGTERM (the notice of preemptible machines) and SIGINT (Ctrl-C)
only set a flag; the loop finishes the step it is in, writes a checkpoint and
returns. A second SIGINT gives Python's usual KeyboardInterrupt, for a user who
does not want to wait for the checkpoint.

Several processes: JAX's preemption service (started by
``jax.distributed.initialize``) catches SIGTERM in any process, agrees with the
others on one step and answers True at that step in every process
(``multihost_utils.reached_preemption_sync_point``), so all of them save the
same step together. SIGINT keeps its usual meaning there.
"""

from __future__ import annotations

import signal
import threading

import jax
from jax.experimental import multihost_utils


class PreemptionWatcher:
    """Context manager; ``reached(step)`` is True at the step to save and stop at."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}
        self._multiprocess = jax.process_count() > 1

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.signal_name is not None:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> PreemptionWatcher:
        if self._multiprocess or threading.current_thread() is not threading.main_thread():
            return self
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def reached(self, step: int) -> bool:
        """Called by every process at every step (collective when multi-process)."""
        if self._multiprocess:
            if multihost_utils.reached_preemption_sync_point(step):
                self.signal_name = self.signal_name or "SIGTERM"
                return True
            return False
        return self.signal_name is not None
