"""The controller: drives each run's state machine through the control plane.

It runs in a thread of the controlling process (the xdist controller, or the single pytest
process) and owns every decision: when the expected workers have joined, how connections are
split, when warmup ends and measurement starts, when load stops, which workers are dead, and the
merged result (stored once, by this process). Phases are timed on this process's monotonic clock
and reach the workers as events, so every worker measures the same window. Each run is driven by
a ``driver.RunDriver`` (one method per event); this module queues runs and carries requests from
other threads (cancel, a worker down, a new connection target) to it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from pytest_flakebench.control.plane import ControlPlane
from pytest_flakebench.distributed.driver import RunDriver
from pytest_flakebench.distributed.handoff import Handoff
from pytest_flakebench.distributed.run_book import ControllerSettings, RunBook
from pytest_flakebench.errors import FlakebenchError
from pytest_flakebench.judge.results import RunResult

log = logging.getLogger("pytest_flakebench.controller")


class Coordinator:
    """Drives runs one after another from a background thread."""

    def __init__(self, plane: ControlPlane, *, settings: ControllerSettings,
                 keep: Callable[[RunResult], RunResult],
                 show: Callable[[str, bool], None] | None = None,
                 handoff: Handoff | None = None) -> None:
        self.plane = plane
        self.settings = settings
        self.keep = keep
        self.show = show
        self.handoff = handoff
        self.down: set[str] = set()
        # Workers whose process this controller watches through a channel of its own (xdist's,
        # or this very process for -n 0): alive while the channel is, whatever their heartbeat.
        self.watched: set[str] = {"main"}
        self.cancel_reason: str | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._targets: queue.Queue[tuple[str, int]] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._loop, name="flakebench-controller",
                                        daemon=True)
        self._thread.start()

    # -- called from other threads --------------------------------------------------------

    def submit(self, run_id: str) -> None:
        """Drive ``run_id`` after the runs already submitted."""
        self._idle.clear()
        self._queue.put(run_id)

    def node_up(self, worker_id: str) -> None:
        """xdist reported a worker process ready: its channel now tells its liveness."""
        self.watched.add(worker_id)

    def node_down(self, worker_id: str) -> None:
        """xdist reported that a worker process exited."""
        self.down.add(worker_id)

    def cancel(self, reason: str) -> None:
        """Cancel the running run and every queued one (Ctrl-C, SIGTERM, timeout, error)."""
        if self.cancel_reason is None:
            self.cancel_reason = reason

    def set_worker_target(self, worker_id: str, connections: int) -> None:
        """Ask ``worker_id`` to keep ``connections`` connections busy in the running run."""
        self._targets.put((worker_id, connections))

    def target_requests(self) -> list[tuple[str, int]]:
        """(Driver) the connection targets asked for since the last call."""
        found = []
        while not self._targets.empty():
            found.append(self._targets.get_nowait())
        return found

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every submitted run has ended."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        """Stop the thread once the queued runs are done."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    # -- the controller thread ---------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            try:
                RunDriver(self, run_id).drive()
            except BaseException as exc:  # never leave workers waiting on a dead controller
                log.exception("controller failed on run %s", run_id)
                self._abort(run_id, f"controller error: {type(exc).__name__}: {exc}")
            finally:
                if self._queue.empty():
                    self._idle.set()

    def _abort(self, run_id: str, reason: str) -> None:
        """A run failed outside the driver's own handling (before the load, or storing it)."""
        try:
            book = RunBook(self.plane, run_id, self.handoff)
            book.seq = 10_000  # above anything emitted: the STOP must sort last
            book.emit("STOP", {"cancel": True, "reason": reason})
            self.plane.set_status(run_id, "FAILED", cancellation_reason=reason)
        except FlakebenchError:
            log.exception("could not record the failure of run %s", run_id)


__all__ = ["ControllerSettings", "Coordinator"]
