"""How often the control plane is polled, per kind of control plane (pure).

A local SQLite file or a PostgreSQL server answers a poll in well under a millisecond and costs
nothing per query, so workers poll for events every 20 ms (control lag in the tens of
milliseconds). On Snowflake every poll is a query: it keeps the warehouse running and counts
against hybrid-table request limits. There the event poll backs off while nothing changes
(50 ms doubling to 1 s, back to 50 ms as soon as an event arrives) and the controller reads
heartbeats once a second (they change once a second). Steady state on Snowflake, per worker:
about 1 event poll + 1 heartbeat write per second; controller: 1 heartbeat read per second and
one write per event; so ``2 × workers + 1`` statements per second for a run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Poll intervals of one kind of control plane."""

    min_s: float  # right after a change
    max_s: float  # after a long quiet spell
    beats_s: float  # controller: heartbeat reads during a run
    wait_s: float  # controller: while waiting for joins, connections, final reports
    factor: float = 2.0

    def next(self, current: float, changed: bool) -> float:
        """The interval after a poll that found a change (reset) or nothing (back off)."""
        if changed:
            return self.min_s
        return min(self.max_s, max(self.min_s, current * self.factor))

    def queries_per_s(self, workers: int) -> float:
        """Steady-state statements per second of a quiet run (event polls, heartbeat writes
        once a second per worker, and the controller's heartbeat reads)."""
        return workers * (1.0 / self.max_s + 1.0) + 1.0 / self.beats_s


FAST = PollPolicy(min_s=0.02, max_s=0.02, beats_s=0.25, wait_s=0.02)
SNOWFLAKE = PollPolicy(min_s=0.05, max_s=1.0, beats_s=1.0, wait_s=0.25)


def policy_for(dialect: str) -> PollPolicy:
    """The policy of a control plane of ``dialect`` (``sqlite``, ``postgresql``, ``snowflake``)."""
    return SNOWFLAKE if dialect == "snowflake" else FAST
