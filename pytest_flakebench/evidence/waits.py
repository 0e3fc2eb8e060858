"""Wait events: ``pg_stat_activity`` sampled every ~100 ms for the run's own backends.

The run's benchmark connections carry ``application_name`` = ``flakebench:<run id>``; each
sample reads their state, wait event and current query (whose ``/* flakebench:kind */`` comment
names the kind). An *active* backend without a wait event is on CPU (``CPU``). Idle backends,
and active ones waiting on the client (``Client:ClientRead`` between the messages of one
extended-protocol statement), are waiting for network, driver or harness: they are counted
apart (``idle_samples``), so the shares of a kind's server time are over server samples only.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

INTERVAL_S = 0.1
TOP = 5
_KIND = re.compile(r"/\*\s*flakebench:([A-Za-z0-9_]+)\s*\*/")

_SAMPLE = ("SELECT state, wait_event_type, wait_event, query FROM pg_catalog.pg_stat_activity "
           "WHERE application_name = %s AND pid <> pg_backend_pid()")


def event_of(state: str | None, wait_type: str | None, wait_event: str | None) -> str | None:
    """``Lock:relation``, ``CPU`` for an active backend not waiting; None when the backend is
    idle or waiting on its client (not server time)."""
    if state not in ("active", "fastpath function call") or wait_type == "Client":
        return None
    return f"{wait_type}:{wait_event}" if wait_type else "CPU"


def kind_of(query: str | None) -> str:
    """The kind named by the statement's comment, ``other`` without one."""
    m = _KIND.search(query or "")
    return m.group(1) if m else "other"


class WaitSampler:
    """A daemon thread sampling one connection's view of the run's backends."""

    def __init__(self, conn: Any, app_name: str, interval_s: float = INTERVAL_S) -> None:
        self.conn = conn
        self.app_name = app_name
        self.interval_s = interval_s
        self.samples = 0  # sampling rounds
        self.active: dict[str, Counter[str]] = {}
        self.idle: Counter[str] = Counter()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flakebench-waits", daemon=True)

    def start(self) -> None:
        """Begin sampling."""
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                rows = self.conn.execute(_SAMPLE, (self.app_name,)).fetchall()
            except Exception as exc:  # the server went away: keep what was sampled
                self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
                return
            self.samples += 1
            for state, wait_type, wait_event, query in rows:
                kind = kind_of(query)
                event = event_of(state, wait_type, wait_event)
                if event is None:
                    self.idle[kind] += 1
                else:
                    self.active.setdefault(kind, Counter())[event] += 1
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> dict[str, Any]:
        """Stop sampling and return the summary (see :func:`summarize`)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        return summarize(self.active, self.idle, rounds=self.samples,
                         interval_ms=self.interval_s * 1000.0, error=self.error)


def top_events(counts: Mapping[str, int], limit: int = TOP) -> list[dict[str, Any]]:
    """``[{"event", "samples", "share"}]``, most frequent first; share of ``counts``' total."""
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"event": e, "samples": n, "share": round(n / total, 4) if total else 0.0}
            for e, n in ranked]


def summarize(active: Mapping[str, Mapping[str, int]], idle: Mapping[str, int], *,
              rounds: int, interval_ms: float, error: str | None = None) -> dict[str, Any]:
    """``server.waits``: per kind and overall, the top events as shares of active samples."""
    overall: Counter[str] = Counter()
    by_kind: dict[str, Any] = {}
    for kind in sorted(set(active) | set(idle)):
        counts = active.get(kind, {})
        overall.update(counts)
        n_active = sum(counts.values())
        n_idle = idle.get(kind, 0)
        by_kind[kind] = {"active_samples": n_active, "idle_samples": n_idle,
                         "top": top_events(counts)}
    found: dict[str, Any] = {"interval_ms": interval_ms, "rounds": rounds,
                             "active_samples": sum(overall.values()),
                             "idle_samples": sum(idle.values()),
                             "top": top_events(overall), "kinds": by_kind}
    if error:
        found["error"] = error
    return found


__all__ = ["WaitSampler", "event_of", "kind_of", "summarize", "top_events"]
