"""The smooth weighted round robin: exact counts per cycle, even spread, thread offsets.

Property checks run over many random mixes (fixed seed) of 1-8 kinds whose weights have two
decimals and sum to exactly 100. The spread criteria are proven properties of the algorithm:

* After a kind is chosen its ``current`` is ``max - total >= total/n - total`` (the maximum of n
  numbers summing to ``total`` is at least their mean), and it only grows until chosen again, so
  ``current > -total`` holds throughout. As ``current_i(k) = k*w_i - total*count_i(k)``, in every
  prefix of k operations ``count_i(k) <= k*w_i/total + 1 - 1/n``: a kind never runs a whole
  operation ahead of its share. Summing that bound over the other kinds gives the lower bound
  ``count_i(k) >= k*w_i/total - (n-1)*(1 - 1/n)``.
* With two kinds the minority kind never runs twice in a row (cyclically), and the majority
  kind's runs are at most ``ceil(major/minor)`` long.
"""

from __future__ import annotations

import math
import random

import pytest

from pytest_flakebench.template.model import Template
from pytest_flakebench.workload.mix import integer_weights, smooth_weighted_schedule, thread_offset


def random_mix(rng: random.Random, kinds: int) -> dict[str, float]:
    """Random weights with two decimals summing to exactly 100 (in hundredths: 10 000)."""
    cuts = sorted(rng.sample(range(1, 10_000), kinds - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    return {f"k{i}": p / 100 for i, p in enumerate(parts)}


def mixes(seed: int, count: int, max_kinds: int = 8) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [random_mix(rng, rng.randint(1, max_kinds)) for _ in range(count)]


def max_cyclic_runs(cycle: tuple[str, ...]) -> dict[str, int]:
    """Longest run of each kind, treating the cycle as repeating."""
    if len(set(cycle)) == 1:
        return {cycle[0]: len(cycle)}
    start = next(i for i in range(len(cycle)) if cycle[i] != cycle[i - 1])
    seq = cycle[start:] + cycle[:start]
    runs: dict[str, int] = {}
    current, length = seq[0], 0
    for kind in seq:
        if kind == current:
            length += 1
        else:
            runs[current] = max(runs.get(current, 0), length)
            current, length = kind, 1
    runs[current] = max(runs.get(current, 0), length)
    return runs


# --------------------------------------------------------------------------- integer weights


@pytest.mark.parametrize(("weights", "expected"), [
    ({"a": 100}, {"a": 1}),
    ({"a": 70, "b": 20, "c": 10}, {"a": 7, "b": 2, "c": 1}),
    ({"a": 50, "b": 50}, {"a": 1, "b": 1}),
    ({"a": 33.33, "b": 33.33, "c": 33.34}, {"a": 3333, "b": 3333, "c": 3334}),
    ({"a": 99.99, "b": 0.01}, {"a": 9999, "b": 1}),
    ({"a": 12.5, "b": 87.5}, {"a": 1, "b": 7}),
    ({"a": 100, "b": 0}, {"a": 1}),
    ({"a": 100, "b": 0.004}, {"a": 1}),  # below 0.01 % rounds away
])
def test_integer_weights(weights: dict[str, float], expected: dict[str, int]) -> None:
    assert integer_weights(weights) == expected


@pytest.mark.parametrize("weights", [{}, {"a": 0}, {"a": 0.001}])
def test_integer_weights_needs_a_positive_weight(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive weight"):
        integer_weights(weights)


# --------------------------------------------------------------------------- the cycle


def test_known_cycle() -> None:
    cycle = smooth_weighted_schedule({"point_lookup": 70, "range_scan": 20, "insert": 10})
    assert len(cycle) == 10
    pl, rs, ins = "point_lookup", "range_scan", "insert"
    # worked by hand: currents start at 0, each step adds (7, 2, 1) and the first maximum
    # loses 10
    assert cycle == (pl, pl, rs, pl, pl, ins, pl, pl, rs, pl)
    runs = max_cyclic_runs(cycle)
    assert runs["range_scan"] == runs["insert"] == 1


def test_single_kind() -> None:
    assert smooth_weighted_schedule({"insert": 100}) == ("insert",)


def test_deterministic() -> None:
    weights = {"a": 41.27, "b": 30.5, "c": 28.23}
    assert smooth_weighted_schedule(weights) == smooth_weighted_schedule(dict(weights))


@pytest.mark.parametrize("weights", mixes(seed=20240601, count=40), ids=lambda w: f"{len(w)}k")
def test_exact_counts_and_prefix_spread(weights: dict[str, float]) -> None:
    cycle = smooth_weighted_schedule(weights)
    ints = integer_weights(weights)
    total, n = sum(ints.values()), len(ints)
    assert len(cycle) == total
    # exact counts per cycle: every kind its share, no more, no less
    for kind, w in ints.items():
        assert cycle.count(kind) == w
        assert cycle.count(kind) / total == pytest.approx(weights[kind] / 100)
    # every prefix stays within the proven bounds of its proportional share
    counts = dict.fromkeys(ints, 0)
    upper_slack = 1 - 1 / n
    lower_slack = (n - 1) * (1 - 1 / n)
    for k, kind in enumerate(cycle, start=1):
        counts[kind] += 1
        share = k * ints[kind] / total
        assert counts[kind] <= share + upper_slack + 1e-9, (weights, k, kind)
    for k in range(1, total + 1, max(1, total // 50)):  # the lower bound, sampled
        prefix = cycle[:k]
        for kind, w in ints.items():
            assert prefix.count(kind) >= k * w / total - lower_slack - 1e-9, (weights, k, kind)


@pytest.mark.parametrize("hundredths", random.Random(99).sample(range(1, 10_000), 60))
def test_two_kinds_are_evenly_interleaved(hundredths: int) -> None:
    weights = {"x": hundredths / 100, "y": (10_000 - hundredths) / 100}
    cycle = smooth_weighted_schedule(weights)
    ints = integer_weights(weights)
    minor, major = sorted(ints, key=ints.__getitem__)
    runs = max_cyclic_runs(cycle)
    if ints[minor] == ints[major]:
        assert runs == {"x": 1, "y": 1}
        return
    assert runs[minor] == 1
    assert ints[major] // ints[minor] <= runs[major] <= math.ceil(ints[major] / ints[minor])


@pytest.mark.parametrize("weights", [
    {"point_lookup": 70, "range_scan": 20, "insert": 10},
    {"point_lookup": 60, "range_scan": 15, "insert": 15, "update": 10},
    {"point_lookup": 40, "range_scan": 30, "insert": 20, "update": 10},
    {"point_lookup": 25, "range_scan": 25, "insert": 25, "update": 25},
    {"point_lookup": 97, "update": 3},
], ids=repr)
def test_minor_kinds_of_typical_mixes_never_repeat(weights: dict[str, float]) -> None:
    cycle = smooth_weighted_schedule(weights)
    runs = max_cyclic_runs(cycle)
    top = max(weights, key=weights.__getitem__)
    for kind in weights:
        if kind != top:
            assert runs[kind] == 1, (kind, cycle)


# --------------------------------------------------------------------------- thread offsets


@pytest.mark.parametrize(("threads", "length"), [
    (1, 10), (4, 10), (8, 10), (10, 10), (3, 100), (7, 100), (16, 10_000), (64, 333),
])
def test_thread_offsets_are_spread_evenly(threads: int, length: int) -> None:
    offsets = [thread_offset(t, threads, length) for t in range(threads)]
    assert offsets[0] == 0
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == threads  # distinct while threads <= cycle length
    assert all(0 <= o < length for o in offsets)
    gaps = [b - a for a, b in zip(offsets, [*offsets[1:], offsets[0] + length], strict=True)]
    assert max(gaps) - min(gaps) <= 1
    assert sum(gaps) == length


@pytest.mark.parametrize(("threads", "length"), [(20, 10), (5, 1), (3, 2)])
def test_more_threads_than_cycle_positions(threads: int, length: int) -> None:
    offsets = [thread_offset(t, threads, length) for t in range(threads)]
    assert all(0 <= o < length for o in offsets)
    assert len(set(offsets)) == length  # every position is used


def test_thread_offset_with_zero_threads_does_not_divide_by_zero() -> None:
    assert thread_offset(0, 0, 10) == 0


def test_threads_keep_the_mix_exact_per_cycle() -> None:
    weights: dict[str, float] = {"point_lookup": 70, "range_scan": 20, "insert": 10}
    cycle = smooth_weighted_schedule(weights)
    first_ops = []
    for t in range(4):
        start = thread_offset(t, 4, len(cycle))
        walked = [cycle[(start + i) % len(cycle)] for i in range(len(cycle))]
        assert sorted(walked) == sorted(cycle)
        first_ops.append(walked[0])
    # the threads do not all start with the same operation
    assert len(set(first_ops)) > 1


# --------------------------------------------------------------------------- template agreement


@pytest.mark.parametrize("weights", [
    {"point_lookup": 70, "range_scan": 20, "insert": 10},
    {"point_lookup": 99.99, "insert": 0.01},
    {"point_lookup": 33.33, "range_scan": 33.33, "insert": 33.34},
], ids=repr)
def test_every_weighted_kind_of_a_valid_template_is_scheduled(weights: dict[str, float]) -> None:
    t = Template.model_validate({"target": "t", "table": "t", "mix": weights})
    assert set(smooth_weighted_schedule(t.weights())) == set(t.weights())


def test_tiny_weight_is_scheduled_or_refused() -> None:
    data = {"target": "t", "table": "t", "mix": {"point_lookup": 99.996, "insert": 0.004}}
    try:
        t = Template.model_validate(data)
    except ValueError:
        return  # refusing weights finer than 0.01 % would be fine too
    assert "insert" in smooth_weighted_schedule(t.weights())
