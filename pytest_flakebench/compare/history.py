"""Between-run noise: how much the figures of comparable runs vary, from their history.

Samples within one run share that run's offset (its caches, its neighbours), so they cannot say
how much *runs* differ. The history of the last comparable runs of the same test on the same
target can: a run is outside what runs vary by only when its figure is beyond every one of the
last ``n`` runs' figures **and** beyond their one-sided 99% prediction bound,

    bound = mean + sqrt((1 + 1/n) · (z² · w + t(0.99, n - 1 + d0)² · b̃))

on the logarithms of the figures (runs vary by a factor, not by an amount; error rates, already
fractions, are used as they are). A figure's variance has two parts, judged apart:

- ``w``, how much a run's figure moves because it is measured from a finite number of windows.
  It is known well (the variance of the runs' window samples over their count, dozens of
  degrees of freedom), so it takes the normal quantile ``z``;
- ``b``, how much runs' levels differ. The history's own estimate, ``max(0, s² - w)`` from the
  ``n`` figures' variance ``s²``, has only ``n - 1`` degrees of freedom: with 3 runs Student's
  t(0.99, 2) is 6.97 and a 1.5x slowdown stays inside the bound a third of the time or more.
  As in Smyth's moderated t (limma, 2004) the estimate is shrunk toward a prior ``b0`` worth
  ``d0`` pseudo-runs, ``b̃ = (d0 · b0 + (n - 1) · max(0, s² - w)) / (d0 + n - 1)``, and t has
  ``n - 1 + d0`` degrees of freedom. The prior (:class:`Prior`) comes from the spread of other
  series in the same results store when there are enough of them (:mod:`.prior`), else it is
  :data:`DEFAULT_PRIOR`: runs of one test differ by 6% (log sd), worth 4 runs. Either way it is
  named in the comparison table. As the history grows its own estimate takes over.

The "beyond every one of the last n runs" requirement stays: it alone keeps an unchanged run's
chance below 1 / (n + 1) whatever the spread, so a prior that understates a noisy test's spread
cannot by itself turn its ordinary runs into regressions. Fewer than :data:`MIN_RUNS` runs say
nothing about the spread.
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


@dataclass(frozen=True, slots=True)
class Prior:
    """What runs of a test are expected to vary by before its own history says: ``b0``, ``d0``.

    ``sd`` is the between-run standard deviation (of the logarithm: 0.05 = runs' levels differ
    by about 5%; in the metric's own unit for absolute metrics); ``df`` how many runs of
    evidence it is worth (0: none, the history alone decides); ``source`` says where it came
    from, for the comparison table.
    """

    sd: float
    df: float
    source: str

    def describe(self) -> str:
        """``prior 5.0% (4 runs, default)``."""
        if self.df <= 0:
            return "no prior"
        return f"prior {self.sd * 100:.1f}% ({self.df:g} runs, {self.source})"


# Runs of one test on one target differ by about 6% (log sd) when nothing is known: worth 4 runs.
DEFAULT_PRIOR = Prior(0.06, 4.0, "default")
NO_PRIOR = Prior(0.0, 0.0, "none")  # absolute metrics (error rates) have no default scale


def t99(df: float) -> float:
    """One-sided 99% quantile of Student's t with ``df`` degrees of freedom (rounded down)."""
    whole = int(df)
    if whole < 1:
        raise ValueError("t99 needs at least one degree of freedom")
    return _T99[whole - 1] if whole <= len(_T99) else _Z99


@dataclass(frozen=True, slots=True)
class Spread:
    """What the last ``runs`` comparable runs' figures of one metric say."""

    runs: int
    low: float  # smallest figure
    high: float  # largest figure
    center: float  # geometric mean (arithmetic for absolute metrics)
    upper: float  # 99% prediction bound above
    lower: float  # 99% prediction bound below
    prior: Prior = NO_PRIOR  # what the between-run estimate was shrunk toward

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


def moderated_between(own: float, runs: int, prior: Prior) -> tuple[float, float]:
    """``(b̃, degrees of freedom)``: the history's between-run variance ``own`` (from ``runs``
    figures) shrunk toward the prior's, as in limma's moderated t."""
    df = runs - 1 + max(0.0, prior.df)
    if df <= 0:
        return own, 0.0
    return (max(0.0, prior.df) * prior.sd ** 2 + (runs - 1) * own) / df, df


def spread_of(figures: Sequence[float], *, absolute: bool = False,
              within: float | None = None, prior: Prior | None = None) -> Spread | None:
    """The spread of ``figures`` (None for fewer than :data:`MIN_RUNS` usable ones).

    ``absolute``: the figures are compared by difference (error rates); otherwise by ratio,
    so they must be positive. ``within``: the variance a figure has from its own window
    samples (:func:`within_variance`); None: unknown, so all of the figures' spread is taken as
    level differences between runs. ``prior``: what the between-run variance is shrunk toward
    (default :data:`DEFAULT_PRIOR`, :data:`NO_PRIOR` for absolute metrics).
    """
    usable = [float(f) for f in figures if absolute or f > 0]
    n = len(usable)
    if n < MIN_RUNS:
        return None
    if prior is None:
        prior = NO_PRIOR if absolute else DEFAULT_PRIOR
    values = usable if absolute else [math.log(f) for f in usable]
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    w = within if within is not None and within >= 0 else 0.0
    between, df = moderated_between(max(0.0, variance - w), n, prior)
    width = math.sqrt((1 + 1 / n) * (_Z99 * _Z99 * w + t99(df) ** 2 * between))
    if absolute:
        return Spread(n, min(usable), max(usable), mean, mean + width, max(0.0, mean - width),
                      prior)
    return Spread(n, min(usable), max(usable), math.exp(mean), math.exp(mean + width),
                  math.exp(mean - width), prior)
