"""The per-process benchmark session: runs benchmarks, keeps their results, reports them.

Every run goes through the control plane, with or without xdist: the controlling process (the
xdist controller, or the single pytest process) owns a ``Coordinator`` thread that drives each
run and stores its merged result; every process that runs the benchmark item is a worker. So
``-n 0`` and ``-n N`` share one code path and produce the same shape of results. Heavy modules
are imported only when a benchmark actually runs. What the session shows and writes (live
lines, the summary, HTML and JSON) is ``session_report``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flakebench import session_report
from pytest_flakebench.options import Settings

if TYPE_CHECKING:
    from pytest_flakebench.compare.gate import RegressionGate
    from pytest_flakebench.compare.verdict import Comparison
    from pytest_flakebench.control.plane import ControlPlane
    from pytest_flakebench.distributed.coordinator import Coordinator
    from pytest_flakebench.distributed.handoff import Handoff
    from pytest_flakebench.judge.results import RunResult
    from pytest_flakebench.stores.base import ResultStore
    from pytest_flakebench.template.model import Template
    from pytest_flakebench.workload.plans import PythonOp

log = logging.getLogger("pytest_flakebench")

SPOOL_DIR = Path(".flakebench") / "spool"
SESSION_INPUT = "flakebench_session"
CONTROL_INPUT = "flakebench_control"


def with_cost(result: RunResult, credit_price: float | None) -> RunResult:
    """A Snowflake run with its ``cost`` (judge/cost.py), from the warehouse in its fingerprint."""
    if result.target_kind != "snowflake":
        return result
    import dataclasses

    from pytest_flakebench.judge.cost import cost_from_settings

    settings = dict(result.fingerprint.get("server_settings") or {})
    cost = cost_from_settings(settings, max(0.0, result.ended_at - result.started_at),
                              credit_price=credit_price)
    return result if cost is None else dataclasses.replace(result, cost=cost.to_dict())


class BenchSession:
    """Runs this process's share of every benchmark and, if it controls, drives and reports."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.results: list[RunResult] = []
        self.spooled: dict[str, Path] = {}  # run id -> spool file
        self.stored = 0  # runs this session saved in the store
        self.recovered: list[str] = []  # abandoned runs of earlier sessions, stored now
        self._store: ResultStore | None = None
        self._plane: ControlPlane | None = None
        self._coordinator: Coordinator | None = None
        self._tmpdir: Path | None = None
        self._gate: RegressionGate | None = None
        self._handoff: Handoff | None = None
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.is_worker = workerinput is not None
        self.remote_workers = False  # set by the xdist hooks when --tx reaches other machines
        if workerinput is not None:
            self.worker_id = str(workerinput.get("workerid", "gw?"))
            self.session_id = str(workerinput.get(SESSION_INPUT, ""))
            self.control_url = str(workerinput.get(CONTROL_INPUT, ""))
        else:
            self.worker_id = "main"
            self.session_id = uuid.uuid4().hex
            self.control_url = ""
        self.watched: set[str] = set()  # xdist workers up (their channel is their liveness)

    # -- resources -------------------------------------------------------------------------

    def store(self) -> ResultStore | None:
        """The results store, opened and checked on first use (before any load is sent)."""
        if self.settings.store_url is None or self.is_worker:
            return None  # workers never write results: the controller stores every run
        if self._store is None:
            from pytest_flakebench.stores import open_store

            store = open_store(self.settings.store_url, base_dir=self.settings.rootdir,
                               give_up_s=self.settings.store_outage_s)
            try:
                store.check()
            except BaseException:
                store.close()
                raise
            self._store = store
            self._recover(store)
        return self._store

    def _recover(self, store: ResultStore) -> None:
        """Runs a dead controller left unfinished in this store: store them ABANDONED."""
        from pytest_flakebench.distributed.recover import recover_runs
        from pytest_flakebench.errors import FlakebenchError

        try:
            found = recover_runs(self.plane(), store, quiet_for_s=self.settings.recover_after_s)
        except FlakebenchError as exc:  # recovery must never cost this session its runs
            log.warning("could not look for abandoned runs: %s", exc)
            return
        for item in found:
            self.recovered.append(item.line())
            log.warning("recovered %s", item.line())

    @property
    def handoff(self) -> Handoff:
        """This session's files for when the store is out of reach (created only if used)."""
        if self._handoff is None:
            from pytest_flakebench.distributed.handoff import Handoff

            self._handoff = Handoff(self.session_id)
        return self._handoff

    def control_url_for_workers(self) -> str:
        """Where the control plane lives (``control/location.py``): ``--flakebench-control``,
        else the results store, else (no store, or Snowflake with local workers) a private
        SQLite file."""
        if not self.control_url:
            from pytest_flakebench.control.location import choose

            url = choose(self.settings.control_url, self.settings.store_url,
                         remote_workers=self.remote_workers)
            if url is not None:
                if url.lower().startswith("sqlite:///") and not url.startswith("sqlite:////"):
                    from pytest_flakebench.urls import sqlite_path

                    url = "sqlite:///" + str(sqlite_path(url, base=self.settings.rootdir))
                self.control_url = url
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix="flakebench-control-"))
                self.control_url = f"sqlite:///{self._tmpdir / 'control.db'}"
        return self.control_url

    def plane(self) -> ControlPlane:
        """This process's handle on the control plane."""
        if self._plane is None:
            from pytest_flakebench.control.plane import open_control_plane

            self._plane = open_control_plane(self.control_url_for_workers(),
                                             base_dir=self.settings.rootdir,
                                             give_up_s=self.settings.store_outage_s)
        return self._plane

    def coordinator(self) -> Coordinator:
        """The controller thread (controlling process only)."""
        if self._coordinator is None:
            from pytest_flakebench.distributed.coordinator import ControllerSettings, Coordinator

            s = self.settings
            self._coordinator = coordinator = Coordinator(
                self.plane(), keep=self.keep, show=session_report.LivePrinter(self.config),
                handoff=self.handoff,
                settings=ControllerSettings(
                    duration_scale=s.duration_scale, join_timeout_s=s.join_timeout_s,
                    dead_after_s=s.dead_after_s, stale_after_s=min(2.0, s.dead_after_s / 2),
                    drain_timeout_s=s.drain_timeout_s, partial_fails=s.partial_fails,
                    store_outage_s=s.store_outage_s))
            coordinator.watched.update(self.watched)
        return self._coordinator

    def dispatch(self, test_ids: list[str], workers: list[str]) -> None:
        """Create a run for each benchmark on ``workers`` and queue it for the controller."""
        from pytest_flakebench.distributed.prepare import new_run_id

        plane = self.plane()
        coordinator = self.coordinator()
        for test_id in test_ids:
            run_id = new_run_id()
            plane.create_run(run_id=run_id, session_id=self.session_id, test_id=test_id,
                             participants=workers)
            coordinator.submit(run_id)

    # -- running -----------------------------------------------------------------------------

    def run(self, item: pytest.Item, template: Template,
            python_ops: dict[str, PythonOp] | None = None, *,
            test_id: str | None = None) -> RunResult:
        """Take part in the benchmark of ``item`` and return the merged result.

        ``test_id``: the run's test id when it is not the item's (an A/B trial is stored as
        ``NODEID[ab:A1]``, one run per id and session)."""
        from pytest_flakebench.distributed.worker import WorkerContext, run_worker
        from pytest_flakebench.template.targets import resolve_target

        s = self.settings
        target = resolve_target(template.target, rootdir=s.rootdir,
                                ini_lines=self.config.getini("flakebench_targets"),
                                store_url=s.store_url)
        if not self.is_worker:
            self.store()  # an unusable store is an error before load, not a lost run after it
            self.dispatch([test_id or item.nodeid], [self.worker_id])
        ctx = WorkerContext(plane=self.plane(), session_id=self.session_id,
                            worker_id=self.worker_id, base_dir=s.rootdir,
                            duration_scale=s.duration_scale, join_timeout_s=s.join_timeout_s,
                            drain_timeout_s=s.drain_timeout_s, query_sample=s.query_sample,
                            handoff=self.handoff, store_outage_s=s.store_outage_s)
        return run_worker(ctx, test_id=test_id or item.nodeid, template=template, target=target,
                          python_ops=python_ops)

    def keep(self, result: RunResult) -> RunResult:
        """(Controller) remember and persist a merged result; spool it (with where it was
        going) if the store cannot take it.

        Users' ``pytest_flakebench_fingerprint`` fields are added first, so the stored run,
        the JSON and the comparison all see them; ``pytest_flakebench_run_finished`` follows.
        """
        from pytest_flakebench.errors import FlakebenchError

        result = self._with_user_fingerprint(result)
        result = with_cost(result, self.settings.credit_price)
        self.results.append(result)
        stored = False
        url = self.settings.store_url
        if url is not None:
            try:
                store = self._store if self._store is not None else self.store()
                assert store is not None
                store.save_run(result)
                stored = True
                self.stored += 1
            except FlakebenchError as exc:
                from pytest_flakebench.stores.spool import spool_run

                path = spool_run(self.settings.rootdir / SPOOL_DIR, result, destination=url,
                                 base_dir=self.settings.rootdir, reason=str(exc))
                self.spooled[result.run_id] = path
                log.warning("results store unreachable (%s); run %s spooled to %s", exc,
                            result.run_id, path)
        try:
            self.config.hook.pytest_flakebench_run_finished(config=self.config, result=result,
                                                            stored=stored)
        except Exception:  # a user's hook must not lose or fail the run
            log.exception("pytest_flakebench_run_finished raised for run %s", result.run_id)
        return result

    def _with_user_fingerprint(self, result: RunResult) -> RunResult:
        """``result`` with the fields of every ``pytest_flakebench_fingerprint`` hook added."""
        found = self.config.hook.pytest_flakebench_fingerprint(
            config=self.config, test=result.test, template=dict(result.template))
        user: dict[str, Any] = {}
        for fields in found:
            user.update(fields or {})
        if not user:
            return result
        import dataclasses

        # JSON round trip: the fingerprint is stored as JSON, so only what survives it counts
        user = json.loads(json.dumps(user, sort_keys=True, default=str))
        return dataclasses.replace(result, fingerprint={**result.fingerprint, "user": user})

    # -- reporting (session_report) ---------------------------------------------------------

    @property
    def opened_store(self) -> ResultStore | None:
        """The results store if this session has opened it (never opens it)."""
        return self._store

    def terminal_summary(self, reporter: pytest.TerminalReporter) -> None:
        """The end-of-session table of every run."""
        session_report.terminal_summary(self, reporter)

    def write_html(self) -> None:
        """Write ``--flakebench-html`` (controller only): the runs beside their baselines."""
        session_report.write_html(self)

    def write_json(self) -> None:
        """Write ``--flakebench-json`` (controller only)."""
        session_report.write_json(self)

    def gate(self) -> RegressionGate:
        """The session's regression gate (made on first use)."""
        if self._gate is None:
            from pytest_flakebench.compare.gate import GateSettings, RegressionGate

            s = self.settings
            self._gate = RegressionGate(GateSettings(compare=s.compare,
                                                     compare_fail=s.compare_fail,
                                                     store_url=s.store_url, rootdir=s.rootdir))
        return self._gate

    def comparison(self, result: RunResult) -> Comparison | None:
        """``result`` against its baseline, when the session or the test asked (cached)."""
        return self.gate().comparison_for(result)

    def wait_for_runs(self) -> None:
        """(Controller) let the runs in flight end and be stored."""
        if self._coordinator is not None:
            self._coordinator.wait_idle(self.settings.drain_timeout_s + 30)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C or SIGTERM: STOP reaches every worker; the run is stored as CANCELLED."""
        from pytest_flakebench.distributed.signals import Terminated

        if excinfo.errisinstance(Terminated):
            self.cancel("terminated (SIGTERM)")
        else:
            self.cancel(f"interrupted ({excinfo.typename})")

    def cancel(self, reason: str) -> None:
        """(Controller) cancel the running and queued runs, keeping what was measured."""
        if self._coordinator is not None:
            self._coordinator.cancel(reason)
            self.wait_for_runs()

    def finish(self) -> None:
        """Close the controller, the control plane and the store (idempotent)."""
        if self._coordinator is not None:
            self.wait_for_runs()
            self._coordinator.close()
            self._coordinator = None
        if self._plane is not None:
            self._plane.close()
            self._plane = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._gate is not None:
            self._gate.close()
            self._gate = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
        if not self.is_worker:
            self.handoff.remove()
