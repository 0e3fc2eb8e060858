"""A worker's wait between two event polls: woken by ``LISTEN``/``NOTIFY`` on PostgreSQL.

The controller's event insert carries a ``pg_notify`` on the run's channel (an event for
everyone) or on the target worker's (an event for one), delivered when the insert commits. A
follower waits on its own control-plane connection (the one its polls use; psycopg keeps
notifications that arrive during a query for the next wait) and polls as soon as an event for
it is announced, or when the fallback interval ends: a lost notification (a reconnect, a
pooler that drops them) costs latency, never an event, since the poll reads every event above
the last one applied.

Elsewhere (SQLite, Snowflake, or ``FLAKEBENCH_CONTROL_NOTIFY=0``) the wait is a plain sleep.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_flakebench.control.plane import ControlPlane
    from pytest_flakebench.control.polling import PollPolicy

SLICE_S = 0.5  # a wait looks at ``stopped`` at least this often (no query: a local select)


def channel_of(run_id: str, worker_id: str | None = None) -> str:
    """The channel of a run's events for everyone (``worker_id`` None) or for one worker: a
    valid identifier (63 bytes at most), whatever the ids. One channel per worker, so that an
    event for one worker (a load step sends one to each) wakes that worker alone."""
    key = f"{run_id}\0{worker_id or ''}".encode()
    return "flakebench_ev_" + hashlib.sha256(key).hexdigest()[:24]


class EventWaiter:
    """Waits, on the calling thread, until the next event of ``run_id`` for ``worker_id``
    may be there (one waiter per thread: it listens on that thread's connection)."""

    def __init__(self, plane: ControlPlane, run_id: str, worker_id: str, policy: PollPolicy,
                 stopped: threading.Event | None = None) -> None:
        self.plane = plane
        self.worker_id = worker_id
        self.channels = (channel_of(run_id), channel_of(run_id, worker_id))
        self.listen = policy.listen and plane.dialect == "postgresql"
        self.stopped = stopped or threading.Event()
        self.notified = 0  # wake-ups by a notification (tests and benchmarks read it)
        self._conn: Any = None  # the connection LISTENing (a reconnect makes a new one)

    def wait(self, seconds: float) -> bool:
        """Return after ``seconds``, when ``stopped`` is set, or (LISTEN) as soon as an event
        for this worker is announced; True when the caller should poll at once (announced,
        or listening only just began, so earlier events are unannounced). ``StoreError``
        when the connection is lost (the caller's outage path; the next wait listens again)."""
        if not self.listen:
            self.stopped.wait(seconds)
            return False
        return self.plane.connections.call("wait for events",
                                           lambda conn: self._wait_on(conn, seconds),
                                           retry=False)

    def _wait_on(self, conn: Any, seconds: float) -> bool:
        if conn is not self._conn:
            for channel in self.channels:
                conn.execute(f'LISTEN "{channel}"')
            self._conn = conn
            return True
        deadline = time.monotonic() + seconds
        while not self.stopped.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            notes = conn.notifies(timeout=min(left, SLICE_S))
            try:
                for note in notes:
                    if note.channel in self.channels:
                        self.notified += 1
                        return True
            finally:
                notes.close()
        return False

    def close(self) -> None:
        """Stop listening (best effort): the connection goes on serving other calls."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                for channel in self.channels:
                    conn.execute(f'UNLISTEN "{channel}"')
