"""Value types shared by the template models: durations, latencies, rates, names."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, PlainSerializer

from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.identifiers import TableName, check_identifier
from pytest_flakebench.template.targets import check_target
from pytest_flakebench.units import (
    MAX_LATENCY_S,
    parse_duration_s,
    parse_latency_us,
    parse_rate,
)

# Bounds on every number a template takes (stated in the README, "Bounds"): a value beyond them
# is a typo or an attack, and would overflow clocks, sleeps, SQL integers or histograms later.
MAX_QPS = 10_000_000.0
"""The highest target rate (operations per second over every worker)."""
MIN_QPS = 0.01
"""The lowest target rate: one operation per 100 s."""
MAX_MIN_QPS = 1e9
"""The highest ``min_qps`` an SLO may ask for."""
MAX_KEY_SPAN = 2**31 - 1
"""The widest ``range_size``: keys plus the span must fit a 64-bit integer column."""
INT64_MAX = 2**63 - 1
MAX_CONNECTIONS = 4096
"""The most connections (and threads) one run, one worker or one find_max step may use."""
MAX_OPERATIONS = 10**12
"""The most operations an operation-count run (``operations=N``) may ask for."""

DurationS = Annotated[float, BeforeValidator(parse_duration_s)]
"""A duration of at most 24 h (``units.MAX_DURATION_S``)."""
ShortDurationS = Annotated[float, BeforeValidator(
    lambda v: parse_duration_s(v, maximum=MAX_LATENCY_S))]
"""A pause or a lateness limit: at most 1 h."""
# In JSON a latency is written "250us": a bare number would read back as seconds.
LatencyUs = Annotated[int, BeforeValidator(parse_latency_us),
                      PlainSerializer(lambda us: f"{us}us", return_type=str, when_used="json")]
Rate = Annotated[float, BeforeValidator(parse_rate)]


def think_time(value: object) -> tuple[float, float]:
    """``"10ms"`` (fixed) or ``["5ms", "20ms"]`` (uniform in the range) as seconds."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"think_time range {excerpt(value)} must be [low, high]")
        low = parse_duration_s(value[0], maximum=MAX_LATENCY_S)
        high = parse_duration_s(value[1], maximum=MAX_LATENCY_S)
        if low > high:
            raise ValueError(f"think_time range {excerpt(value)} must be [low, high] with "
                             f"low <= high")
        return (low, high)
    seconds = parse_duration_s(value, maximum=MAX_LATENCY_S)
    return (seconds, seconds)


ThinkTime = Annotated[tuple[float, float], BeforeValidator(think_time)]


def valid_table(text: str) -> str:
    TableName.parse(text)
    return text


def valid_key_column(text: str | None) -> str | None:
    return None if text is None else check_identifier(text, what="key_column")


MAX_VALUE_SIZE = 1 << 20
"""``value_size`` at most 1 MiB: a generated value is built per operation, on the client."""


def valid_new_key(pattern: str | None) -> str | None:
    """``new_key``: a str.format pattern with one field, ``n`` (e.g. ``user{n:012d}``)."""
    if pattern is None:
        return None
    import string

    fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    if fields != {"n"}:
        raise ValueError(
            f"new_key must be a pattern with one field {{n}} (the key's ordinal), e.g. "
            f"'user{{n:012d}}'; got fields {sorted(fields) or 'none'}")
    try:
        sample = pattern.format(n=12345)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"new_key {pattern[:80]!r} does not format an integer n: {exc}; "
                         f"use a format such as {{n}} or {{n:012d}}") from None
    if len(sample) > 1000:
        raise ValueError("new_key makes keys longer than 1000 characters: shorten the pattern")
    return pattern


def valid_update_columns(names: list[str] | None) -> list[str] | None:
    """``update_columns``: one or more plain column names, no repeats."""
    if names is None:
        return None
    if not names:
        raise ValueError("update_columns must name at least one column (or be left out)")
    checked = [check_identifier(n, what="update_columns") for n in names]
    if len({n.lower() for n in checked}) != len(checked):
        raise ValueError("update_columns names a column twice")
    return checked


TableText = Annotated[str, AfterValidator(valid_table)]
TargetText = Annotated[str, AfterValidator(check_target)]
"""A target URL (with a supported scheme) or a target name."""

STRICT = ConfigDict(strict=True, frozen=True, extra="forbid", allow_inf_nan=False)
"""Every template model: exact types, immutable, no unknown key, no NaN or infinity."""
