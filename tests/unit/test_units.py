"""Table-driven tests of the unit parsers and formatters (pure, no database)."""

from __future__ import annotations

import math

import pytest

from pytest_flakebench.units import (
    format_duration_s,
    format_us,
    parse_duration_s,
    parse_latency_us,
    parse_rate,
)

# --------------------------------------------------------------------------- parse_duration_s

DURATIONS_OK: list[tuple[object, float]] = [
    ("30s", 30.0),
    ("250ms", 0.25),
    ("2m", 120.0),
    ("1h", 3600.0),
    ("500us", 0.0005),
    ("500µs", 0.0005),
    ("1.5s", 1.5),
    (".5s", 0.5),
    ("  2 m  ", 120.0),
    ("10", 10.0),
    ("0", 0.0),
    ("0s", 0.0),
    ("0.25", 0.25),
    (10, 10.0),
    (2.5, 2.5),
    (0, 0.0),
    (0.0, 0.0),
]

DURATIONS_BAD: list[object] = [
    "",
    " ",
    "s",
    "ms",
    "-1s",
    "-1",
    "+1s",
    "1.5.2s",
    "1,5s",
    "1 sec",
    "1S",
    "1MS",
    "1d",
    "1e3",
    "1e3s",
    "inf",
    "nan",
    "10s10ms",
    "1 s s",
    None,
    [],
    [1],
    {"s": 1},
    b"1s",
    True,
    False,
    -1,
    -0.001,
    float("nan"),
    float("-inf"),
]


@pytest.mark.parametrize(("value", "expected"), DURATIONS_OK, ids=repr)
def test_parse_duration_valid(value: object, expected: float) -> None:
    got = parse_duration_s(value)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("value", DURATIONS_BAD, ids=repr)
def test_parse_duration_invalid(value: object) -> None:
    with pytest.raises(ValueError, match="duration") as info:
        parse_duration_s(value)
    assert repr(value) in str(info.value)


def test_parse_duration_error_names_accepted_forms() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_s("soon")
    text = str(info.value)
    assert "'30s'" in text
    assert "'250ms'" in text
    assert "'soon'" in text


def test_parse_duration_rejects_infinity() -> None:
    with pytest.raises(ValueError):
        parse_duration_s(float("inf"))


# --------------------------------------------------------------------------- parse_latency_us

LATENCIES_OK: list[tuple[object, int]] = [
    ("20ms", 20_000),
    ("500us", 500),
    ("250µs", 250),
    ("1.5s", 1_500_000),
    ("1s", 1_000_000),
    ("2m", 120_000_000),
    ("1h", 3_600_000_000),
    ("0.0005", 500),
    ("0", 0),
    ("0.25ms", 250),
    (" 20 ms ", 20_000),
    (2, 2_000_000),
    (0.02, 20_000),
    (0, 0),
]

LATENCIES_BAD: list[object] = [
    "",
    "fast",
    "20 msec",
    "-20ms",
    "20MS",
    "1e-3",
    "20ms!",
    None,
    [20],
    True,
    False,
    -1,
    -0.5,
    float("nan"),
]


@pytest.mark.parametrize(("value", "expected"), LATENCIES_OK, ids=repr)
def test_parse_latency_valid(value: object, expected: int) -> None:
    got = parse_latency_us(value)
    assert type(got) is int
    assert got == expected


@pytest.mark.parametrize("value", LATENCIES_BAD, ids=repr)
def test_parse_latency_invalid(value: object) -> None:
    with pytest.raises(ValueError, match="latency") as info:
        parse_latency_us(value)
    assert repr(value) in str(info.value)
    assert "'20ms'" in str(info.value)  # names an accepted form


def test_parse_latency_infinity_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_latency_us(float("inf"))


# --------------------------------------------------------------------------- parse_rate

RATES_OK: list[tuple[object, float]] = [
    ("0.5%", 0.005),
    ("1%", 0.01),
    ("100%", 1.0),
    ("0%", 0.0),
    (" 5 % ", 0.05),
    ("0.005", 0.005),
    ("1", 1.0),
    ("0", 0.0),
    (0.005, 0.005),
    (0, 0.0),
    (1, 1.0),
    (0.0, 0.0),
    (1.0, 1.0),
]

RATES_BAD: list[object] = [
    "",
    "%",
    "abc",
    "abc%",
    "0.5%%",
    "101%",
    "-1%",
    "-0.1",
    "1.5",
    "nan",
    "nan%",
    "inf",
    1.5,
    2,
    -0.001,
    float("nan"),
    float("inf"),
    None,
    [0.1],
    True,
    False,
]


@pytest.mark.parametrize(("value", "expected"), RATES_OK, ids=repr)
def test_parse_rate_valid(value: object, expected: float) -> None:
    got = parse_rate(value)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("value", RATES_BAD, ids=repr)
def test_parse_rate_invalid(value: object) -> None:
    with pytest.raises(ValueError, match="rate") as info:
        parse_rate(value)
    assert repr(value) in str(info.value)


def test_parse_rate_percent_is_divided_by_100() -> None:
    assert parse_rate("50%") == parse_rate(0.5) == parse_rate("0.5")


# --------------------------------------------------------------------------- formatting

FORMAT_US: list[tuple[float, str]] = [
    (0, "0us"),
    (1, "1us"),
    (850, "850us"),
    (999, "999us"),
    (1000, "1ms"),
    (1500, "1.5ms"),
    (12_300, "12.3ms"),
    (99_900, "99.9ms"),
    (100_000, "100ms"),
    (250_000, "250ms"),
    (999_000, "999ms"),
    (1_000_000, "1s"),
    (1_200_000, "1.2s"),
    (31_400_000, "31.4s"),
    (61_000_000, "61s"),
]


@pytest.mark.parametrize(("value", "expected"), FORMAT_US, ids=repr)
def test_format_us(value: float, expected: str) -> None:
    assert format_us(value) == expected


@pytest.mark.parametrize("value", [1_500_000_000, 3_600_000_000])
def test_format_us_never_uses_scientific_notation(value: int) -> None:
    assert "e+" not in format_us(value)


FORMAT_DURATION: list[tuple[float, str]] = [
    (0.25, "250ms"),
    (0, "0ms"),
    (1, "1s"),
    (30, "30s"),
    (59.5, "59.5s"),
    (60, "1m"),
    (120, "2m"),
    (150, "2m30s"),
]


@pytest.mark.parametrize(("value", "expected"), FORMAT_DURATION, ids=repr)
def test_format_duration(value: float, expected: str) -> None:
    assert format_duration_s(value) == expected


@pytest.mark.parametrize("text", ["30s", "250ms", "2m", "1h", "500us"])
def test_latency_and_duration_agree(text: str) -> None:
    assert parse_latency_us(text) == round(parse_duration_s(text) * 1_000_000)
    assert math.isfinite(parse_duration_s(text))
