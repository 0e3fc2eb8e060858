"""Latency histograms: a thin, typed layer over the ``hdrhistogram`` package.

Every histogram has the same shape (1 µs .. 1 h, 3 significant digits), so merges use the fast
same-shape path and the wire form (``encode()``: base64 of the compressed HDR V2 payload) can be
decoded and added on any process or machine, exactly. ``hdrhistogram`` silently drops values above
its range; here such a value is clamped to the highest trackable value and counted.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3

PERCENTILES: dict[str, float] = {
    "p50": 50.0,
    "p90": 90.0,
    "p95": 95.0,
    "p99": 99.0,
    "p999": 99.9,
}


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles and moments of a histogram, in whole microseconds."""

    count: int
    min_us: int
    mean_us: float
    p50_us: int
    p90_us: int
    p95_us: int
    p99_us: int
    p999_us: int
    max_us: int

    def value(self, metric: str) -> float:
        """A metric by its SLO name (``p95``, ``max``…)."""
        return float(getattr(self, f"{metric}_us"))


class LatencyHistogram:
    """An HDR histogram of latencies in microseconds."""

    __slots__ = ("_hist", "clamped")

    def __init__(self, _hist: Any | None = None) -> None:
        self._hist = _hist if _hist is not None else HdrHistogram(
            LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS
        )
        self.clamped = 0

    def record(self, latency_us: int, count: int = 1) -> None:
        """Record ``count`` latencies of one value; values above the range are clamped, counted."""
        if latency_us < LOWEST_US:
            latency_us = LOWEST_US  # a sub-microsecond operation still counts as one
        elif latency_us > HIGHEST_US:
            latency_us = HIGHEST_US
            self.clamped += count
        self._hist.record_value(latency_us, count)

    def percentiles_us(self, percentiles: tuple[float, ...]) -> tuple[int, ...]:
        """Values at ``percentiles`` without the mean (cheap enough for once a second)."""
        if not self.count:
            return tuple(0 for _ in percentiles)
        values = self._hist.get_percentile_to_value_dict(list(percentiles))
        return tuple(int(values[p]) for p in percentiles)

    def reset(self) -> None:
        """Empty the histogram in place, keeping its count array.

        The engine's ticker reuses its histograms instead of allocating new ones several times a
        second: each count array is ~188 KB, and a long run that frees and allocates them keeps
        fragmenting the C heap (benchmarks/README.md, ``memory_soak.py``). ``HdrHistogram.reset``
        zeroes the array one Python assignment at a time; a ``memset`` does it at once.
        """
        hist = self._hist
        ctypes.memset(ctypes.addressof(hist.counts), 0, ctypes.sizeof(hist.counts))
        hist.total_count = 0
        hist.min_value = sys.maxsize
        hist.max_value = 0
        hist.start_time_stamp_msec = sys.maxsize
        hist.end_time_stamp_msec = 0
        self.clamped = 0

    @property
    def count(self) -> int:
        """Number of recorded values."""
        return int(self._hist.get_total_count())

    def add(self, other: LatencyHistogram) -> None:
        """Merge ``other`` into this histogram (exact: counts are added bucket by bucket)."""
        if other.count:
            self._hist.add(other._hist)
        self.clamped += other.clamped

    def add_encoded(self, encoded: str) -> None:
        """Merge a histogram received in wire form."""
        other = LatencyHistogram.decode(encoded)
        self.add(other)

    def encode(self) -> str:
        """Wire form: base64 text of the compressed HDR V2 payload (``clamped`` travels apart)."""
        return bytes(self._hist.encode()).decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> LatencyHistogram:
        """Rebuild a histogram from :meth:`encode` output."""
        hist = HdrHistogram.decode(encoded.encode("ascii"))
        if hist.highest_trackable_value < HIGHEST_US:
            # Normalise foreign shapes so later merges take the fast same-shape path.
            normal = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
            normal.add(hist)
            hist = normal
        return cls(hist)

    def percentile_us(self, percentile: float) -> int:
        """The value at ``percentile`` (0..100), 0 when empty."""
        if not self.count:
            return 0
        return int(self._hist.get_value_at_percentile(percentile))

    def summary(self) -> LatencySummary:
        """Percentiles p50 … p99.9, min, mean and max."""
        if not self.count:
            return LatencySummary(0, 0, 0.0, 0, 0, 0, 0, 0, 0)
        values = self._hist.get_percentile_to_value_dict(list(PERCENTILES.values()))
        p = {name: int(values[pct]) for name, pct in PERCENTILES.items()}
        return LatencySummary(
            count=self.count,
            min_us=int(self._hist.get_min_value()),
            mean_us=float(self._hist.get_mean_value()),
            p50_us=p["p50"],
            p90_us=p["p90"],
            p95_us=p["p95"],
            p99_us=p["p99"],
            p999_us=p["p999"],
            max_us=int(self._hist.get_max_value()),
        )

    def spectrum(self, percentiles: list[float]) -> dict[float, int]:
        """Values at many percentiles at once (for reports)."""
        if not self.count:
            return dict.fromkeys(percentiles, 0)
        values = self._hist.get_percentile_to_value_dict(percentiles)
        return {p: int(values[p]) for p in percentiles}


def merge_encoded(encoded: list[str]) -> LatencyHistogram:
    """Merge many wire-form histograms into one."""
    total = LatencyHistogram()
    for item in encoded:
        total.add_encoded(item)
    return total
