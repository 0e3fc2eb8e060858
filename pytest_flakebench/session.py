"""The per-process benchmark session: runs benchmarks, keeps their results, reports them.

Registered in ``config.stash`` by the plugin. Heavy modules (drivers, pydantic models, the
engine) are imported only when a benchmark actually runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_flakebench.options import Settings

if TYPE_CHECKING:
    from pytest_flakebench.engine.runner import Tick
    from pytest_flakebench.results import RunResult
    from pytest_flakebench.stores.base import ResultStore
    from pytest_flakebench.template import Template

log = logging.getLogger("pytest_flakebench")

SPOOL_DIR = Path(".flakebench") / "spool"


class _Progress:
    """Live progress of the running benchmark on the terminal (rewritten in place on a TTY)."""

    def __init__(self, config: pytest.Config, name: str, total_s: float) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capman = config.pluginmanager.get_plugin("capturemanager")
        self.quiet = config.get_verbosity() < -1 or self.reporter is None
        self.tty = bool(self.reporter is not None and self.reporter.isatty)
        self.name = name
        self.total_s = total_s
        self.count = 0
        self.line = ""

    def _write(self, line: str, *, final: bool = False) -> None:
        from contextlib import nullcontext

        reporter = self.reporter
        if reporter is None:
            return
        guard = self.capman.global_and_fixture_disabled() if self.capman else nullcontext()
        with guard:
            if self.tty:
                if self.count == 1:
                    reporter.ensure_newline()
                    reporter.write(line, flush=True)
                else:
                    reporter.rewrite(line, flush=True)
                if final:
                    reporter.write("\n", flush=True)
            elif final or self.count % 5 == 1:
                reporter.write_line(line, flush=True)

    def tick(self, tick: Tick) -> None:
        from pytest_flakebench.report.text import progress_line

        if self.quiet:
            return
        self.count += 1
        self.line = progress_line(
            self.name, phase=tick.phase, elapsed_s=tick.elapsed_s, total_s=self.total_s,
            qps=tick.interval_qps, p95_us=tick.p95_us, errors=tick.errors,
            in_flight=tick.in_flight)
        self._write(self.line)

    def done(self, result: RunResult | None) -> None:
        """End the live line with the run's measured figures."""
        if self.quiet or not self.count:
            return
        if result is not None:
            from pytest_flakebench.report.text import progress_line

            o = result.overall
            self.count = max(self.count, 2)  # rewrite in place on a TTY
            self.line = progress_line(
                self.name, phase=result.status, elapsed_s=result.measurement_s + result.warmup_s,
                total_s=self.total_s, qps=o.qps, p95_us=o.latency.p95_us, errors=o.errors,
                in_flight=0)
        self._write(self.line, final=True)


class BenchSession:
    """Runs this process's benchmarks and reports them at the end of the session."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.results: list[RunResult] = []
        self._store: ResultStore | None = None
        self.spooled: list[Path] = []

    def store(self) -> ResultStore | None:
        """The results store, opened and checked on first use (before any load is sent)."""
        if self.settings.store_url is None:
            return None
        if self._store is None:
            from pytest_flakebench.stores import open_store

            store = open_store(self.settings.store_url, base_dir=self.settings.rootdir)
            try:
                store.check()
            except BaseException:
                store.close()
                raise
            self._store = store
        return self._store

    def run(self, item: pytest.Item, template: Template) -> RunResult:
        """Preflight, run and store one benchmark; returns the merged result."""
        from pytest_flakebench.benchmark import prepare, run_local
        from pytest_flakebench.targets import resolve_target

        s = self.settings
        target = resolve_target(template.target, rootdir=s.rootdir,
                                ini_lines=self.config.getini("flakebench_targets"))
        self.store()  # an unusable store is an error before load, not a lost run after it
        prepared = prepare(template, target, base_dir=s.rootdir)
        total_s = (template.warmup + template.duration) * s.duration_scale
        progress = _Progress(self.config, item.name, total_s)
        result: RunResult | None = None
        try:
            result, outcome = run_local(prepared, test=item.nodeid, target=target,
                                        duration_scale=s.duration_scale, on_tick=progress.tick)
        finally:
            progress.done(result)
            prepared.close()
        self.keep(result)
        if outcome.interrupt is not None:
            raise outcome.interrupt
        return result

    def keep(self, result: RunResult) -> None:
        """Remember the result and persist it (spooling it locally if the store fails)."""
        from pytest_flakebench.errors import StoreError

        self.results.append(result)
        store = self._store
        if store is None:
            return
        try:
            store.save_run(result)
        except StoreError as exc:
            spool = self.settings.rootdir / SPOOL_DIR / f"{result.run_id}.json"
            spool.parent.mkdir(parents=True, exist_ok=True)
            spool.write_text(json.dumps(result.to_dict()), encoding="utf-8")
            self.spooled.append(spool)
            log.warning("results store failed (%s); run %s spooled to %s", exc,
                        result.run_id, spool)

    def terminal_summary(self, reporter: pytest.TerminalReporter) -> None:
        """The end-of-session table of every run."""
        if not self.results:
            return
        from pytest_flakebench.report.text import render, summary_table

        reporter.write_sep("=", "flakebench")
        width = max(reporter._tw.fullwidth, 140)  # CI logs are not 80 columns wide
        reporter.write_line(render(summary_table(self.results), width=width,
                                   color=reporter.hasmarkup))
        if self._store is not None:
            reporter.write_line(f"stored in {self._store.redacted_url} "
                                f"(flakebench runs / flakebench show RUN_ID)")
        for path in self.spooled:
            reporter.write_line(f"store unreachable: run spooled to {path}", yellow=True)
        if self.settings.json_path is not None:
            reporter.write_line(f"JSON written to {self.settings.json_path}")

    def finish(self) -> None:
        """Write the JSON file and close the store."""
        if self.settings.json_path is not None:
            from pytest_flakebench.report.json_out import write_json

            path = self.settings.json_path
            if not path.is_absolute():
                path = Path(self.config.invocation_params.dir) / path
            write_json(path, self.results)
        if self._store is not None:
            self._store.close()
            self._store = None
