"""Regression thresholds: ``p95:+10%,qps:-5%`` (command line) and ``{"p95": "+10%"}`` (template).

A threshold is the change against the baseline that is still allowed. Latencies (``p50`` …
``p999``, ``max``) regress when they rise, ``qps`` when it falls; the sign, if written, must say
the same. ``error_rate`` is a rate already, so its threshold is an absolute change in percentage
points (``error_rate:+0.5%`` allows 1.0% → 1.5%).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# +1: a rise is worse; -1: a fall is worse.
DIRECTION: dict[str, int] = {
    "p50": 1, "p90": 1, "p95": 1, "p99": 1, "p999": 1, "max": 1, "qps": -1, "error_rate": 1,
}
METRICS: tuple[str, ...] = tuple(DIRECTION)
DISPLAY_METRICS: tuple[str, ...] = ("qps", "p50", "p95", "p99", "error_rate")
DEFAULT_LIMIT = 0.10  # what "changed" means for metrics without a threshold (not a gate)


class ThresholdError(ValueError):
    """A threshold that cannot be understood; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """The allowed change of one metric, in its worse direction."""

    metric: str
    limit: float  # relative (0.10 = 10%), or absolute for error_rate
    gate: bool = True  # False: shown for information only, never fails a test

    @property
    def direction(self) -> int:
        """+1 when a rise is worse, -1 when a fall is worse."""
        return DIRECTION[self.metric]

    @property
    def absolute(self) -> bool:
        """True when the limit is an absolute change (error_rate), not a relative one."""
        return self.metric == "error_rate"

    def describe(self) -> str:
        """``+10%``, ``-5%``, ``+0.5pp``."""
        sign = "+" if self.direction > 0 else "-"
        if self.absolute:
            return f"{sign}{self.limit * 100:g}pp"
        return f"{sign}{self.limit * 100:g}%"


def _example(metric: str) -> str:
    return "qps:-5%" if DIRECTION.get(metric, 1) < 0 else f"{metric}:+10%"


def parse_limit(metric: str, text: object) -> Threshold:
    """One metric's allowed change, e.g. ``("p95", "+10%")``."""
    if metric not in DIRECTION:
        raise ThresholdError(f"unknown regression metric {metric!r}: metrics are "
                             f"{', '.join(METRICS)} (e.g. p95:+10%,qps:-5%)")
    raw = str(text).strip().replace(" ", "")
    if not raw.endswith("%"):
        raise ThresholdError(f"regression limit {metric}={text!r}: write a percentage, "
                             f"e.g. {_example(metric)}")
    body = raw[:-1]
    sign = 0
    if body[:1] in "+-" and body:
        sign = 1 if body[0] == "+" else -1
        body = body[1:]
    try:
        value = float(body) / 100
    except ValueError:
        raise ThresholdError(f"regression limit {metric}={text!r}: not a percentage, "
                             f"e.g. {_example(metric)}") from None
    if value < 0 or value != value:  # negative after the sign, or NaN
        raise ThresholdError(f"regression limit {metric}={text!r}: expected e.g. "
                             f"{_example(metric)}")
    direction = DIRECTION[metric]
    if sign and sign != direction:
        worse = "rises" if direction > 0 else "falls"
        raise ThresholdError(
            f"regression limit {metric}={text!r}: {metric} regresses when it {worse}, so the "
            f"allowed change is written {'+' if direction > 0 else '-'}{body}%"
        )
    return Threshold(metric=metric, limit=value)


def parse_spec(text: str) -> dict[str, Threshold]:
    """``p95:+10%,qps:-5%`` → thresholds by metric."""
    found: dict[str, Threshold] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        metric, sep, limit = part.partition(":")
        if not sep:
            metric, sep, limit = part.partition("=")
        if not sep:
            raise ThresholdError(f"regression limit {part!r}: write METRIC:CHANGE, "
                                 f"e.g. p95:+10%,qps:-5%")
        threshold = parse_limit(metric.strip(), limit)
        found[threshold.metric] = threshold
    if not found:
        raise ThresholdError("no regression limit given: write e.g. p95:+10%,qps:-5%")
    return found


def from_mapping(limits: Mapping[str, object]) -> dict[str, Threshold]:
    """``{"p95": "+10%", "qps": "-5%"}`` → thresholds by metric (None values are skipped)."""
    return {m: parse_limit(m, v) for m, v in limits.items() if v is not None}
