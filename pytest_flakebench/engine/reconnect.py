"""Reopening broken benchmark connections while the target is away: one prober, the rest wait.

When the target goes away, every connection breaks at once. If each thread retried on its own
back-off, the target would take one connection attempt per thread per step as it comes back,
and the run would notice its return only at some thread's next attempt: with a back-off that
grows to seconds, ``unavailable_s`` overshot a 3 s outage by up to half a second (one CI run in
about twenty, tests/plugin/test_availability.py). Instead, the first thread whose reconnect
fails becomes the *prober*: it alone tries again, after ``PROBE_FIRST_S``, doubling to
``PROBE_MAX_S``. The others wait until it gets through (or the run ends), then reopen their own
connections, at most ``CONNECTING`` at once, as at the start. The target sees one attempt per
probe whatever the number of threads, and the run sees it back within ``PROBE_MAX_S``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pytest_flakebench.drivers.base import DriverConnection

PROBE_FIRST_S = 0.02  # the prober's first wait; doubled after every failed attempt...
PROBE_MAX_S = 0.2  # ...up to this: the resolution of a measured outage's end
WAIT_S = 0.1  # a waiting thread looks at the run's end at least this often


class Reconnector:
    """Reopens broken connections; one thread at a time probes a target that is away."""

    def __init__(self, *, done: Callable[[], bool], pause: Callable[[float], object],
                 connecting: threading.BoundedSemaphore) -> None:
        self._done = done  # the run has ended or was stopped: give up waiting
        self._pause = pause  # sleeps, returning early when the run is stopped
        self._connecting = connecting  # connections opened at once (shared with open())
        self._cond = threading.Condition()
        self._probing = False

    def recover(self, conn: DriverConnection) -> None:
        """Reopen ``conn`` if it is broken; return when it is open again or the run ended."""
        while conn.broken and not self._done():
            self._await_prober()
            if self._done() or self._reopen(conn):
                return
            with self._cond:
                if self._probing:
                    continue  # another thread probes already: wait for it
                self._probing = True
            try:
                self._probe(conn)
            finally:
                with self._cond:
                    self._probing = False
                    self._cond.notify_all()
            return

    def wake(self) -> None:
        """The run stops: waiting threads leave now rather than at their next look."""
        with self._cond:
            self._cond.notify_all()

    def _await_prober(self) -> None:
        with self._cond:
            while self._probing and not self._done():
                self._cond.wait(WAIT_S)

    def _probe(self, conn: DriverConnection) -> None:
        delay = PROBE_FIRST_S
        while not self._done():
            self._pause(delay)
            if self._done() or self._reopen(conn):
                return
            delay = min(PROBE_MAX_S, delay * 2)

    def _reopen(self, conn: DriverConnection) -> bool:
        try:
            with self._connecting:
                conn.reconnect()
        except Exception:
            return False  # the error is the target's absence; the failed operation was counted
        return True
