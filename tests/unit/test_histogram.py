"""Latency histograms: exact merges through the wire form, clamping, empty histograms."""

from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram

from pytest_flakebench.histogram import (
    HIGHEST_US,
    LOWEST_US,
    LatencyHistogram,
    merge_encoded,
)

PERCENTILES = [0.0, 1.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0]
VALUE_COUNT = 200_000


def mixed_latencies(seed: int, count: int) -> list[int]:
    """A fixed-seed mixture: a fast log-normal body, an exponential shoulder, a uniform spread
    up to seconds, a Pareto tail, and a few values outside the range at both ends."""
    rng = random.Random(seed)
    values: list[int] = []
    for _ in range(count):
        r = rng.random()
        if r < 0.55:
            v = int(rng.lognormvariate(6.0, 0.5))  # ~400us body
        elif r < 0.85:
            v = int(rng.expovariate(1 / 5_000))
        elif r < 0.97:
            v = rng.randint(1, 2_000_000)
        elif r < 0.999:
            v = int(rng.paretovariate(1.2) * 1_000)
        elif r < 0.9995:
            v = rng.randint(-5, 0)  # sub-microsecond (clock granularity)
        else:
            v = rng.randint(HIGHEST_US, 2 * HIGHEST_US)  # above one hour
        values.append(v)
    return values


@pytest.fixture(scope="module")
def values() -> list[int]:
    return mixed_latencies(seed=20240611, count=VALUE_COUNT)


