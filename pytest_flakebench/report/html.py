"""The self-contained HTML report: runs side by side (up to 5), charts drawn with plotly.

One file that opens offline: plotly's JavaScript is inlined once in ``<head>`` and every chart is
a ``<div>`` drawn by it. Per section (a run and its baseline, or the runs given to
``flakebench report``): QPS and errors over time, p50/p95/p99 over time (from the per-second
snapshots), the percentile spectrum per kind (from the stored HDR histograms), the template and
the fingerprint side by side, the SLO checks and the comparison verdicts.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_flakebench.compare.samples import per_second
from pytest_flakebench.compare.verdict import Comparison
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.report.compare_text import VERDICT_STYLE, format_value
from pytest_flakebench.report.files import write_report_file
from pytest_flakebench.units import format_us

MAX_SIDE_BY_SIDE = 5
ALL_PHASES = ("WARMUP", "MEASUREMENT", "COOLDOWN")
SPECTRUM = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0)
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.num{text-align:right} pre{margin:0;font-size:.85em}
.REGRESSED{color:#c00;font-weight:bold}.IMPROVED{color:#080}.INCONCLUSIVE{color:#a60}
.NOT-COMPARABLE{color:#909}.FAILED{color:#c00;font-weight:bold}.PASSED{color:#080}
.chart{min-height:360px} tr.differs td{background:#fff3cd}
"""


def _label(run: RunResult) -> str:
    return f"{run.run_id[:8]} {run.test.rsplit('::', 1)[-1]}"


def _figure_html(fig: Any, div_id: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           config={"displayModeBar": False, "responsive": True}))


def _time_charts(runs: Sequence[RunResult], key: str) -> list[str]:
    import plotly.graph_objects as go

    qps, errors, latency = go.Figure(), go.Figure(), go.Figure()
    for i, run in enumerate(runs):
        color = _COLORS[i % len(_COLORS)]
        s = per_second(run, phases=ALL_PHASES)
        name = _label(run)
        qps.add_trace(go.Scatter(x=s.elapsed_s, y=s.of("qps"), name=name, mode="lines+markers",
                                 line={"color": color}))
        errors.add_trace(go.Bar(x=s.elapsed_s, y=s.of("errors"), name=name,
                                marker={"color": color}))
        for pct, dash in (("p50", "dot"), ("p95", "solid"), ("p99", "dash")):
            latency.add_trace(go.Scatter(
                x=s.elapsed_s, y=[v / 1000 for v in s.of(pct)], name=f"{pct} {name}",
                mode="lines", line={"color": color, "dash": dash}))
    qps.update_layout(title="QPS per second", xaxis_title="elapsed (s)", yaxis_title="ops/s")
    errors.update_layout(title="errors per second", xaxis_title="elapsed (s)",
                         yaxis_title="errors", barmode="group")
    latency.update_layout(title="p50 / p95 / p99 per second", xaxis_title="elapsed (s)",
                          yaxis_title="latency (ms)")
    return [_figure_html(f, f"{key}-{n}") for n, f in
            (("qps", qps), ("errors", errors), ("latency", latency))]


def _spectrum_charts(runs: Sequence[RunResult], key: str) -> list[str]:
    import plotly.graph_objects as go

    kinds: list[str] = []
    for run in runs:
        kinds.extend(k for k in run.kinds if k not in kinds)
    charts = []
    ticks = [1.0, 2.0, 10.0, 100.0, 1000.0, 10000.0]
    for n, kind in enumerate(["overall", *kinds]):
        fig = go.Figure()
        for i, run in enumerate(runs):
            stats = run.overall if kind == "overall" else run.kinds.get(kind)
            if stats is None or not stats.ops:
                continue
            values = stats.hist().spectrum(list(SPECTRUM))
            x = [1 / (1 - p / 100) if p < 100 else 1e5 for p in SPECTRUM]
            fig.add_trace(go.Scatter(
                x=x, y=[values[p] / 1000 for p in SPECTRUM], name=_label(run),
                mode="lines+markers", line={"color": _COLORS[i % len(_COLORS)]},
                text=[f"p{p:g}" for p in SPECTRUM], hovertemplate="%{text}: %{y:.3f} ms"))
        fig.update_layout(title=f"percentile spectrum: {kind}", yaxis_title="latency (ms)",
                          xaxis={"type": "log", "title": "percentile", "tickvals": ticks,
                                 "ticktext": ["p0", "p50", "p90", "p99", "p99.9", "p99.99"]})
        charts.append(_figure_html(fig, f"{key}-spectrum-{n}"))
    return charts


