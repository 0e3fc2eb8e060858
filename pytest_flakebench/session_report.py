"""What the session shows and writes: live lines on the controlling terminal, the
end-of-session summary, and the ``--flakebench-html`` and ``--flakebench-json`` files.

Controller only; the renderers themselves are in ``report/`` (pytest-free).
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_flakebench.compare.verdict import Comparison
    from pytest_flakebench.judge.results import RunResult
    from pytest_flakebench.session import BenchSession
    from pytest_flakebench.stores.base import ResultStore


def spooled_line(path: Path) -> str:
    """The one line that says where an unstored run went and how to send it."""
    return f"results store unreachable: run spooled to {path}, send with `flakebench upload`"


class LivePrinter:
    """Live lines on the controlling terminal (rewritten in place on a TTY)."""

    def __init__(self, config: pytest.Config) -> None:
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capman = config.pluginmanager.get_plugin("capturemanager")
        self.quiet = config.get_verbosity() < -1 or self.reporter is None
        self.count = 0

    def __call__(self, line: str, final: bool) -> None:
        """Show ``line``; ``final``: the run's last line, kept on screen."""
        reporter = self.reporter
        if self.quiet or reporter is None:
            return
        self.count += 1
        guard: Any = self.capman.global_and_fixture_disabled() if self.capman else nullcontext()
        with guard:
            if reporter.isatty:
                if self.count == 1:
                    reporter.ensure_newline()
                    reporter.write(line, flush=True)
                else:
                    reporter.rewrite(line, flush=True)
                if final:
                    reporter.write("\n", flush=True)
            elif final or self.count % 5 == 1:
                reporter.write_line(line, flush=True)
        if final:
            self.count = 0


def terminal_summary(bench: BenchSession, reporter: pytest.TerminalReporter) -> None:
    """The end-of-session table of every run."""
    for line in bench.recovered:
        reporter.write_line(f"flakebench: recovered {line}", yellow=True)
    if not bench.results:
        return
    from pytest_flakebench.report.text import render, summary_lines

    reporter.write_sep("=", "flakebench")
    width = max(bench.config.get_terminal_writer().fullwidth, 80)
    # the summary fits any width; the wider tables below fold instead, so give them room
    # (CI logs are not 80 columns wide)
    table_width = max(width, 140)
    columns: list[str] = []
    cells: list[list[str]] = []
    for run in bench.results:
        row: dict[str, str] = {}
        for found in bench.config.hook.pytest_flakebench_summary_row(config=bench.config,
                                                                   result=run):
            row.update({str(k): str(v) for k, v in (found or {}).items()})
        columns.extend(k for k in row if k not in columns)
        cells.append([row.get(c, "") for c in columns])
    cells = [c + [""] * (len(columns) - len(c)) for c in cells]
    for text in summary_lines(bench.results, width=width, extra_columns=columns,
                              extra_cells=cells):
        reporter.write_line(text)
    from pytest_flakebench.report.text import summary_notes

    for note in summary_notes(bench.results):
        reporter.write_line(f"note: {note}")
    from pytest_flakebench.report.text import steps_table

    for run in bench.results:
        if run.steps:
            reporter.write_line(render(steps_table(run), width=table_width,
                                       color=reporter.hasmarkup))
    _comparison_summary(bench, reporter, table_width)
    for run in bench.results:
        if run.cost:
            from pytest_flakebench.judge.cost import RunCost

            reporter.write_line(f"cost {run.test.rsplit('::', 1)[-1]} (run "
                                f"{run.run_id[:8]}): {RunCost(**run.cost).describe()}")
    from pytest_flakebench.evidence.report import evidence_summary

    for line in evidence_summary(bench.results, width=width, color=reporter.hasmarkup):
        reporter.write_line(line)
    if bench.settings.html_path is not None:
        reporter.write_line(f"HTML report written to {bench.settings.html_path}")
    if bench.opened_store is not None and bench.stored:
        reporter.write_line(f"stored in {bench.opened_store.redacted_url} "
                            f"(flakebench runs / flakebench show RUN_ID)")
    for path in bench.spooled.values():
        reporter.write_line(spooled_line(path), yellow=True)
    if bench.settings.json_path is not None:
        reporter.write_line(f"JSON written to {bench.settings.json_path}")


def _comparison_summary(bench: BenchSession, reporter: pytest.TerminalReporter,
                        width: int) -> None:
    from pytest_flakebench.report.compare_text import summary_table
    from pytest_flakebench.report.text import render

    found = [c for r in bench.results if (c := bench.comparison(r)) is not None]
    if found:
        reporter.write_line(render(summary_table(found), width=width,
                                   color=reporter.hasmarkup))
    for c in found:  # in full on one line each: logs are searched for these
        if c.differences:
            reporter.write_line(f"{c.test}: not comparable with run {c.baseline_id}: "
                                + "; ".join(d.describe() for d in c.differences),
                                yellow=True)


def write_html(bench: BenchSession) -> None:
    """Write ``--flakebench-html`` (controller only): the runs beside their baselines."""
    if bench.settings.html_path is None or bench.is_worker or not bench.results:
        return
    from pytest_flakebench.report.html import write_session_report

    path = bench.settings.html_path
    if not path.is_absolute():
        path = Path(bench.config.invocation_params.dir) / path
    comparisons = [c for r in bench.results if (c := bench.comparison(r)) is not None]
    write_session_report(path, bench.results, comparisons, _baseline_runs(bench, comparisons))


def _baseline_runs(bench: BenchSession, comparisons: list[Comparison]) -> dict[str, RunResult]:
    store = _open_store_quietly(bench)
    found: dict[str, RunResult] = {}
    if store is None:
        return found
    from pytest_flakebench.errors import FlakebenchError

    for c in comparisons:
        if c.baseline_id and c.baseline_id not in found:
            try:
                run = store.get_run(c.baseline_id)
            except FlakebenchError:
                continue
            if run is not None:
                found[c.baseline_id] = run
    return found


def _open_store_quietly(bench: BenchSession) -> ResultStore | None:
    from pytest_flakebench.errors import FlakebenchError

    try:
        return bench.store()
    except FlakebenchError:
        return None


def write_json(bench: BenchSession) -> None:
    """Write ``--flakebench-json`` (controller only)."""
    if bench.settings.json_path is None or bench.is_worker:
        return
    from pytest_flakebench.report.json_out import write_json as write_json_file

    path = bench.settings.json_path
    if not path.is_absolute():
        path = Path(bench.config.invocation_params.dir) / path
    write_json_file(path, bench.results)