@pytest.fixture(scope="module")
def single(values: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for v in values:
        hist.record(v)
    return hist


def deal(values: list[int], parts: int) -> list[LatencyHistogram]:
    hists = [LatencyHistogram() for _ in range(parts)]
    for i, v in enumerate(values):
        hists[i % parts].record(v)
    return hists


@pytest.fixture(scope="module")
def dealt(values: list[int]) -> dict[int, list[LatencyHistogram]]:
    """The values dealt alternately into 2 and into 3 histograms (tests must not mutate them)."""
    return {parts: deal(values, parts) for parts in (2, 3)}


def assert_same(merged: LatencyHistogram, single: LatencyHistogram) -> None:
    assert merged.count == single.count == VALUE_COUNT
    for p in PERCENTILES:
        assert merged.percentile_us(p) == single.percentile_us(p), p
    assert merged.spectrum(PERCENTILES) == single.spectrum(PERCENTILES)
    assert merged.summary() == single.summary()  # count, min, mean, p50 … p99.9, max


@pytest.mark.parametrize("parts", [2, 3])
def test_merge_through_wire_form_is_exact(dealt: dict[int, list[LatencyHistogram]],
                                          single: LatencyHistogram, parts: int) -> None:
    hists = dealt[parts]
    assert sum(h.count for h in hists) == VALUE_COUNT
    merged = merge_encoded([h.encode() for h in hists])
    assert_same(merged, single)
    # the wire form does not carry `clamped`; add() does
    assert merged.clamped == 0
    direct = LatencyHistogram()
    for h in hists:
        direct.add(h)
    assert_same(direct, single)
    assert direct.clamped == single.clamped > 0


@pytest.mark.parametrize("parts", [2, 3])
def test_add_encoded_into_a_non_empty_histogram(dealt: dict[int, list[LatencyHistogram]],
                                                single: LatencyHistogram, parts: int) -> None:
    first, *rest = dealt[parts]
    target = LatencyHistogram.decode(first.encode())
    for h in rest:
        target.add_encoded(h.encode())
    assert_same(target, single)


def test_wire_form_round_trip(single: LatencyHistogram) -> None:
    encoded = single.encode()
    assert isinstance(encoded, str)
    encoded.encode("ascii")  # plain ASCII text
    again = LatencyHistogram.decode(encoded)
    assert_same(again, single)
    assert LatencyHistogram.decode(again.encode()).summary() == single.summary()


def test_merge_is_order_independent(dealt: dict[int, list[LatencyHistogram]]) -> None:
    encoded = [h.encode() for h in dealt[3]]
    a = merge_encoded(encoded)
    b = merge_encoded(list(reversed(encoded)))
    assert a.spectrum(PERCENTILES) == b.spectrum(PERCENTILES)
    assert a.summary() == b.summary()


def test_percentiles_are_within_three_significant_digits(values: list[int],
                                                         single: LatencyHistogram) -> None:
    ordered = sorted(min(max(v, LOWEST_US), HIGHEST_US) for v in values)
    for p in (25.0, 50.0, 90.0, 99.0):
        exact = ordered[max(0, int(p / 100 * len(ordered) + 0.5) - 1)]
        assert single.percentile_us(p) == pytest.approx(exact, rel=2e-3, abs=1)


# --------------------------------------------------------------------------- clamping


def test_values_above_one_hour_are_clamped_and_counted() -> None:
    hist = LatencyHistogram()
    hist.record(HIGHEST_US + 1)
    hist.record(10 * HIGHEST_US)
    hist.record(HIGHEST_US)  # exactly the maximum is not clamped
    assert hist.clamped == 2
    assert hist.count == 3
    at_max = LatencyHistogram()
    at_max.record(HIGHEST_US)
    assert hist.summary().max_us == at_max.summary().max_us >= HIGHEST_US
    assert hist.summary().min_us == at_max.summary().min_us
    assert hist.percentile_us(100) == at_max.percentile_us(100)
    assert at_max.clamped == 0


def test_clamped_count_survives_add() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.record(HIGHEST_US * 3)
    b.record(HIGHEST_US * 2)
    b.record(5)
    a.add(b)
    assert a.clamped == 2
    assert a.count == 3
    empty = LatencyHistogram()
    empty.clamped = 4  # a histogram whose values travelled apart
    a.add(empty)
    assert a.clamped == 6
    assert a.count == 3


@pytest.mark.parametrize("value", [0, -1, -1_000_000])
def test_values_below_one_microsecond_become_one(value: int) -> None:
    hist = LatencyHistogram()
    hist.record(value)
    assert hist.count == 1
    assert hist.clamped == 0
    assert hist.summary().min_us == 1
    assert hist.summary().max_us == 1
    assert hist.percentile_us(50) == 1


# --------------------------------------------------------------------------- edge cases


def test_empty_histogram() -> None:
    hist = LatencyHistogram()
    assert hist.count == 0
    assert hist.percentile_us(99) == 0
    assert hist.spectrum([50.0, 99.0]) == {50.0: 0, 99.0: 0}
    summary = hist.summary()
    assert (summary.count, summary.min_us, summary.max_us, summary.mean_us) == (0, 0, 0, 0.0)
    again = LatencyHistogram.decode(hist.encode())
    assert again.count == 0
    assert merge_encoded([]).count == 0
    assert merge_encoded([hist.encode(), hist.encode()]).count == 0


def test_merging_empty_histograms_changes_nothing() -> None:
    hist = LatencyHistogram()
    for v in (10, 200, 3_000):
        hist.record(v)
    before = hist.summary()
    hist.add(LatencyHistogram())
    hist.add_encoded(LatencyHistogram().encode())
    assert hist.summary() == before


def test_summary_value_by_slo_name() -> None:
    hist = LatencyHistogram()
    for v in range(1, 1001):
        hist.record(v)
    summary = hist.summary()
    assert summary.count == 1000
    assert summary.min_us == 1
    assert summary.max_us == 1000
    assert summary.value("p50") == float(summary.p50_us) == 500
    assert summary.value("p999") == float(summary.p999_us) == 999
    assert summary.value("max") == 1000.0
    assert summary.mean_us == pytest.approx(500.5, rel=1e-3)


def test_foreign_shape_is_normalised_on_decode() -> None:
    foreign = HdrHistogram(1, 60_000_000, 3)  # a one-minute histogram from elsewhere
    for v in (5, 50, 500, 5_000, 50_000_000):
        foreign.record_value(v)
    encoded = bytes(foreign.encode()).decode("ascii")
    decoded = LatencyHistogram.decode(encoded)
    assert decoded.count == 5
    ours = LatencyHistogram()
    for v in (5, 50, 500, 5_000, 50_000_000):
        ours.record(v)
    assert decoded.summary() == ours.summary()
    ours.add(decoded)  # merges into the standard shape
    assert ours.count == 10
