"""LISTEN/NOTIFY on a PostgreSQL control plane (control/listen.py): a notification wakes a
waiting follower at once, and the fallback poll still delivers an event whose notification
was lost. No timing is asserted: each wait's own bound (10 s) is far above the fallback poll
(1 s), so returning early can only mean a notification woke it."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any, cast

import pytest

pytestmark = pytest.mark.postgres

BOUND_S = 10.0  # generous: the machine is shared; the fallback poll is 1 s


class FakeEngine:
    """What the follower drives, recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def begin_measurement(self) -> None:
        self.calls.append("measure")

    def set_active(self, n: int, *, step: int | None = None) -> None:
        self.calls.append(f"active={n}" if step is None else f"active={n} step={step}")

    def request_tick(self, *, end_step: bool = False) -> None:
        pass

    def finish(self, planned: bool = False) -> None:
        self.calls.append("finish")

    def stop(self) -> None:
        self.calls.append("stop")


def _run(url: str) -> tuple[Any, str]:
    from pytest_flakebench.control.plane import open_control_plane

    controller = open_control_plane(url)
    run_id = uuid.uuid4().hex
    controller.create_run(run_id=run_id, session_id=uuid.uuid4().hex, test_id="t::x",
                          participants=["w1", "w2"])
    return controller, run_id


def test_notify_wakes_a_waiting_follower_and_only_the_one_it_concerns(pg_store: str) -> None:
    from pytest_flakebench.control.listen import EventWaiter
    from pytest_flakebench.control.plane import open_control_plane
    from pytest_flakebench.control.polling import POSTGRES_LISTEN, policy_for

    assert policy_for("postgresql") is POSTGRES_LISTEN
    controller, run_id = _run(pg_store)
    worker = open_control_plane(pg_store)
    try:
        waiter = EventWaiter(worker, run_id, "w1", POSTGRES_LISTEN)
        assert waiter.wait(BOUND_S) is True  # listening just began: poll once at once
        # An event for another worker is announced on its channel: this one sleeps on.
        controller.append_event(run_id, 1, "SET_WORKER_TARGET", {"connections": 2},
                                target_worker="w2")
        assert waiter.wait(0.5) is False
        sender = threading.Timer(0.3, controller.append_event,
                                 (run_id, 2, "SET_PHASE", {"phase": "MEASUREMENT"}))
        sender.start()
        started = time.monotonic()
        woke = waiter.wait(BOUND_S)
        waited = time.monotonic() - started
        sender.join()
        assert woke is True, "no notification within the bound"
        assert waited < BOUND_S
        assert waiter.notified == 1
        # An event committed while the follower was busy (not waiting) wakes the next wait.
        controller.append_event(run_id, 3, "STOP", {}, target_worker="w1")
        assert waiter.wait(BOUND_S) is True
        assert [e.seq for e in worker.events_after(run_id, 0, "w1")] == [2, 3]
        waiter.close()
    finally:
        worker.close()
        controller.close()


def test_fallback_poll_delivers_an_event_whose_notification_was_lost(
        pg_store: str, tmp_path: Path) -> None:
    import psycopg

    from pytest_flakebench.control.plane import open_control_plane
    from pytest_flakebench.distributed.follower import EventFollower
    from pytest_flakebench.distributed.worker_context import WorkerContext

    controller, run_id = _run(pg_store)
    plane = open_control_plane(pg_store)
    ctx = WorkerContext(plane=plane, session_id="s", worker_id="w1", base_dir=tmp_path,
                        duration_scale=1.0, join_timeout_s=30, drain_timeout_s=30)
    follower = EventFollower(ctx, run_id, 0)
    engine = FakeEngine()
    follower.start(cast(Any, engine))
    try:
        # Written without its notification (as if it were lost): only the poll can find it.
        with psycopg.connect(pg_store, autocommit=True) as conn:
            conn.execute("INSERT INTO flakebench.run_control_events (run_id, sequence_id, "
                         "event_type, target_worker, event_data, created_at) "
                         "VALUES (%s, 1, 'SET_WORKER_TARGET', 'w1', '{\"connections\": 3}', "
                         "%s)", (run_id, time.time()))
        deadline = time.monotonic() + BOUND_S
        while follower.last_seq < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.calls == ["active=3"], "the fallback poll did not deliver the event"
        # Announced events still arrive, in order, each applied once.
        controller.append_event(run_id, 2, "SET_PHASE", {"phase": "MEASUREMENT"})
        controller.append_event(run_id, 3, "STOP", {"planned": True})
        assert follower.stopped.wait(BOUND_S)
        follower.join()
        assert engine.calls == ["active=3", "measure", "finish"]
        with psycopg.connect(pg_store) as conn:
            applied = conn.execute("SELECT sequence_id FROM flakebench.run_event_applied "
                                   "WHERE run_id = %s AND worker_id = 'w1' ORDER BY 1",
                                   (run_id,)).fetchall()
        assert applied == [(1,), (2,), (3,)]
    finally:
        follower.join()
        plane.close()
        controller.close()
