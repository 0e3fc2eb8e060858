"""One benchmark run in the test's own process: the ``-n 0`` path (a SQLite control plane, the
controller thread, one worker) without pytest around it, so a test can act on the run while
it loads (stall the target, stop the server, send the worker a control event)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_flakebench.judge.results import RunResult

if TYPE_CHECKING:
    from pytest_flakebench.distributed.coordinator import Coordinator


def run_in_process(tmp_path: Path, template_fields: dict[str, Any],
                   during: Callable[[Coordinator], object] | None = None) -> RunResult:
    """Run the template ``template_fields`` to its end; ``during(coordinator)`` runs in a thread
    beside the worker from its start. Returns the controller's result (the one that is stored,
    with the per-second snapshots)."""
    from pytest_flakebench.control.plane import open_control_plane
    from pytest_flakebench.distributed.coordinator import ControllerSettings, Coordinator
    from pytest_flakebench.distributed.worker import WorkerContext, run_worker
    from pytest_flakebench.template.model import Template
    from pytest_flakebench.template.targets import ResolvedTarget

    template = Template.model_validate(template_fields)
    plane = open_control_plane(f"sqlite:///{tmp_path / f'control-{uuid.uuid4().hex}.db'}")
    kept: list[RunResult] = []

    def keep(result: RunResult) -> RunResult:
        kept.append(result)
        return result

    coordinator = Coordinator(plane, settings=ControllerSettings(), keep=keep)
    session, run_id = uuid.uuid4().hex, uuid.uuid4().hex
    plane.create_run(run_id=run_id, session_id=session, test_id="t::x", participants=["main"])
    coordinator.submit(run_id)
    ctx = WorkerContext(plane=plane, session_id=session, worker_id="main", base_dir=tmp_path,
                        duration_scale=1.0, join_timeout_s=30, drain_timeout_s=10)
    failed: list[BaseException] = []

    def beside() -> None:
        assert during is not None
        try:
            during(coordinator)
        except BaseException as exc:  # re-raised below: a thread's error would only warn
            failed.append(exc)

    side = threading.Thread(target=beside) if during else None
    if side:
        side.start()
    try:
        returned = run_worker(ctx, test_id="t::x", template=template,
                              target=ResolvedTarget(url=template.target))
    finally:
        if side:
            side.join()
        coordinator.close()
        plane.close()
    if failed:
        raise failed[0]
    (result,) = kept
    assert result.run_id == returned.run_id == run_id
    return result
