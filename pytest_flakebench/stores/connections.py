"""Connections to one store backend, re-established with backoff after a lost connection.

The results store and the control plane both reach their database through a
:class:`Connections` over a ``stores.backend.Backend``:

- **connections** are kept per thread (the control plane: controller, event follower and engine
  ticks each have one) or shared under a lock (the results store);
- **reconnecting**: a call that fails because the connection was lost (the server restarted,
  a network blip) drops the connection and tries again with exponential backoff and jitter
  until the outage has lasted ``give_up_s`` (default :data:`GIVE_UP_S`). The first connection
  is never retried: an unreachable store at start is an error before load, at once;
- **error translation**: every failure becomes one ``StoreError`` line naming the store (its
  redacted URL), what was being done and the driver's first line with secrets scrubbed;
- **outages**: how long each lasted, so a run can report the lag instead of hiding it.

A retried statement may run twice when the connection died after the server committed it:
callers make such writes idempotent (``ON CONFLICT DO NOTHING``, updates of the same values).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_flakebench.errors import StoreError
from pytest_flakebench.stores.backend import Backend

T = TypeVar("T")

# Reconnection policy (the shape of psycopg_pool's: exponential backoff with jitter, then give
# up). The first retry comes quickly because the usual outage is a restart of a second or two.
INITIAL_DELAY_S = 0.1
BACKOFF_FACTOR = 2.0
DELAY_JITTER = 0.1  # ± this fraction of each delay, so workers do not reconnect in lockstep
MAX_DELAY_S = 1.0  # an outage is noticed over within a second of its end
GIVE_UP_S = 30.0  # the stated outage a run survives (--flakebench-store-outage)


@dataclass(frozen=True, slots=True)
class Backoff:
    """When to try again after a lost connection, and when to stop trying."""

    initial_s: float = INITIAL_DELAY_S
    factor: float = BACKOFF_FACTOR
    jitter: float = DELAY_JITTER
    max_delay_s: float = MAX_DELAY_S
    give_up_s: float = GIVE_UP_S

    def delays(self) -> Iterator[float]:
        """Successive waits (jittered), forever; the caller stops at ``give_up_s``."""
        delay = self.initial_s
        while True:
            yield delay * (1.0 + random.uniform(-self.jitter, self.jitter))
            delay = min(delay * self.factor, self.max_delay_s)


class Connections:
    """Connections to one backend, re-established with backoff after a lost connection.

    ``per_thread``: one connection per thread (the control plane, polled from several
    threads); otherwise one shared connection, calls serialised by a lock (the results store).
    ``on_connect`` runs on each new connection (e.g. create the SQLite schema once).
    """

    def __init__(self, backend: Backend, *, role: str, backoff: Backoff | None = None,
                 per_thread: bool = True,
                 on_connect: Callable[[Any], None] | None = None) -> None:
        self.backend = backend
        self.role = role
        self.backoff = backoff or Backoff()
        self.per_thread = per_thread
        self._on_connect = on_connect
        self._local = threading.local()
        self._shared: Any = None
        self._lock = threading.RLock()
        self._all: list[Any] = []
        self._ever_connected = False
        self._outages: list[tuple[float, float]] = []  # (start, end) wall clock, closed ones
        self._open_outages: dict[int, float] = {}  # thread id -> start of its current outage

    @property
    def shown(self) -> str:
        """The URL that may be printed."""
        return self.backend.shown

    # -- connections -----------------------------------------------------------------------

    def _current(self) -> Any:
        return getattr(self._local, "conn", None) if self.per_thread else self._shared

    def _set_current(self, conn: Any) -> None:
        if self.per_thread:
            self._local.conn = conn
        else:
            self._shared = conn

    def connection(self) -> Any:
        """This thread's connection, opened on first use (``StoreError`` if it cannot be)."""
        conn = self._current()
        if conn is not None:
            return conn
        try:
            conn = self.backend.connect()
        except StoreError as exc:
            exc.connect_failed = True  # type: ignore[attr-defined]  # call() retries these
            raise
        except Exception as exc:
            error = StoreError(f"{self.role} {self.shown} is unreachable: "
                               f"{self.backend.reason(exc)}; is the server running?")
            error.connect_failed = True  # type: ignore[attr-defined]
            raise error from exc
        if self._on_connect is not None:
            try:
                self._on_connect(conn)
            except BaseException:
                self.backend.close(conn)
                raise
        self._set_current(conn)
        with self._lock:
            self._all.append(conn)
            self._ever_connected = True
        return conn

    def _drop(self) -> None:
        conn = self._current()
        self._set_current(None)
        if conn is not None:
            self.backend.close(conn)
            with self._lock, contextlib.suppress(ValueError):
                self._all.remove(conn)

    def close(self) -> None:
        """Close every connection; never raises."""
        with self._lock:
            conns, self._all = self._all, []
            self._shared = None
        for conn in conns:
            self.backend.close(conn)
        self._local = threading.local()

    # -- calls ----------------------------------------------------------------------------

    def call(self, action: str, body: Callable[[Any], T], *, retry: bool = True,
             translate: Callable[[BaseException], StoreError | None] | None = None) -> T:
        """``body(connection)``; after a lost connection, reconnect and call again with
        backoff until the outage lasts ``give_up_s``. Other errors become one ``StoreError``
        (``translate`` may word them first). ``retry=False``: fail at once (heartbeats, which
        the next second sends again anyway)."""
        lock: Any = contextlib.nullcontext() if self.per_thread else self._lock
        delays: Iterator[float] | None = None
        started = 0.0
        while True:
            with lock:
                try:
                    result = body(self.connection())
                except StoreError as exc:
                    failure: BaseException = exc
                except Exception as exc:
                    failure = exc
                else:
                    if delays is not None:
                        self._outage_over(started)
                    return result
                # a lost connection, or no new one yet (the server is still down)
                lost = self.backend.lost(failure) or getattr(failure, "connect_failed", False)
                if lost:
                    self._drop()
            if not (lost and retry and self._ever_connected):
                if isinstance(failure, StoreError) or not self.backend.driver_error(failure):
                    raise failure
                mapped = translate(failure) if translate is not None else None
                raise mapped or StoreError(
                    f"{self.role} {self.shown}: {action}: {self.backend.reason(failure)}"
                ) from failure
            if delays is None:
                delays, started = self.backoff.delays(), time.time()
                with self._lock:
                    self._open_outages[threading.get_ident()] = started
            down = time.time() - started
            if down >= self.backoff.give_up_s:
                self._outage_over(started)
                raise StoreError(
                    f"{self.role} {self.shown} unreachable for {down:.1f}s (gave up after "
                    f"{self.backoff.give_up_s:g}s): {action}: {self.backend.reason(failure)}"
                ) from failure
            time.sleep(min(next(delays), max(0.0, self.backoff.give_up_s - down)))

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A transaction on this thread's connection (no retry: the caller's ``call`` retries
        the whole transaction)."""
        conn = self.connection()
        with self.backend.transaction(conn):
            yield conn

    # -- outages ---------------------------------------------------------------------------

    def _outage_over(self, started: float) -> None:
        with self._lock:
            self._open_outages.pop(threading.get_ident(), None)
            self._outages.append((started, time.time()))

    def outage_s(self, since: float) -> float:
        """Seconds since ``since`` (epoch) during which some call here could not reach the
        store (overlapping outages of several threads counted once; ongoing ones to now)."""
        now = time.time()
        with self._lock:
            spans = [*self._outages, *((s, now) for s in self._open_outages.values())]
        total, end = 0.0, since
        for start, stop in sorted(spans):
            start = max(start, end)
            if stop > start:
                total += stop - start
                end = stop
        return total


__all__ = ["GIVE_UP_S", "Backoff", "Connections"]
