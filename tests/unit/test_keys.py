"""Key distributions: shares against closed forms, disjoint streams, reproducibility."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.keys import EXACT_LIMIT, KeySpec, Zipf, key_drawer

N_KEYS = 100_000
DRAWS = 100_000


def draws(spec: KeySpec, n: int = DRAWS, *, global_index: int = 0, stride: int = 1,
          lo: int = 1, hi: int = N_KEYS) -> list[int]:
    draw = key_drawer(spec, lo, hi, new_key_base=hi + 1)
    ctx = ThreadContext(seed=7, global_index=global_index, stride=stride)
    return [draw(ctx) for _ in range(n)]


def test_zipfian_puts_the_closed_form_share_on_the_top_keys() -> None:
    spec = KeySpec(distribution="zipfian", theta=0.99)
    counts = Counter(draws(spec))
    zipf = Zipf(N_KEYS, 0.99)
    ranked = [n for _, n in counts.most_common()]
    for k in (1, 10, 100, 1000):
        expected = zipf.share_of_top(k)
        observed = sum(ranked[:k]) / DRAWS
        # binomial standard error at 100k draws is < 0.0016; allow 4 sigma
        assert abs(observed - expected) < 0.0065, (k, observed, expected)
    assert all(1 <= key <= N_KEYS for key in counts)


def test_zipfian_hot_keys_are_scattered_not_neighbours() -> None:
    counts = Counter(draws(KeySpec(distribution="zipfian")))
    hottest = [key for key, _ in counts.most_common(5)]
    gaps = [abs(a - b) for a, b in pairwise(hottest)]
    assert min(gaps) > 100


def test_gray_approximation_above_the_exact_limit_is_close() -> None:
    big = EXACT_LIMIT * 2
    zipf = Zipf(big, 0.99)
    import random

    rng = random.Random(3)
    ranks = Counter(zipf.rank(rng.random()) for _ in range(100_000))
    top10 = sum(ranks[r] for r in range(10)) / 100_000
    assert abs(top10 - zipf.share_of_top(10)) < 0.01


def test_hotspot_20_80_is_within_one_percent() -> None:
    keys = draws(KeySpec(distribution="hotspot", hot_data=0.2, hot_ops=0.8))
    hot = sum(1 for k in keys if k <= N_KEYS * 0.2) / len(keys)
    assert abs(hot - 0.8) < 0.01


def test_uniform_covers_the_range_evenly() -> None:
    keys = draws(KeySpec())
    tenths = Counter((k - 1) * 10 // N_KEYS for k in keys)
    assert all(abs(tenths[i] / DRAWS - 0.1) < 0.01 for i in range(10))


def test_sequential_streams_of_threads_and_workers_never_overlap() -> None:
    threads, workers = 4, 3
    stride = threads * workers
    seen: set[int] = set()
    for worker in range(workers):
        for thread in range(threads):
            stream = draws(KeySpec(distribution="sequential"), 1000,
                           global_index=worker * threads + thread, stride=stride)
            assert not seen & set(stream)
            seen |= set(stream)
    assert len(seen) == threads * workers * 1000


def test_latest_prefers_recent_inserts() -> None:
    spec = KeySpec(distribution="latest")
    inserted: list[int] = []
    draw = key_drawer(spec, 1, N_KEYS, new_key_base=N_KEYS + 1, inserted=inserted)
    ctx = ThreadContext(seed=1, global_index=0, stride=1)
    before = [draw(ctx) for _ in range(10_000)]
    assert sum(1 for k in before if k > N_KEYS - 1000) / len(before) > 0.5
    inserted.extend(range(N_KEYS + 1, N_KEYS + 501))  # inserts committed keys N+1 .. N+500
    after = [draw(ctx) for _ in range(10_000)]
    assert max(after) == N_KEYS + 500
    assert sum(1 for k in after if k > N_KEYS) / len(after) > 0.5


def test_latest_and_uniform_draw_only_keys_that_exist() -> None:
    """Striped inserts leave gaps (another thread's stripe not reached yet): never drawn."""
    inserted = [N_KEYS + 1 + 4 * i for i in range(300)]  # one thread of four committed these
    exists = set(range(1, N_KEYS + 1)) | set(inserted)
    ctx = ThreadContext(seed=3, global_index=0, stride=4)
    for dist in ("latest", "uniform"):
        draw = key_drawer(KeySpec(distribution=dist), 1, N_KEYS, inserted=inserted)
        drawn = [draw(ctx) for _ in range(20_000)]
        assert set(drawn) <= exists, dist
        assert any(k > N_KEYS for k in drawn), dist


@pytest.mark.parametrize("dist", ["uniform", "zipfian", "hotspot", "latest", "sequential"])
def test_same_seed_same_stream(dist: str) -> None:
    spec = KeySpec.model_validate(dist)
    assert draws(spec, 500) == draws(spec, 500)