def _esc(value: object) -> str:
    return html.escape(str(value))


def _side_by_side(title: str, runs: Sequence[RunResult],
                  pick: Any) -> str:
    dicts: list[Mapping[str, Any]] = [pick(r) for r in runs]
    keys: list[str] = []
    for d in dicts:
        keys.extend(k for k in d if k not in keys)
    head = "".join(f"<th>{_esc(_label(r))}</th>" for r in runs)
    rows = []
    for key in keys:
        values = [d.get(key) for d in dicts]
        shown = [v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
                 for v in values]
        differs = len(set(shown)) > 1
        cells = "".join(f"<td><pre>{_esc(v)}</pre></td>" for v in shown)
        mark = " class=differs" if differs else ""
        rows.append(f"<tr{mark}><th>{_esc(key)}</th>{cells}</tr>")
    return (f"<h3>{_esc(title)}</h3><table><tr><th></th>{head}</tr>{''.join(rows)}</table>")


def _summary(runs: Sequence[RunResult]) -> str:
    head = ("<tr><th>run</th><th>test</th><th>status</th><th>verdict</th><th>conns</th>"
            "<th>qps</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>errors</th></tr>")
    rows = []
    for r in runs:
        o = r.overall
        rows.append(
            f"<tr><td>{_esc(r.run_id[:12])}</td><td>{_esc(r.test)}</td><td>{_esc(r.status)}</td>"
            f"<td class='{_esc(r.verdict)}'>{_esc(r.verdict)}</td><td class=num>{r.connections}"
            f"</td><td class=num>{o.qps:,.1f}</td><td class=num>{format_us(o.latency.p50_us)}"
            f"</td><td class=num>{format_us(o.latency.p95_us)}</td><td class=num>"
            f"{format_us(o.latency.p99_us)}</td><td class=num>{format_us(o.latency.max_us)}</td>"
            f"<td class=num>{o.errors} ({o.error_rate:.2%})</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>{_costs(runs)}"


def _costs(runs: Sequence[RunResult]) -> str:
    """Snowflake runs: warehouse credits (and currency) per run."""
    from pytest_flakebench.judge.cost import RunCost

    rows = [f"<tr><td>{_esc(r.run_id[:12])}</td><td>{_esc(r.test)}</td>"
            f"<td>{_esc(RunCost(**r.cost).describe())}</td></tr>" for r in runs if r.cost]
    if not rows:
        return ""
    return ("<h3>Cost</h3><table><tr><th>run</th><th>test</th><th>warehouse credits</th></tr>"
            f"{''.join(rows)}</table>")


def _slo(runs: Sequence[RunResult]) -> str:
    rows = [f"<tr><td>{_esc(r.run_id[:8])}</td><td>{_esc(c.scope)}</td><td>{_esc(c.metric)}"
            f"</td><td class=num>{c.limit:g}</td><td class=num>{c.measured:g}</td>"
            f"<td class='{'PASSED' if c.ok else 'FAILED'}'>{'ok' if c.ok else 'BREACHED'}</td>"
            f"</tr>" for r in runs for c in r.slo]
    if not rows:
        return "<p>no SLO limits</p>"
    return ("<table><tr><th>run</th><th>scope</th><th>metric</th><th>limit</th>"
            f"<th>measured</th><th>verdict</th></tr>{''.join(rows)}</table>")


def _comparisons(comparisons: Sequence[Comparison]) -> str:
    if not comparisons:
        return ""
    parts = ["<h3>regression verdicts</h3>"]
    for c in comparisons:
        css = c.verdict.replace(" ", "-")
        parts.append(f"<p><b>{_esc(c.test)}</b> run {_esc(c.candidate_id[:8])} against "
                     f"{_esc(c.baseline_label)}: <span class='{css}'>{_esc(c.verdict)}</span>"
                     "</p>")
        if c.differences:
            parts.append("<ul>" + "".join(f"<li>not comparable: {_esc(d.describe())}</li>"
                                          for d in c.differences) + "</ul>")
        if c.metrics:
            rows = "".join(
                f"<tr><td>{_esc(m.metric)}</td><td class=num>"
                f"{_esc(format_value(m.metric, m.baseline))}</td><td class=num>"
                f"{_esc(format_value(m.metric, m.candidate))}</td><td class=num>"
                f"{_esc(m.describe_change())}</td><td>{_esc(m.threshold.describe())}"
                f"{'' if m.threshold.gate else ' (info)'}</td><td class=num>"
                f"{'-' if m.p_value is None else f'{m.p_value:.3g}'}</td>"
                f"<td>{_esc(m.describe_spread())}</td>"
                f"<td class='{m.verdict}'>{_esc(m.verdict)}</td><td>{_esc(m.reason)}</td></tr>"
                for m in c.metrics)
            parts.append("<table><tr><th>metric</th><th>baseline</th><th>run</th><th>change</th>"
                         "<th>limit</th><th>p</th><th>history</th><th>verdict</th><th>why</th>"
                         f"</tr>{rows}</table>")
        parts.extend(f"<p>note: {_esc(n)}</p>" for n in c.notes)
    return "".join(parts)


def render_section(title: str, runs: Sequence[RunResult],
                   comparisons: Sequence[Comparison] = (), *, key: str = "s0") -> str:
    """One section: up to five runs side by side."""
    if len(runs) > MAX_SIDE_BY_SIDE:
        raise ValueError(f"at most {MAX_SIDE_BY_SIDE} runs side by side, got {len(runs)}")
    from pytest_flakebench.evidence.report import server_panel

    parts = [f"<section><h2>{_esc(title)}</h2>", _summary(runs), _comparisons(comparisons),
             server_panel(runs, comparisons),
             "<h3>over time</h3>", *(f"<div class=chart>{c}</div>"
                                     for c in _time_charts(runs, key)),
             "<h3>percentile spectrum per kind</h3>",
             *(f"<div class=chart>{c}</div>" for c in _spectrum_charts(runs, key)),
             "<h3>SLO</h3>", _slo(runs),
             _side_by_side("template", runs, lambda r: r.template),
             _side_by_side("fingerprint", runs, lambda r: r.fingerprint), "</section>"]
    return "\n".join(parts)


def render_report(sections: Sequence[tuple[str, Sequence[RunResult], Sequence[Comparison]]],
                  *, title: str = "flakebench report") -> str:
    """The whole page: plotly's JavaScript inlined once, then every section."""
    from plotly.offline import get_plotlyjs

    body = "\n".join(render_section(t, runs, comps, key=f"s{i}")
                     for i, (t, runs, comps) in enumerate(sections))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script>"
            f"</head><body><h1>{_esc(title)}</h1>{body}</body></html>")


def write_report(path: Path, text: str) -> None:
    """Write the report atomically, 0644 (it is shared as a CI artifact)."""
    write_report_file(path, text)


def write_session_report(path: Path, runs: Sequence[RunResult],
                         comparisons: Sequence[Comparison],
                         baselines: Mapping[str, RunResult]) -> None:
    """``--flakebench-html``: one section per run, beside its baseline when it has one."""
    by_run = {c.candidate_id: c for c in comparisons}
    sections: list[tuple[str, Sequence[RunResult], Sequence[Comparison]]] = []
    for run in runs:
        c = by_run.get(run.run_id)
        base = baselines.get(c.baseline_id) if c is not None and c.baseline_id else None
        shown = [base, run] if base is not None else [run]
        sections.append((run.test, shown, [c] if c is not None else []))
    write_report(path, render_report(sections, title="flakebench session report"))


__all__ = ["MAX_SIDE_BY_SIDE", "VERDICT_STYLE", "render_report", "render_section",
           "write_report", "write_session_report"]
