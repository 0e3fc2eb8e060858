"""Before the load: wait until every participant has joined the run (READY), then until every
worker has opened its connections (CONNECTED), so that connection set-up is never part of any
window.

Each wait ends early on what makes the run impossible: a worker's FAILED row, a worker that
went down, a cancel, or ``--flakebench-join-timeout``. It then returns why (:class:`NotStarted`);
the driver ends the run before any load with that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.judge.results import Status

if TYPE_CHECKING:
    from pytest_flakebench.distributed.coordinator import Coordinator


@dataclass(frozen=True, slots=True)
class NotStarted:
    """Why a run cannot start, and the status it ends with."""

    reason: str
    status: Status = "FAILED"


def await_joins(c: Coordinator, run_id: str, participants: list[str],
                wait_s: float) -> dict[str, Heartbeat] | NotStarted:
    """Every participant's row once each has joined or gone down (at least one READY)."""

    def look(hbs: dict[str, Heartbeat]) -> NotStarted | list[str]:
        failed = [w for w in participants if w in hbs and hbs[w].status == "FAILED"]
        if failed:
            reasons = "; ".join(f"{w}: {hbs[w].last_error}" for w in failed)
            return NotStarted(f"setup failed on {reasons}")
        return [w for w in participants if w not in hbs and w not in c.down]

    hbs = _poll(c, run_id, wait_s, look, "join")
    if isinstance(hbs, NotStarted):
        return hbs
    if not any(hbs[w].status == "READY" for w in participants if w in hbs):
        return NotStarted("no worker could join the run")
    return hbs


def await_connected(c: Coordinator, run_id: str, ready: list[str],
                    wait_s: float) -> NotStarted | None:
    """None once every ``ready`` worker has opened its connections."""

    def look(hbs: dict[str, Heartbeat]) -> NotStarted | list[str]:
        failed = [w for w in ready if w in hbs and hbs[w].status == "FAILED"]
        if failed:
            reasons = "; ".join(f"{w}: {hbs[w].last_error}" for w in failed)
            return NotStarted(f"connections failed on {reasons}")
        down = [w for w in ready if w in c.down]
        if down:
            return NotStarted(f"worker(s) {', '.join(down)} went down while "
                              f"opening their connections")
        return [w for w in ready if hbs.get(w) is None or hbs[w].status != "CONNECTED"]

    hbs = _poll(c, run_id, wait_s, look, "open their connections")
    return hbs if isinstance(hbs, NotStarted) else None


def _poll(c: Coordinator, run_id: str, wait_s: float,
          look: Callable[[dict[str, Heartbeat]], NotStarted | list[str]],
          what: str) -> dict[str, Heartbeat] | NotStarted:
    """Read the heartbeats every ``wait_s`` until ``look`` awaits no worker (then return them)
    or says why the run cannot start, the run is cancelled, or ``--flakebench-join-timeout``
    passes (naming the workers still awaited)."""
    timeout_s = c.settings.join_timeout_s
    deadline = time.monotonic() + timeout_s
    while True:
        hbs = {h.worker_id: h for h in c.plane.heartbeats(run_id)}
        awaited = look(hbs)
        if isinstance(awaited, NotStarted):
            return awaited
        if not awaited:
            return hbs
        if c.cancel_reason:
            return NotStarted(c.cancel_reason, status="CANCELLED")
        if time.monotonic() > deadline:
            return NotStarted(f"worker(s) {', '.join(awaited)} did not {what} within "
                              f"{timeout_s:g}s (--flakebench-join-timeout)")
        time.sleep(wait_s)
