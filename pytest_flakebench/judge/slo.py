"""SLO verdicts: every limit of a template checked against the merged measurement."""

from __future__ import annotations

from pytest_flakebench.judge.results import KindStats, SLOCheck
from pytest_flakebench.template.model import LimitSet, SLOSpec


def _check_scope(scope: str, limits: LimitSet, stats: KindStats,
                 best: tuple[int, float] | None = None) -> list[SLOCheck]:
    checks: list[SLOCheck] = []
    for metric, limit in limits.limits().items():
        if metric == "kinds":
            continue
        if metric == "min_concurrency":
            # find_max: the best concurrency found (0 when the mode found none)
            measured = float(best[0]) if best else 0.0
            checks.append(SLOCheck(scope=scope, metric=metric, limit=float(limit),
                                   measured=measured, ok=measured >= limit))
            continue
        measured = stats.metric(metric)
        if metric == "min_qps" and best is not None and scope == "overall":
            measured = best[1]  # find_max: the best step's QPS, not the average over steps
        if metric == "min_qps":
            ok = measured >= limit
        elif metric in ("error_rate", "max_late", "max_miss"):
            ok = measured <= limit
        else:
            # A latency limit over no successful operation proves nothing: it is a breach.
            ok = stats.ops > 0 and measured <= limit
        checks.append(SLOCheck(scope=scope, metric=metric, limit=float(limit),
                               measured=float(measured), ok=ok))
    return checks


def evaluate(slo: SLOSpec, overall: KindStats, kinds: dict[str, KindStats], *,
             best: tuple[int, float] | None = None) -> tuple[SLOCheck, ...]:
    """Check the overall limits, then each kind's; one ``SLOCheck`` per limit, in order.

    ``best`` is find_max's ``(best concurrency, its QPS)``: ``min_concurrency`` and the overall
    ``min_qps`` are judged on it.
    """
    checks = _check_scope("overall", slo, overall, best)
    for kind, limits in slo.kinds.items():
        stats = kinds.get(kind)
        if stats is not None:
            checks.extend(_check_scope(kind, limits, stats))
    return tuple(checks)


def errors_not_allowed(slo: SLOSpec, overall: KindStats,
                       kinds: dict[str, KindStats]) -> tuple[SLOCheck | None, str]:
    """An error fails a run as it fails a test, unless an ``error_rate`` SLO allows it.

    Kinds with an ``error_rate`` limit of their own are judged by it; without an overall
    limit, any other failed operation is a breach of an implicit ``error_rate <= 0``. Returns
    that check and a message saying how many failed, of which class, and how to allow them.
    """
    if slo.error_rate is not None:
        return None, ""
    allowed = {k for k, limits in slo.kinds.items() if limits.error_rate is not None}
    failing = {k: s for k, s in kinds.items() if s.errors and k not in allowed}
    if not failing:
        return None, ""
    errors = sum(s.errors for s in failing.values())
    classes: dict[str, int] = {}
    for stats in failing.values():
        for code, n in stats.error_classes.items():
            classes[code] = classes.get(code, 0) + n
    shown = ", ".join(f"{code} x{n}" for code, n in sorted(classes.items(),
                                                           key=lambda item: -item[1]))
    sample = next((s.error_samples[0] for s in failing.values() if s.error_samples), "")
    check = SLOCheck(scope="overall", metric="error_rate", limit=0.0,
                     measured=overall.error_rate, ok=False)
    message = (f"ERRORS_NOT_ALLOWED: {errors} operation(s) failed ({shown}) in {', '.join(failing)}"
               + (f"; first: {sample}" if sample else "")
               + "; no error_rate SLO allows errors, so the run fails: allow them with "
                 "slo={\"error_rate\": \"1%\"} (or per kind, {\"insert\": {\"error_rate\": "
                 "\"1%\"}})")
    return check, message


def describe(check: SLOCheck) -> tuple[str, str, str]:
    """``(limit, measured, margin)`` as people read them: ``20ms``, ``31.2ms``, ``+56%``."""
    from pytest_flakebench.units import format_us

    if check.metric in ("error_rate", "max_late", "max_miss"):
        limit, measured = f"{check.limit:.2%}", f"{check.measured:.2%}"
        margin = f"{(check.measured - check.limit) * 100:+.2f} pts"
    elif check.metric == "min_qps":
        limit, measured = f">= {check.limit:g}/s", f"{check.measured:.1f}/s"
        margin = _relative(check.measured, check.limit)
    elif check.metric == "min_concurrency":
        limit, measured = f">= {check.limit:g}", f"{check.measured:g}"
        margin = _relative(check.measured, check.limit)
    else:
        limit, measured = f"<= {format_us(check.limit)}", format_us(check.measured)
        margin = _relative(check.measured, check.limit)
    return limit, measured, margin


def _relative(measured: float, limit: float) -> str:
    if limit == 0:
        return "n/a"
    return f"{(measured - limit) / limit:+.1%}"
