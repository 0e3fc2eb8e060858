"""The Mann-Whitney U test, one-sided, in pure Python.

Exact p-values (from the distribution of U, i.e. the coefficients of the Gaussian binomial
coefficient) when there are no ties and the samples are small; otherwise the normal
approximation with tie and continuity corrections. Per-second benchmark samples are a few
dozen values, so both are instant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

EXACT_MAX_PRODUCT = 2500  # m * n up to which the exact distribution is used (no ties)


@dataclass(frozen=True, slots=True)
class MannWhitney:
    """``u`` counts pairs where the second sample is larger (ties count one half)."""

    u: float
    n_first: int
    n_second: int
    p_greater: float  # P(U >= u) under H0: the second sample is stochastically larger
    p_less: float  # P(U <= u) under H0: the second sample is stochastically smaller
    exact: bool


@lru_cache(maxsize=256)
def _u_distribution(m: int, n: int) -> tuple[int, ...]:
    """Counts of arrangements with U = 0 .. m*n: the coefficients of [m+n choose m]_q."""
    size = m * n + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, m + 1):
        # multiply by (1 - q^(n+i))
        shift = n + i
        for k in range(size - 1, shift - 1, -1):
            poly[k] -= poly[k - shift]
        # divide by (1 - q^i): exact, as a running sum with stride i
        for k in range(i, size):
            poly[k] += poly[k - i]
    return tuple(poly)


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Mid-ranks of ``values`` (1-based) and the sizes of tied groups."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mid = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mann_whitney(first: Sequence[float], second: Sequence[float]) -> MannWhitney:
    """Test whether ``second`` tends to be larger (``p_greater``) or smaller (``p_less``)."""
    m, n = len(first), len(second)
    if m == 0 or n == 0:
        return MannWhitney(0.0, m, n, 1.0, 1.0, exact=True)
    ranks, ties = _ranks([*first, *second])
    rank_sum_second = sum(ranks[m:])
    u = rank_sum_second - n * (n + 1) / 2
    if not ties and m * n <= EXACT_MAX_PRODUCT:
        dist = _u_distribution(m, n)
        total = sum(dist)
        k = round(u)
        p_greater = sum(dist[k:]) / total
        p_less = sum(dist[: k + 1]) / total
        return MannWhitney(u, m, n, p_greater, p_less, exact=True)
    big_n = m + n
    tie_term = sum(t**3 - t for t in ties) / (big_n * (big_n - 1)) if big_n > 1 else 0.0
    variance = m * n / 12 * ((big_n + 1) - tie_term)
    if variance <= 0:  # every value equal: no evidence either way
        return MannWhitney(u, m, n, 1.0, 1.0, exact=False)
    sigma = math.sqrt(variance)
    mu = m * n / 2
    z_greater = (u - mu - 0.5) / sigma
    z_less = (u - mu + 0.5) / sigma
    p_greater = 0.5 * math.erfc(z_greater / math.sqrt(2))
    p_less = 0.5 * math.erfc(-z_less / math.sqrt(2))
    return MannWhitney(u, m, n, min(1.0, p_greater), min(1.0, p_less), exact=False)


def median(values: Sequence[float]) -> float:
    """The median (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
