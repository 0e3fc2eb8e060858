"""xdist glue: registered only when pytest-xdist is installed.

Controller side: our scheduler, the control-plane location for every worker, worker deaths.
Worker side: publish which collected tests are benchmarks, and report each benchmark once:
the worker that joins its run first (the leader) reports it; the others run the same item with
reporting switched off, so the terminal, JUnit XML and the JSON see one test, not one per worker.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import pytest
from _pytest.runner import runtestprotocol  # what pytest's own protocol runs; no public twin

from pytest_flakebench.session import CONTROL_INPUT, SESSION_INPUT, BenchSession


class XdistHooks:
    """Hooks that exist only under pytest-xdist (all optional, so ``-p no:xdist`` works)."""

    def __init__(self, config: pytest.Config, bench: BenchSession) -> None:
        self.config = config
        self.bench = bench
        if not bench.is_worker and bench.settings.enabled:
            self._check_gateways(config)

    def _check_gateways(self, config: pytest.Config) -> None:
        """Workers on other machines need a control plane they can all reach."""
        specs = [str(s) for s in (config.getoption("tx", None) or [])]
        remote = [s for s in specs if not s.split("*", 1)[-1].startswith("popen")]
        from pytest_flakebench.control.location import choose, is_shared

        self.bench.remote_workers = bool(remote)
        s = self.bench.settings
        url = choose(s.control_url, s.store_url, remote_workers=bool(remote))
        if remote and not is_shared(url):
            raise pytest.UsageError(
                f"--tx {remote[0]} runs workers on other machines, which cannot reach the "
                f"local control plane ({url or 'none'}): give a shared store, e.g. "
                f"--flakebench-store postgresql://user@dbhost:5432/db (after `flakebench store "
                f"init`), or --flakebench-control URL"
            )

    # -- controller ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Before xdist starts its workers: an unusable store (or control plane) is one clear
        error now, not an INTERNALERROR from the scheduler later."""
        bench = self.bench
        if (not bench.is_worker and bench.settings.enabled and bench.settings.ab
                and session.config.pluginmanager.get_plugin("dsession") is not None):
            raise pytest.UsageError("--flakebench-ab: A/B mode interleaves its trials in one "
                                    "process: run it with -n 0")
        if (bench.is_worker or not bench.settings.enabled or bench.settings.store_url is None
                or session.config.pluginmanager.get_plugin("dsession") is None):
            return
        from pytest_flakebench.errors import FlakebenchError

        problem: str | None = None
        try:
            bench.store()
            bench.plane().benchmarks(bench.session_id)
        except FlakebenchError as exc:
            problem = f"flakebench: {exc} (no load was sent)"
        if problem is not None:
            bench.finish()
            raise pytest.UsageError(problem)

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Benchmarks run on every worker at once: use our scheduler when they are enabled."""
        if not self.bench.settings.enabled:
            return None
        from pytest_flakebench.distributed.scheduler import BenchScheduling

        dist = config.getvalue("dist")
        if dist not in ("load", "no", None):
            reporter = config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"flakebench: --dist {dist} is replaced by load scheduling "
                                    f"with benchmarks on every worker", yellow=True)
        plane = self.bench.plane()
        session_id = self.bench.session_id

        def is_leader(test_id: str, worker_id: str) -> bool:
            run = plane.find_run(session_id, test_id)
            return run is not None and run.leader == worker_id

        return BenchScheduling(config, log, benchmark_ids=lambda: plane.benchmarks(session_id),
                               dispatch=self._dispatch, is_leader=is_leader)

    def _dispatch(self, test_ids: Sequence[str], workers: Sequence[str]) -> None:
        self.bench.dispatch(list(test_ids), list(workers))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Tell each worker this session's id and where the control plane is."""
        node.workerinput[SESSION_INPUT] = self.bench.session_id
        node.workerinput[CONTROL_INPUT] = self.bench.control_url_for_workers()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodeready(self, node: Any) -> None:
        """A worker process is up: its xdist channel is its liveness from now on (a heartbeat
        thread starved by hundreds of load threads must not get it declared dead)."""
        self.bench.watched.add(str(node.gateway.id))
        if self.bench._coordinator is not None:
            self.bench._coordinator.node_up(str(node.gateway.id))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """A worker process exited: the controller stops waiting for its heartbeats."""
        self.bench.watched.discard(str(node.gateway.id))
        if self.bench._coordinator is not None:
            self.bench._coordinator.watched.discard(str(node.gateway.id))
        if error is not None and self.bench._coordinator is not None:
            self.bench._coordinator.node_down(str(node.gateway.id))

    # -- worker ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Publish the benchmark node ids before xdist reports the collection."""
        if not (self.bench.is_worker and self.bench.settings.enabled):
            return
        from pytest_flakebench.plugin import TEMPLATE_KEY

        # A/B tests (ab=) are not dispatched: they fail at once with "run it with -n 0".
        ids = [item.nodeid for item in session.items if TEMPLATE_KEY in item.stash
               and not item.stash[TEMPLATE_KEY].ab]
        if ids:
            self.bench.plane().publish_benchmarks(self.bench.session_id, ids)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        """Run a benchmark item on this worker; only the run's leader reports it."""
        from pytest_flakebench.plugin import TEMPLATE_KEY

        bench = self.bench
        if not (bench.is_worker and bench.settings.enabled and TEMPLATE_KEY in item.stash):
            return None
        if item.stash[TEMPLATE_KEY].ab:
            return None  # not dispatched: the test says why A/B mode needs -n 0
        plane = bench.plane()
        deadline = time.monotonic() + 30
        run = plane.find_run(bench.session_id, item.nodeid)
        while run is None and time.monotonic() < deadline:
            time.sleep(0.01)
            run = plane.find_run(bench.session_id, item.nodeid)
        if run is None:
            return None  # not dispatched as a benchmark (should not happen): run it normally
        leader = plane.claim_leader(run.run_id, bench.worker_id) == bench.worker_id
        if leader:
            item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            runtestprotocol(item, nextitem=nextitem, log=True)
            item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the leader's warnings are the test's
                runtestprotocol(item, nextitem=nextitem, log=False)
        return True
