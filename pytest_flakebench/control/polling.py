"""How often the control plane is polled, per kind of control plane (pure but for one
environment variable, read by :func:`policy_for`).

- **SQLite** (a local file; every worker is on this machine): a poll costs a file read, so
  workers poll for events every 20 ms (control lag in the tens of milliseconds): 50 event polls
  + 1 heartbeat write per second per worker.
- **PostgreSQL**: polling every 20 ms would cost 50 queries per second per worker (10,000/s for
  200 workers, on a store that is also the results store). Instead the controller sends a
  ``NOTIFY`` with each event (same statement, so it is delivered on commit) and each worker's
  event follower waits on ``LISTEN`` (:mod:`pytest_flakebench.control.listen`) and reads the
  events when woken; a slow fallback poll (every 1 s) means a lost notification costs latency,
  never an event. Steady state: 1 fallback poll + 1 heartbeat write per second per worker,
  plus one read and one ``RUN_EVENT_APPLIED`` write per event that concerns it.
  ``FLAKEBENCH_CONTROL_NOTIFY=0`` turns this off (a pooler in transaction mode, such as
  PgBouncer, cannot carry ``LISTEN``): workers then poll every 20 ms as SQLite's do.
- **Snowflake**: every poll is a query; it keeps the warehouse running and counts against
  hybrid-table request limits, and there is no ``LISTEN``. The event poll backs off while
  nothing changes (50 ms doubling to 1 s, back to 50 ms as soon as an event arrives) and the
  controller reads heartbeats once a second (they change once a second). Steady state, per
  worker: about 1 event poll + 1 heartbeat write per second.

The controller reads every worker's heartbeat in one query, 4 times a second (once on
Snowflake): its cost does not grow with the number of workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

NOTIFY_ENV = "FLAKEBENCH_CONTROL_NOTIFY"


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Poll intervals of one kind of control plane."""

    min_s: float  # right after a change
    max_s: float  # after a long quiet spell (with ``listen``: the fallback poll)
    beats_s: float  # controller: heartbeat reads during a run
    wait_s: float  # controller: while waiting for joins, connections, final reports
    factor: float = 2.0
    listen: bool = False  # workers wait on LISTEN between polls (PostgreSQL)
    settle_max_s: float | None = None  # workers waiting for a run or its result: back-off cap

    def next(self, current: float, changed: bool) -> float:
        """The interval after a poll that found a change (reset) or nothing (back off)."""
        if changed:
            return self.min_s
        return min(self.max_s, max(self.min_s, current * self.factor))

    def next_wait(self, current: float) -> float:
        """A worker's interval while it waits for the run to appear or to end (no
        notification for those): backs off to ``settle_max_s`` (else ``max_s``)."""
        cap = self.max_s if self.settle_max_s is None else self.settle_max_s
        return min(cap, max(self.min_s, current * self.factor))

    def queries_per_s(self, workers: int) -> float:
        """Steady-state statements per second of a quiet run (event polls, heartbeat writes
        once a second per worker, and the controller's heartbeat reads)."""
        return workers * (1.0 / self.max_s + 1.0) + 1.0 / self.beats_s


FAST = PollPolicy(min_s=0.02, max_s=0.02, beats_s=0.25, wait_s=0.02)
# min_s: how soon a worker looks again after an event (more may follow at once); max_s: the
# fallback poll; settle_max_s: a worker waiting for the merged result sees it within 0.1 s.
POSTGRES_LISTEN = PollPolicy(min_s=0.02, max_s=1.0, beats_s=0.25, wait_s=0.02, listen=True,
                             settle_max_s=0.1)
SNOWFLAKE = PollPolicy(min_s=0.05, max_s=1.0, beats_s=1.0, wait_s=0.25)


def notify_enabled() -> bool:
    """Whether PostgreSQL control planes use LISTEN/NOTIFY (``FLAKEBENCH_CONTROL_NOTIFY``)."""
    return os.environ.get(NOTIFY_ENV, "1").strip().lower() not in ("0", "off", "false", "no")


def policy_for(dialect: str, *, notify: bool | None = None) -> PollPolicy:
    """The policy of a control plane of ``dialect`` (``sqlite``, ``postgresql``, ``snowflake``);
    ``notify`` (default: :func:`notify_enabled`) chooses LISTEN/NOTIFY on PostgreSQL."""
    if dialect == "snowflake":
        return SNOWFLAKE
    if dialect == "postgresql" and (notify_enabled() if notify is None else notify):
        return POSTGRES_LISTEN
    return FAST
