"""SLO verdicts: every limit of a template checked against the merged measurement."""

from __future__ import annotations

from pytest_flakebench.results import KindStats, SLOCheck
from pytest_flakebench.template import LimitSet, SLOSpec


def _check_scope(scope: str, limits: LimitSet, stats: KindStats) -> list[SLOCheck]:
    checks: list[SLOCheck] = []
    for metric, limit in limits.limits().items():
        if metric == "kinds":
            continue
        measured = stats.metric(metric)
        if metric == "min_qps":
            ok = measured >= limit
        elif metric == "error_rate":
            ok = measured <= limit
        else:
            # A latency limit over no successful operation proves nothing: it is a breach.
            ok = stats.ops > 0 and measured <= limit
        checks.append(SLOCheck(scope=scope, metric=metric, limit=float(limit),
                               measured=float(measured), ok=ok))
    return checks


def evaluate(slo: SLOSpec, overall: KindStats, kinds: dict[str, KindStats]) -> tuple[SLOCheck, ...]:
    """Check the overall limits, then each kind's; one ``SLOCheck`` per limit, in order."""
    checks = _check_scope("overall", slo, overall)
    for kind, limits in slo.kinds.items():
        stats = kinds.get(kind)
        if stats is not None:
            checks.extend(_check_scope(kind, limits, stats))
    return tuple(checks)


def describe(check: SLOCheck) -> tuple[str, str, str]:
    """``(limit, measured, margin)`` as people read them: ``20ms``, ``31.2ms``, ``+56%``."""
    from pytest_flakebench.units import format_us

    if check.metric == "error_rate":
        limit, measured = f"{check.limit:.2%}", f"{check.measured:.2%}"
        margin = f"{(check.measured - check.limit) * 100:+.2f} pts"
    elif check.metric == "min_qps":
        limit, measured = f">= {check.limit:g}/s", f"{check.measured:.1f}/s"
        margin = _relative(check.measured, check.limit)
    else:
        limit, measured = f"<= {format_us(check.limit)}", format_us(check.measured)
        margin = _relative(check.measured, check.limit)
    return limit, measured, margin


def _relative(measured: float, limit: float) -> str:
    if limit == 0:
        return "n/a"
    return f"{(measured - limit) / limit:+.1%}"
