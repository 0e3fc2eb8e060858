"""Before the load (distributed/joining.py): each wait ends on what makes the run impossible,
names the workers it concerns, and returns the heartbeats once every worker is there. Against a
real SQLite control plane, with the heartbeat rows the workers write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_flakebench.control.plane import ControlPlane, open_control_plane
from pytest_flakebench.distributed.coordinator import Coordinator
from pytest_flakebench.distributed.joining import NotStarted, await_connected, await_joins
from pytest_flakebench.distributed.run_book import ControllerSettings

RUN = "run-1"
WAIT_S = 0.02


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = open_control_plane(f"sqlite:///{tmp_path / 'control.db'}")
    plane.create_run(run_id=RUN, session_id="s", test_id="t::x", participants=["gw0", "gw1"])
    yield plane
    plane.close()


@pytest.fixture
def coordinator(plane: ControlPlane) -> Iterator[Coordinator]:
    c = Coordinator(plane, settings=ControllerSettings(join_timeout_s=0.3), keep=lambda r: r)
    yield c
    c.close()


def test_every_worker_ready_returns_their_rows(plane: ControlPlane,
                                               coordinator: Coordinator) -> None:
    plane.join(RUN, "gw0", "h", "READY")
    plane.join(RUN, "gw1", "h", "READY")
    hbs = await_joins(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    assert not isinstance(hbs, NotStarted)
    assert sorted(hbs) == ["gw0", "gw1"]


def test_a_worker_that_never_joins_is_named_after_the_timeout(
        plane: ControlPlane, coordinator: Coordinator) -> None:
    plane.join(RUN, "gw0", "h", "READY")
    started = time.monotonic()
    why = await_joins(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    assert isinstance(why, NotStarted)
    assert why.reason == "worker(s) gw1 did not join within 0.3s (--flakebench-join-timeout)"
    assert why.status == "FAILED"
    assert time.monotonic() - started >= 0.3


def test_a_worker_joining_late_is_waited_for(plane: ControlPlane,
                                             coordinator: Coordinator) -> None:
    plane.join(RUN, "gw0", "h", "READY")
    late = threading.Timer(0.1, lambda: plane.join(RUN, "gw1", "h", "READY"))
    late.start()
    hbs = await_joins(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    late.join()
    assert not isinstance(hbs, NotStarted)
    assert sorted(hbs) == ["gw0", "gw1"]


def test_a_failed_setup_ends_the_wait_with_its_error(plane: ControlPlane,
                                                     coordinator: Coordinator) -> None:
    plane.join(RUN, "gw1", "h", "FAILED", last_error="table public.t does not exist")
    why = await_joins(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    assert why == NotStarted("setup failed on gw1: table public.t does not exist")


def test_workers_all_down_or_failed_cannot_start(plane: ControlPlane,
                                                 coordinator: Coordinator) -> None:
    plane.join(RUN, "gw0", "h", "CONNECTED")  # joined, but not READY
    coordinator.node_down("gw1")
    why = await_joins(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    assert why == NotStarted("no worker could join the run")


def test_a_cancel_ends_the_wait_as_cancelled(plane: ControlPlane,
                                             coordinator: Coordinator) -> None:
    coordinator.cancel("interrupted (SIGTERM)")
    why = await_joins(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    assert why == NotStarted("interrupted (SIGTERM)", status="CANCELLED")
    assert await_connected(coordinator, RUN, ["gw0"], WAIT_S) == why


def test_connected_waits_for_every_ready_worker(plane: ControlPlane,
                                                coordinator: Coordinator) -> None:
    plane.join(RUN, "gw0", "h", "CONNECTED")
    plane.join(RUN, "gw1", "h", "READY")
    why = await_connected(coordinator, RUN, ["gw0", "gw1"], WAIT_S)
    assert why == NotStarted("worker(s) gw1 did not open their connections within 0.3s "
                             "(--flakebench-join-timeout)")
    plane.heartbeat(RUN, "gw1", status="CONNECTED")
    assert await_connected(coordinator, RUN, ["gw0", "gw1"], WAIT_S) is None


def test_connected_ends_on_a_failure_or_a_worker_down(plane: ControlPlane,
                                                      coordinator: Coordinator) -> None:
    plane.join(RUN, "gw0", "h", "FAILED", last_error="too many clients")
    assert await_connected(coordinator, RUN, ["gw0", "gw1"], WAIT_S) == NotStarted(
        "connections failed on gw0: too many clients")
    plane.join(RUN, "gw0", "h", "CONNECTED")
    coordinator.node_down("gw1")
    assert await_connected(coordinator, RUN, ["gw0", "gw1"], WAIT_S) == NotStarted(
        "worker(s) gw1 went down while opening their connections")
