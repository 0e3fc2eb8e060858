"""The server's side of a run for humans: a table per run, summary lines, an HTML panel.

Pure presentation (rich and HTML text); used by the terminal summary, ``flakebench show`` and
the HTML report.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from pytest_flakebench.judge.results import KindStats, RunResult
from pytest_flakebench.units import format_us

if TYPE_CHECKING:
    from pytest_flakebench.compare.verdict import Comparison

COLUMNS = ("kind", "plan", "hash", "calls", "server mean", "client p50", "client−server",
           "hit/call", "read/call", "top wait")


def has_evidence(run: RunResult) -> bool:
    """True when the run carries plans or server figures."""
    return bool(run.server) or any(k.plan for k in run.kinds.values())


def _top(run: RunResult, kind: str) -> str:
    waits = ((run.server.get("waits") or {}).get("kinds") or {}).get(kind) or {}
    top = waits.get("top") or []
    return f"{top[0]['event']} {top[0]['share'] * 100:.0f}%" if top else "-"


def _signed_us(value: float) -> str:
    return "-" + format_us(-value) if value < 0 else format_us(value)


def kind_cells(run: RunResult, k: KindStats) -> list[str]:
    """One row of :data:`COLUMNS` for kind ``k``."""
    plan = k.plan
    shape = (plan.get("shape") or {}).get("summary") or (
        f"(no plan: {plan['error']})" if plan.get("error") else "-")
    s = k.server
    calls = int(s.get("calls", 0) or 0)
    history = ((run.server.get("history") or {}).get("kinds") or {}).get(k.kind) or {}
    if history:  # Snowflake: QUERY_HISTORY figures stand in for pg_stat_statements'
        calls = int(history.get("queries", 0))
        s = {"mean_exec_ms": history.get("mean_execution_ms", 0.0)}
    mean_us = float(s.get("mean_exec_ms", 0.0)) * 1000.0 if s else None

    def per_call(key: str) -> str:
        return f"{s[key] / calls:.1f}" if calls and key in s else "-"

    return [k.kind, str(shape), str(plan.get("hash", "-")), f"{calls:,}" if s else "-",
            format_us(mean_us) if mean_us is not None else "-", format_us(k.latency.p50_us),
            _signed_us(k.latency.p50_us - mean_us) if mean_us is not None else "-",
            per_call("shared_blks_hit"), per_call("shared_blks_read"), _top(run, k.kind)]


def server_table(run: RunResult) -> Table | None:
    """Plan, server time and waits per kind (None when the run has no evidence)."""
    if not has_evidence(run):
        return None
    table = Table(title=f"server: {run.test} run {run.run_id[:8]}", title_justify="left")
    for name in COLUMNS:
        wide = name in ("plan", "top wait")
        table.add_column(name, justify="left" if name in ("kind", "plan", "hash", "top wait")
                         else "right", overflow="fold", no_wrap=not wide,
                         min_width=36 if name == "plan" else None)
    for k in run.kinds.values():
        table.add_row(*[Text(c) for c in kind_cells(run, k)])
    return table


def run_lines(run: RunResult) -> list[str]:
    """The self-check verdict, the database-wide deltas and what could not be read."""
    if not run.server:
        return []
    lines: list[str] = []
    check = run.server.get("check") or {}
    if check.get("items"):
        verdict = "passed" if check.get("ok") else "MISMATCH"
        lines.append(f"self-check {verdict}: " + "; ".join(
            f"{i['what']} {i['harness']:,}/{i['server']:,}" for i in check["items"])
            + " (harness/server, warmup included)")
    lines.extend(check.get("mismatches") or [])
    lines.extend(f"self-check skipped: {s}" for s in check.get("skipped") or [])
    db = run.server.get("database") or {}
    if db:
        lines.append("database (every session, not only this run's): "
                     f"deadlocks {int(db.get('deadlocks', 0))}, temp files "
                     f"{int(db.get('temp_files', 0))}, blocks read {int(db.get('blks_read', 0)):,}"
                     f", hit {int(db.get('blks_hit', 0)):,}")
    waits = run.server.get("waits") or {}
    if waits.get("top"):
        lines.append("top waits (share of active samples, every "
                     f"{waits.get('interval_ms', 100):g} ms): " + ", ".join(
                         f"{w['event']} {w['share'] * 100:.0f}%" for w in waits["top"][:3]))
    session = run.server.get("session") or {}
    if session:
        lines.append("session: " + ", ".join(f"{k}={v}" for k, v in session.items()))
    return lines


def session_notes(runs: Iterable[RunResult]) -> list[str]:
    """Notes said once per session (e.g. how to enable pg_stat_statements), in order."""
    seen: list[str] = []
    for run in runs:
        for note in run.server.get("notes") or []:
            if note not in seen:
                seen.append(note)
    return seen


def _esc(value: object) -> str:
    return html.escape(str(value))


def server_panel(runs: Sequence[RunResult], comparisons: Sequence[Comparison] = ()) -> str:
    """The HTML report's server panel: per run the table above, then what changed."""
    shown = [r for r in runs if has_evidence(r)]
    if not shown:
        return ""
    parts = ["<h3>server</h3>"]
    for c in comparisons:
        if c.server:
            parts.append(f"<p><b>what changed server side</b> ({_esc(c.verdict)}):</p><ul>"
                         + "".join(f"<li>{_esc(s)}</li>" for s in c.server) + "</ul>")
    head = "".join(f"<th>{_esc(c)}</th>" for c in ("run", *COLUMNS))
    rows = []
    for run in shown:
        for k in run.kinds.values():
            cells: list[Any] = [run.run_id[:8], *kind_cells(run, k)]
            rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
    for run in shown:
        lines = [*run_lines(run), *(run.server.get("notes") or [])]
        if lines:
            parts.append(f"<p>{_esc(run.run_id[:8])}:</p><ul>"
                         + "".join(f"<li>{_esc(line)}</li>" for line in lines) + "</ul>")
    return "".join(parts)




def kind_line(run: RunResult, k: KindStats) -> str:
    """One kind on one line (terminals of any width; logs are grepped for these)."""
    kind, plan, phash, calls, mean, p50, gap, hit, read, wait = kind_cells(run, k)
    parts = [f"plan {plan}" + (f" [{phash}]" if phash != "-" else "")]
    if calls != "-":
        parts.append(f"calls {calls}, server mean {mean} vs client p50 {p50} ({gap} network, "
                     f"driver and harness)")
    if hit != "-":
        parts.append(f"blocks/call hit {hit} read {read}")
    if wait != "-":
        parts.append(f"top wait {wait}")
    return f"  {kind}: " + "; ".join(parts)


def evidence_summary(runs: Sequence[RunResult], *, width: int, color: bool) -> list[str]:
    """The terminal summary's server part: per run a line per kind and its checks, then the
    session's notes once. (``width``/``color`` kept for a table form on wide terminals.)"""
    lines: list[str] = []
    for run in runs:
        if not has_evidence(run):
            continue
        lines.append(f"server: {run.test} run {run.run_id[:8]}")
        lines.extend(kind_line(run, k) for k in run.kinds.values())
        lines.extend(f"  {line}" for line in run_lines(run))
    lines.extend(f"note: {n}" for n in session_notes(runs))
    return lines


__all__ = ["evidence_summary", "has_evidence", "kind_cells", "kind_line", "run_lines",
           "server_panel", "server_table", "session_notes"]
