"""Value types shared by the template models: durations, latencies, rates, names."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, PlainSerializer

from pytest_flakebench.identifiers import TableName, check_identifier
from pytest_flakebench.units import parse_duration_s, parse_latency_us, parse_rate

DurationS = Annotated[float, BeforeValidator(parse_duration_s)]
# In JSON a latency is written "250us": a bare number would read back as seconds.
LatencyUs = Annotated[int, BeforeValidator(parse_latency_us),
                      PlainSerializer(lambda us: f"{us}us", return_type=str, when_used="json")]
Rate = Annotated[float, BeforeValidator(parse_rate)]


def think_time(value: object) -> tuple[float, float]:
    """``"10ms"`` (fixed) or ``["5ms", "20ms"]`` (uniform in the range) as seconds."""
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ValueError(f"think_time range {value!r} must be [low, high]")
        low, high = parse_duration_s(value[0]), parse_duration_s(value[1])
        if low > high:
            raise ValueError(f"think_time range {value!r} must be [low, high] with low <= high")
        return (low, high)
    seconds = parse_duration_s(value)
    return (seconds, seconds)


ThinkTime = Annotated[tuple[float, float], BeforeValidator(think_time)]


def valid_table(text: str) -> str:
    TableName.parse(text)
    return text


def valid_key_column(text: str | None) -> str | None:
    return None if text is None else check_identifier(text, what="key_column")


TableText = Annotated[str, AfterValidator(valid_table)]

STRICT = ConfigDict(strict=True, frozen=True, extra="forbid")
