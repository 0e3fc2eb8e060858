"""Parsing of the human units templates use: durations, latencies and rates.

Durations and latencies accept ``"30s"``, ``"250ms"``, ``"2m"``, ``"1h"``, ``"500us"`` or a bare
number of seconds; rates accept ``"0.5%"`` or a fraction such as ``0.005``. Values are kept as
integers on the wire: latencies in microseconds, durations in seconds as floats.
"""

from __future__ import annotations

import math
import re

from pytest_flakebench.excerpt import excerpt

MAX_DURATION_S = 24 * 3600.0
"""The longest duration a template may give (``duration``, ``warmup``, find_max budgets)."""
MAX_LATENCY_S = 3600.0
"""The longest latency limit (and pause): the HDR histograms record up to one hour."""

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)?\s*$")
_FACTORS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

DURATION_HELP = "a duration such as '30s', '250ms', '2m' or a number of seconds"
LATENCY_HELP = "a latency such as '20ms', '500us' or '1.5s'"
RATE_HELP = "a rate such as '0.5%' or a fraction between 0 and 1 such as 0.005"


def _longest(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


def parse_duration_s(value: object, *, maximum: float = MAX_DURATION_S) -> float:
    """Return ``value`` as seconds in ``[0, maximum]``; raise ``ValueError`` naming the accepted
    forms (and the bound) otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {DURATION_HELP}, got {excerpt(value)}")
    if isinstance(value, str):
        match = _DURATION_RE.match(value) if len(value) <= 64 else None
        if match is None:
            raise ValueError(f"expected {DURATION_HELP}, got {excerpt(value)}")
        seconds = float(match.group(1)) * _FACTORS_S[match.group(2)]
    else:
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond a float's range
            seconds = math.inf
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"expected a finite, non-negative duration, got {excerpt(value)}")
    if seconds > maximum:
        raise ValueError(f"expected a duration of at most {_longest(maximum)}, got "
                         f"{excerpt(value)}: give e.g. '30s' or '10m'")
    return seconds


def parse_latency_us(value: object, *, maximum: float = MAX_LATENCY_S) -> int:
    """Return a latency limit in whole microseconds, at most ``maximum`` seconds (a bare number
    means seconds)."""
    if isinstance(value, str) and (len(value) > 64 or not _DURATION_RE.match(value)):
        raise ValueError(f"expected {LATENCY_HELP}, got {excerpt(value)}")
    try:
        seconds = parse_duration_s(value, maximum=math.inf)
    except ValueError:
        raise ValueError(f"expected {LATENCY_HELP}, got {excerpt(value)}") from None
    if seconds > maximum:
        raise ValueError(f"expected a latency of at most {_longest(maximum)} (the longest the "
                         f"histograms record), got {excerpt(value)}")
    return round(seconds * 1_000_000)


def parse_rate(value: object) -> float:
    """Return a rate as a fraction in [0, 1]."""
    if isinstance(value, bool):
        raise ValueError(f"expected {RATE_HELP}, got {excerpt(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) > 64:
                raise ValueError(text)
            rate = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"expected {RATE_HELP}, got {excerpt(value)}") from None
    elif isinstance(value, int | float):
        try:
            rate = float(value)
        except OverflowError:
            rate = math.inf
    else:
        raise ValueError(f"expected {RATE_HELP}, got {excerpt(value)}")
    if not 0.0 <= rate <= 1.0:  # NaN fails both comparisons
        raise ValueError(f"expected {RATE_HELP}, got {excerpt(value)} (out of range)")
    return rate


def format_us(value_us: float) -> str:
    """Render microseconds the way people read latencies: 850us, 12.3ms, 1.20s."""
    if value_us < 1000:
        return f"{value_us:.0f}us"
    if value_us < 1_000_000:
        return f"{value_us / 1000:.3g}ms" if value_us < 100_000 else f"{value_us / 1000:.0f}ms"
    if value_us < 1_000_000_000:
        return f"{value_us / 1_000_000:.3g}s"
    return f"{value_us / 1_000_000:.0f}s"  # never scientific notation


def format_duration_s(seconds: float) -> str:
    """Render seconds compactly: 30s, 2m30s, 250ms."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:g}s" if rest else f"{int(minutes)}m"
