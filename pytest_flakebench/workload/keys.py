"""Key distributions (pure): which existing keys a point lookup, range scan or update touches.

``uniform``; ``zipfian`` (YCSB's skew, ``theta`` default 0.99; rank 1 is the hottest key, ranks
are scattered over the key space by a fixed permutation so hot keys are not neighbours);
``hotspot`` (``hot_ops`` of the operations go to the first ``hot_data`` of the key space);
``latest`` (zipfian over the most recent keys: the keys this process's inserts actually wrote,
newest first, then the profiled range from its top); and
``sequential`` (each thread walks its own stripe: thread ``g`` of ``G`` takes keys
``g, g+G, g+2G, …`` from the start of the range, so threads and workers never overlap).

Zipfian ranks are drawn exactly by inverse CDF (binary search over the cumulative weights) for
up to ``EXACT_LIMIT`` keys; above that, Gray et al.'s closed-form approximation (as in YCSB).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from pytest_flakebench.workload.context import ThreadContext

EXACT_LIMIT = 2_000_000

Distribution = Literal["uniform", "zipfian", "hotspot", "latest", "sequential"]


class KeySpec(BaseModel):
    """How key-drawing kinds pick existing keys."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    distribution: Distribution = "uniform"
    theta: float = Field(default=0.99, gt=0, lt=1)
    hot_data: float = Field(default=0.2, gt=0, lt=1)
    hot_ops: float = Field(default=0.8, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: object) -> object:
        return {"distribution": data} if isinstance(data, str) else data


class Zipf:
    """Ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^theta."""

    def __init__(self, n: int, theta: float) -> None:
        self.n = n
        self.theta = theta
        self._cdf: array[float] | None = None
        if n <= EXACT_LIMIT:
            cdf = array("d", bytes(8 * n))
            total = 0.0
            for k in range(n):
                total += 1.0 / float(k + 1) ** theta
                cdf[k] = total
            self._cdf = cdf
            self.zetan = total
        else:
            self.zetan = _zeta(n, theta)
            self._alpha = 1.0 / (1.0 - theta)
            zeta2 = 1.0 + 0.5 ** theta
            self._eta = (1 - (2.0 / n) ** (1 - theta)) / (1 - zeta2 / self.zetan)

    def share_of_top(self, k: int) -> float:
        """The exact probability that a draw is one of the ``k`` hottest ranks."""
        top = math.fsum(1.0 / float(i + 1) ** self.theta for i in range(min(k, self.n)))
        return float(top / self.zetan)

    def rank(self, u: float) -> int:
        """The rank for a uniform draw ``u`` in [0, 1)."""
        if self._cdf is not None:
            return min(bisect_left(self._cdf, u * self.zetan), self.n - 1)
        uz = u * self.zetan
        if uz < 1.0:
            return 0
        if uz < 1.0 + 0.5 ** self.theta:
            return 1
        return min(int(self.n * (self._eta * u - self._eta + 1) ** self._alpha), self.n - 1)


def _zeta(n: int, theta: float) -> float:
    # Exact head, Euler-Maclaurin tail: accurate to ~1e-9 relative for the n we meet.
    head = 100_000
    total = math.fsum(1.0 / float(k + 1) ** theta for k in range(head))
    a, b = float(head + 1), float(n)
    tail = (b ** (1 - theta) - a ** (1 - theta)) / (1 - theta)
    tail += 0.5 * (a ** -theta + b ** -theta)
    return float(total + tail)


def _scatter(n: int) -> Callable[[int], int]:
    """A fixed bijection of 0..n-1 that spreads neighbouring ranks over the range."""
    step = int(n * 0.6180339887) | 1
    while math.gcd(step, n) != 1:
        step += 2
    return lambda r: (r * step) % n


def key_drawer(spec: KeySpec, lo: int, hi: int, *, new_key_base: int = 0,
               inserted: Sequence[int] = ()) -> Callable[[ThreadContext], int]:
    """A key generator over ``[lo, hi]`` plus ``inserted``, the keys this run's successful
    inserts wrote (appended as they commit; read, never written, here).

    Lookups draw only keys that exist: the profiled range and the inserted keys, never a key
    that another thread's stripe has not reached yet. ``new_key_base`` is kept for callers
    that pass it; the drawers no longer guess inserted keys from it.
    """
    del new_key_base
    span = hi - lo + 1
    dist = spec.distribution
    if dist == "uniform":
        # random() and a multiply cost a fifth of randint(); the bias (< span / 2**53) is nil.
        if not isinstance(inserted, list):
            return lambda ctx: lo + int(ctx.rng.random() * span)

        def uniform(ctx: ThreadContext) -> int:
            index = int(ctx.rng.random() * (span + len(inserted)))
            return lo + index if index < span else inserted[index - span]

        return uniform
    if dist == "zipfian":
        zipf = Zipf(span, spec.theta)
        scatter = _scatter(span)
        return lambda ctx: lo + scatter(zipf.rank(ctx.rng.random()))
    if dist == "hotspot":
        hot = max(1, int(span * spec.hot_data))
        cold = span - hot
        hot_ops = spec.hot_ops

        def hotspot(ctx: ThreadContext) -> int:
            rng = ctx.rng
            if cold <= 0 or rng.random() < hot_ops:
                return lo + int(rng.random() * hot)
            return lo + hot + int(rng.random() * cold)

        return hotspot
    if dist == "latest":
        zipf = Zipf(min(span, 100_000), spec.theta)

        def latest(ctx: ThreadContext) -> int:
            # Rank 0 is the newest key that exists: the last committed insert, else the top of
            # the profiled range. A key still being inserted (or never) is never drawn.
            rank = zipf.rank(ctx.rng.random())
            n = len(inserted)
            if rank < n:
                return inserted[n - 1 - rank]
            return max(lo, hi - (rank - n))

        return latest
    # sequential: a disjoint stripe per thread, wrapping at the end of the range
    def sequential(ctx: ThreadContext) -> int:
        n = ctx.next_sequential()
        return lo + (ctx.global_index + n * ctx.stride) % span

    return sequential
