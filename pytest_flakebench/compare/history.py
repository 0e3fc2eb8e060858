"""Between-run noise: how much the figures of comparable runs vary, from their history.

Samples within one run share that run's offset (its caches, its neighbours), so they cannot say
how much *runs* differ. The history of the last comparable runs of the same test on the same
target can: a run is outside what runs vary by only when its figure is beyond every one of the
last ``n`` runs' figures **and** beyond their one-sided 99% prediction bound,

    bound = mean + sqrt((1 + 1/n) · (z² · w + t(0.99, n-1)² · b))

computed on the logarithms of the figures (runs vary by a factor, not by an amount; error rates,
which are already fractions, are used as they are). Two parts of the figures' variance are
told apart: ``w``, how much a run's figure moves because it is measured from a finite number of
windows (known well: the variance of the runs' window samples over their count, dozens of
degrees of freedom), and ``b = max(0, sd² - w)``, how much runs' levels differ (known poorly
from a few runs, hence Student's t with n - 1 degrees of freedom). With no level differences the
bound is the normal one on ``w``; with large ones it is the classic prediction bound
``mean + t · sd · sqrt(1 + 1/n)``, crossed by an unchanged run 1% of the time whatever the
spread. Fewer than :data:`MIN_RUNS` runs say nothing about the spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_RUNS = 3  # fewer comparable runs say nothing about how much runs vary
CONFIDENCE = 0.99  # of the prediction bound
# One-sided 99% quantiles of Student's t by degrees of freedom (1..30); beyond: the normal's.
_T99 = (31.821, 6.965, 4.541, 3.747, 3.365, 3.143, 2.998, 2.896, 2.821, 2.764, 2.718, 2.681,
        2.650, 2.624, 2.602, 2.583, 2.567, 2.552, 2.539, 2.528, 2.518, 2.508, 2.500, 2.492,
        2.485, 2.479, 2.473, 2.467, 2.462, 2.457)
_Z99 = 2.326
# Only this share of the within-run variance is credited against the figures' spread before
# the rest counts as level differences between runs (1.0 would trust the within-run estimate
# fully; a few runs that happen to lie close together then make the bound too tight).
WITHIN_CREDIT = 0.25


def t99(df: int) -> float:
    """One-sided 99% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError("t99 needs at least one degree of freedom")
    return _T99[df - 1] if df <= len(_T99) else _Z99


@dataclass(frozen=True, slots=True)
class Spread:
    """What the last ``runs`` comparable runs' figures of one metric say."""

    runs: int
    low: float  # smallest figure
    high: float  # largest figure
    center: float  # geometric mean (arithmetic for absolute metrics)
    upper: float  # 99% prediction bound above
    lower: float  # 99% prediction bound below

    def relative(self) -> float:
        """Half the range as a share of the center (``0.03`` = the runs span ±3%)."""
        if self.center <= 0:
            return 0.0
        return (self.high - self.low) / 2 / self.center

    def outside(self, value: float, direction: int) -> bool:
        """True when ``value`` is beyond every run and beyond the bound, in ``direction``."""
        if direction > 0:
            return value > self.high and value > self.upper
        return value < self.low and value < self.lower

    def bound(self, direction: int) -> float:
        """The figure beyond which a run is outside the spread, in ``direction``."""
        return max(self.high, self.upper) if direction > 0 else min(self.low, self.lower)


def within_variance(samples: Sequence[float], *, absolute: bool = False) -> float | None:
    """How much a figure measured from these window samples moves: var(samples) / count.

    On logarithms unless ``absolute``; None for fewer than 3 usable samples.
    """
    usable = [float(v) for v in samples if absolute or v > 0]
    if len(usable) < 3:
        return None
    values = usable if absolute else [math.log(v) for v in usable]
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values)


def spread_of(figures: Sequence[float], *, absolute: bool = False,
              within: float | None = None) -> Spread | None:
    """The spread of ``figures`` (None for fewer than :data:`MIN_RUNS` usable ones).

    ``absolute``: the figures are compared by difference (error rates); otherwise by ratio,
    so they must be positive. ``within``: the variance a figure has from its own window
    samples (:func:`within_variance`, averaged over the runs); None: unknown, so all of the
    figures' spread is taken as level differences between runs.
    """
    usable = [float(f) for f in figures if absolute or f > 0]
    n = len(usable)
    if n < MIN_RUNS:
        return None
    values = usable if absolute else [math.log(f) for f in usable]
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    w = within if within is not None and within >= 0 else 0.0
    between = max(0.0, sd * sd - WITHIN_CREDIT * w)
    width = math.sqrt((1 + 1 / n) * (_Z99 * _Z99 * w + t99(n - 1) ** 2 * between))
    if absolute:
        return Spread(n, min(usable), max(usable), mean, mean + width, max(0.0, mean - width))
    return Spread(n, min(usable), max(usable), math.exp(mean), math.exp(mean + width),
                  math.exp(mean - width))
