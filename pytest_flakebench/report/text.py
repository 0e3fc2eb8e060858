"""Plain-text and rich renderings of results: breach tables, summary table, progress line.

Pure presentation: no pytest import. Rich renders to a string at a given width, so the same
table serves the terminal, the failure message and JUnit XML.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from pytest_flakebench.results import RunResult
from pytest_flakebench.slo import describe
from pytest_flakebench.units import format_us


def render(table: Table, *, width: int = 120, color: bool = False) -> str:
    """Render a rich table to text."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system="standard" if color else None,
                      force_terminal=color, highlight=False, soft_wrap=False)
    console.print(table)
    return buffer.getvalue().rstrip("\n")


def breach_table(run: RunResult) -> Table:
    """Every breached SLO: scope, metric, limit, measured, margin."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("scope", "metric", "limit", "measured", "margin"):
        table.add_column(column, justify="right" if column in ("measured", "margin") else "left")
    for check in run.breaches:
        limit, measured, margin = describe(check)
        table.add_row(check.scope, check.metric, limit, measured, margin)
    return table


def failure_message(run: RunResult, *, width: int = 120) -> str:
    """The text a failing benchmark test shows (and JUnit XML carries)."""
    n = len(run.breaches)
    lines = [f"flakebench: {run.test} run {run.run_id[:8]} {run.status}: "
             f"{n} SLO breach{'es' if n != 1 else ''}"]
    if n:
        lines.append(render(breach_table(run), width=width))
    lines.extend(f"note: {m}" for m in run.messages)
    if run.steps:
        lines.append(render(steps_table(run), width=width))
    o = run.overall
    lines.append(
        f"measured: {o.ops} ops in {run.measurement_s:.1f}s ({o.qps:.1f}/s) on "
        f"{run.connections} connection(s), p50 {format_us(o.latency.p50_us)}, "
        f"p95 {format_us(o.latency.p95_us)}, p99 {format_us(o.latency.p99_us)}, "
        f"errors {o.errors} ({o.error_rate:.2%})"
    )
    for kind, stats in run.kinds.items():
        if stats.error_samples:
            classes = ", ".join(f"{code} x{n}" for code, n in stats.error_classes.items())
            lines.append(f"errors in {kind}: {classes}; first: {stats.error_samples[0]}")
    return "\n".join(lines)


def summary_table(runs: Sequence[RunResult]) -> Table:
    """One row per run: the session's end-of-run summary."""
    table = Table(title="flakebench results", title_justify="left")
    columns = ("test", "mode", "conns", "qps", "p50", "p95", "p99", "max", "errors", "verdict")
    for column in columns:
        table.add_column(column, justify="left" if column in ("test", "mode", "verdict")
                         else "right", overflow="fold", no_wrap=column != "test")
    for run in runs:
        o = run.overall
        verdict = run.verdict if run.status == "COMPLETED" else f"{run.verdict} ({run.status})"
        style = "green" if run.verdict == "PASSED" else "red"
        table.add_row(run.test, run.mode, str(run.connections), f"{o.qps:,.1f}",
                      format_us(o.latency.p50_us), format_us(o.latency.p95_us),
                      format_us(o.latency.p99_us), format_us(o.latency.max_us),
                      f"{o.errors} ({o.error_rate:.2%})", f"[{style}]{verdict}[/{style}]")
    return table


def progress_line(name: str, *, phase: str, elapsed_s: float, total_s: float, qps: float,
                  p95_us: int, errors: int, in_flight: int, workers: str = "") -> str:
    """One line of live progress."""
    parts = [f"flakebench {name}", phase, f"{elapsed_s:4.0f}s/{total_s:.0f}s",
             f"qps {qps:,.0f}", f"p95 {format_us(p95_us)}", f"errors {errors}",
             f"in-flight {in_flight}"]
    if workers:
        parts.append(workers)
    return "  ".join(parts)


def steps_table(run: RunResult) -> Table:
    """FIND_MAX: one row per step, and the search's outcome as the caption."""
    fm = run.find_max
    table = Table(title=f"find_max {run.test}", title_justify="left",
                  caption=f"best concurrency {fm.get('best_concurrency')} at "
                          f"{fm.get('best_qps')} qps; stopped: {fm.get('stop_reason')}",
                  caption_justify="left")
    for column in ("step", "conns", "qps", "p50", "p95", "p99", "errors", "outcome", "reason"):
        table.add_column(column, justify="left" if column in ("outcome", "reason") else "right",
                         overflow="fold")
    for step in run.steps:
        table.add_row(str(step["step"]) + (" (back-off)" if step["back_off"] else ""),
                      str(step["concurrency"]), f"{step['qps']:,.1f}",
                      format_us(step["p50_us"]), format_us(step["p95_us"]),
                      format_us(step["p99_us"]), str(step["errors"]), step["outcome"],
                      step["reason"])
    return table
