"""Plain-text and rich renderings of results: breach tables, summary table, progress line.

Pure presentation: no pytest import. Rich renders to a string at a given width, so the same
table serves the terminal, the failure message and JUnit XML.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from pytest_flakebench.judge.results import KindStats, RunResult
from pytest_flakebench.judge.slo import describe
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
        f"{max(run.connections, run.connections_used)} connection(s), "
        f"p50 {format_us(o.latency.p50_us)}, "
        f"p95 {format_us(o.latency.p95_us)}, p99 {format_us(o.latency.p99_us)}, "
        f"errors {o.errors} ({o.error_rate:.2%})"
    )
    for kind, stats in run.kinds.items():
        if stats.error_samples:
            classes = ", ".join(f"{code} x{n}" for code, n in stats.error_classes.items())
            lines.append(f"errors in {kind}: {classes}; first: {stats.error_samples[0]}; "
                         f"failed operations p99 {format_us(stats.error_p99_us)}, max "
                         f"{format_us(stats.error_max_us)}")
        if stats.misses:
            lines.append(f"misses in {kind}: {stats.misses} of {stats.ops} successful "
                         f"operation(s) touched no row ({stats.miss_rate:.2%})")
    return "\n".join(lines)


SUMMARY_TITLE = "flakebench results"
NARROW = 100  # below this many columns the summary leaves out ``max``
KIND_WIDTH = 14


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut in the middle to at most ``width`` characters, never wrapped.

    Test ids keep their file at the start and the test's own name at the end, which is what
    tells two tests apart; the middle (folders, long class names) is what can go.
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + text[-tail:] if tail else text[:head] + "…"


def _figures(stats: KindStats, *, wide: bool, extra: Sequence[str]) -> list[str]:
    lat = stats.latency
    misses = int(getattr(stats, "misses", 0))
    cells = [f"{stats.ops:,}", f"{stats.qps:,.1f}", format_us(lat.p50_us),
             format_us(lat.p95_us), format_us(lat.p99_us)]
    if wide:
        cells.append(format_us(lat.max_us))
    cells.append(f"{stats.errors:,} ({stats.error_rate:.2%})" if stats.errors else "0")
    cells.append(f"{misses:,}")
    return cells + list(extra)


def summary_lines(runs: Sequence[RunResult], *, width: int = 120,
                  extra_columns: Sequence[str] = (),
                  extra_cells: Sequence[Sequence[str]] = ()) -> list[str]:
    """The end-of-session summary: a line per test, an indented row per kind and ``overall``.

    Plain fixed-width text, laid out for ``width`` columns: names are shortened in the middle,
    never wrapped, so the table reads the same at 80 columns and in a 200-column CI log.
    ``extra_columns``/``extra_cells`` (one sequence per run) come from the
    ``pytest_flakebench_summary_row`` hook and are shown after the built-in figures.
    """
    wide = width >= NARROW
    headers = ["ops", "qps", "p50", "p95", "p99"] + (["max"] if wide else []) + [
        "errors", "misses", *extra_columns]
    rows: list[tuple[int, list[str]]] = []  # (run index, cells) with the kind name first
    for index, run in enumerate(runs):
        extra = list(extra_cells[index]) if index < len(extra_cells) else []
        extra += [""] * (len(extra_columns) - len(extra))
        rows.append((index, ["overall", *_figures(run.overall, wide=wide, extra=extra)]))
        if len(run.kinds) > 1:
            blank = [""] * len(extra_columns)
            rows.extend((index, [kind, *_figures(stats, wide=wide, extra=blank)])
                        for kind, stats in run.kinds.items())
    widths = [max([len(h), *(len(cells[i + 1]) for _, cells in rows)])
              for i, h in enumerate(headers)]
    kind_width = min(KIND_WIDTH, max([4, *(len(cells[0]) for _, cells in rows)]))

    def line(name: str, cells: Sequence[str]) -> str:
        figures = "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        return f"  {shorten_middle(name, kind_width).ljust(kind_width)}  {figures}"

    out = [SUMMARY_TITLE, line("kind", headers)]
    for index, run in enumerate(runs):
        verdict = run.verdict if run.status == "COMPLETED" else f"{run.verdict} ({run.status})"
        conns = str(run.connections)
        if run.connections_used > run.connections:  # qps mode grew: show what was used
            conns = f"{run.connections}→{run.connections_used}"
        tail = f"  {run.mode}  {conns} conns  {verdict}"
        out.append(shorten_middle(run.test, max(20, width - len(tail))) + tail)
        out.extend(line(cells[0], cells[1:]) for i, cells in rows if i == index)
    return out


# Notes printed under the summary table too (not only in the JSON or a failure message): the
# harness could not give the load asked, or the client itself capped the figures.
PRINTED_NOTES = ("BOUNDS_LIMIT_REACHED", "RATE_NOT_HELD", "CLIENT_BOUND", "UNAVAILABLE",
                 "ERRORS_NOT_ALLOWED", "OPERATIONS_NOT_REACHED")


def summary_notes(runs: Sequence[RunResult]) -> list[str]:
    """Every note of ``PRINTED_NOTES`` kind, as ``test: note`` lines."""
    return [f"{run.test}: {m}" for run in runs for m in run.messages
            if any(tag in m for tag in PRINTED_NOTES)]


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
