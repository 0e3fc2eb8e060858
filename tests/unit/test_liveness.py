"""Worker liveness: a worker whose process the controller watches is not declared dead for a
silent heartbeat (hundreds of load threads can hold off its heartbeat thread)."""

from __future__ import annotations

import time
from typing import Any

from pytest_flakebench.control.plane import Heartbeat
from pytest_flakebench.distributed.run_book import ControllerSettings, RunBook


def beat(worker: str, at: float) -> Heartbeat:
    return Heartbeat(worker_id=worker, host="h", status="RUNNING", phase="MEASUREMENT",
                     last_heartbeat=at, last_error=None, template_json=None, snapshot_json=None,
                     result_json=None)


def test_a_silent_watched_worker_is_stale_and_an_unwatched_one_dead(monkeypatch: Any) -> None:
    book = RunBook(plane=None, run_id="r")  # type: ignore[arg-type]  # liveness reads no store
    settings = ControllerSettings(stale_after_s=2.0, dead_after_s=5.0)
    hbs = {"gw0": beat("gw0", 1.0), "gw1": beat("gw1", 1.0)}
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    assert book.liveness(hbs, set(), settings, ["gw0", "gw1"], {"gw0"}) == (2, 0)
    now += 1.0  # read every second, as the controller does; the heartbeats stay the same
    for _ in range(6):
        now += 1.0
        alive, stale = book.liveness(hbs, set(), settings, ["gw0", "gw1"], {"gw0"})
    assert "gw0" not in book.dead
    assert book.dead["gw1"].startswith("worker gw1 on h sent no heartbeat for")
    assert (alive, stale) == (0, 1)
    # its process exits: then it is dead, watched or not
    book.liveness(hbs, {"gw0"}, settings, ["gw0", "gw1"], {"gw0"})
    assert book.dead["gw0"].startswith("worker gw0 on h went down")
