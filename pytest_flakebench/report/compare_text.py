"""Comparison tables (rich): one run against its baseline, and the session's comparisons.

Pure presentation, no pytest import; rendered with ``report.text.render`` so the same text is
the failure message, the JUnit XML message and the terminal summary.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from pytest_flakebench.compare.history import DEFAULT_PRIOR, MIN_RUNS
from pytest_flakebench.compare.verdict import (
    ALPHA,
    GROSS_FACTOR,
    GROSS_LIMITS,
    Comparison,
    MetricComparison,
)
from pytest_flakebench.hostnoise import (
    CALIBRATION_RATIO,
    EXPLAINS,
    OTHER_LOAD_CORES,
    STEAL_SHARE,
)
from pytest_flakebench.units import format_us

VERDICT_STYLE = {
    "REGRESSED": "bold red", "IMPROVED": "green", "UNCHANGED": "", "INCONCLUSIVE": "yellow",
    "NOT COMPARABLE": "magenta", "NO BASELINE": "dim",
}
METHOD = (f"REGRESSED = beyond the limit AND outside the last comparable runs (beyond all of "
          f"them and their 99% prediction bound, the runs' spread moderated by a prior: the "
          f"other tests' on the target, else {DEFAULT_PRIOR.sd:.0%} worth "
          f"{DEFAULT_PRIOR.df:g} runs; "
          f"with fewer than {MIN_RUNS} runs only beyond "
          f"x{GROSS_FACTOR:g} and {GROSS_LIMITS:g}x the limit) AND significant within the run "
          f"(one-sided Mann-Whitney U over window samples, p < {ALPHA:g}) AND not a change a "
          f"host difference could explain (hosts differ beyond calibration x"
          f"{CALIBRATION_RATIO:g}, other processes ±{OTHER_LOAD_CORES:g} cores or steal "
          f"±{STEAL_SHARE * 100:g}pp; a host H times slower explains up to {EXPLAINS:g}H)")


def format_value(metric: str, value: float) -> str:
    """A metric's value for humans: ``1.2ms``, ``5,120.3``, ``0.40%``."""
    if metric == "qps":
        return f"{value:,.1f}"
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    return format_us(value)


def _metric_row(m: MetricComparison) -> list[Text | str]:
    limit = m.threshold.describe() + ("" if m.threshold.gate else " (info)")
    p = "-" if m.p_value is None else f"{m.p_value:.3g}"
    return [m.metric, format_value(m.metric, m.baseline), format_value(m.metric, m.candidate),
            m.describe_change(), limit, m.describe_spread(), p,
            f"{m.samples[0]}/{m.samples[1]}",
            Text(m.verdict, style=VERDICT_STYLE.get(m.verdict, ""))]


def metrics_table(comparison: Comparison) -> Table:
    """Every metric: baseline, run, change, limit, history spread, p, samples, verdict."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("metric", "baseline", "run", "change", "limit", "history", "p", "samples",
                   "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "limit", "history",
                                                             "verdict") else "right",
                         no_wrap=True)
    for m in comparison.metrics:
        table.add_row(*_metric_row(m))
    return table


def headline(comparison: Comparison) -> str:
    """``flakebench: test run 1a2b3c4d REGRESSED against last comparable run (run 9f8e7d6c)``."""
    base = comparison.baseline_label
    if comparison.baseline_id and comparison.baseline_id[:8] not in base:
        base += f" (run {comparison.baseline_id[:8]})"
    return (f"flakebench: {comparison.test} run {comparison.candidate_id[:8]} "
            f"{comparison.verdict} against {base}")


def comparison_lines(comparison: Comparison, *, render_table: bool = True,
                     width: int = 120) -> list[str]:
    """The comparison as lines of text (the failing test's message)."""
    from pytest_flakebench.report.text import render

    lines = [headline(comparison)]
    if comparison.differences:
        lines.append("not comparable: " + "; ".join(d.describe() for d in comparison.differences))
    lines.append(f"why: {comparison.reason}")
    if comparison.metrics and render_table:
        lines.append(render(metrics_table(comparison), width=max(width, 120)))
        lines.extend(f"  {m.metric}: {m.verdict} — {m.reason}" for m in comparison.metrics)
        lines.append(f"samples: {comparison.sampling}; history: {comparison.history_runs} "
                     f"comparable run(s), the baseline included")
        lines.append(f"method: {METHOD}")
    lines.extend(f"server: {s}" for s in comparison.server)
    lines.extend(f"note: {n}" for n in comparison.notes)
    return lines


def comparison_message(comparison: Comparison, *, width: int = 120) -> str:
    """The text a regressed test fails with."""
    return "\n".join(comparison_lines(comparison, width=width))


def _change_cell(comparison: Comparison, metric: str) -> Text:
    for m in comparison.metrics:
        if m.metric == metric:
            return Text(m.describe_change(), style=VERDICT_STYLE.get(m.verdict, ""))
    return Text("-")


def _history_cell(comparison: Comparison) -> str:
    """The spread used for the deciding metric: ``p95 3 runs ±1.8%, bound +6.1%``."""
    scope = [m for m in comparison.metrics if m.threshold.gate] or list(comparison.metrics)
    for m in scope:
        if m.spread is not None:
            return f"{m.metric} {m.describe_spread()}"
    if not comparison.metrics:
        return "-"
    return f"{comparison.history_runs} run(s): fewer than {MIN_RUNS}"


def summary_table(comparisons: Sequence[Comparison]) -> Table:
    """One row per compared run: the session's comparison table, beside the run summary."""
    table = Table(title="flakebench comparisons", title_justify="left")
    table.add_column("test", overflow="fold")
    table.add_column("baseline", overflow="fold")
    for metric in ("qps", "p50", "p95", "p99", "error_rate"):
        table.add_column(f"Δ {metric}", justify="right", no_wrap=True)
    table.add_column("history", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("why", overflow="fold", min_width=30)
    for c in comparisons:
        why = "; ".join(x for x in (c.reason, *c.server) if x)
        base = c.baseline_label
        if c.baseline_id and c.baseline_id[:8] not in base:
            base += f" {c.baseline_id[:8]}"
        table.add_row(Text(c.test), Text(base),
                      *[_change_cell(c, m) for m in ("qps", "p50", "p95", "p99", "error_rate")],
                      Text(_history_cell(c)),
                      Text(c.verdict, style=VERDICT_STYLE.get(c.verdict, "")), Text(why))
    return table
