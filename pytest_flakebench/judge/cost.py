"""What a Snowflake run costs in warehouse credits (pure: no DB client, no pytest).

Snowflake bills a running warehouse per second with a 60-second minimum each time it resumes,
at a rate set by its size (X-Small 1 credit/hour, each size up doubles), per running cluster
("Overview of warehouses", "Understanding compute cost"). So a run of ``t`` seconds costs::

    credits = credits_per_hour(size) × clusters × max(t, 60) / 3600

Assumptions, all conservative: the run resumes the warehouse once (the 60 s minimum applies),
and a multi-cluster warehouse runs its ``max_cluster_count`` clusters the whole time. The
warehouse's auto-suspend tail, cloud-services credits, Gen2 and Snowpark-optimized rates are not
counted. ``t`` is the run from START to its end (warmup, measurement, drain).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MINIMUM_BILLED_S = 60.0
_SIZES = ("X-SMALL", "SMALL", "MEDIUM", "LARGE", "X-LARGE", "2X-LARGE", "3X-LARGE",
          "4X-LARGE", "5X-LARGE", "6X-LARGE")
#: Credits per hour of one cluster (Gen1 standard warehouses): X-Small 1, doubling per size.
CREDITS_PER_HOUR = {size: float(2 ** i) for i, size in enumerate(_SIZES)}
_ALIASES = {"XSMALL": "X-SMALL", "XLARGE": "X-LARGE", "XXLARGE": "2X-LARGE",
            "XXXLARGE": "3X-LARGE", "X2LARGE": "2X-LARGE", "X3LARGE": "3X-LARGE",
            "X4LARGE": "4X-LARGE", "X5LARGE": "5X-LARGE", "X6LARGE": "6X-LARGE"}


def credits_per_hour(size: str) -> float:
    """Credits per hour of one cluster of ``size`` (``X-Small``, ``XSMALL``, ``2X-Large``…)."""
    key = size.strip().upper().replace(" ", "").replace("_", "-")
    key = _ALIASES.get(key.replace("-", ""), key)
    if key not in CREDITS_PER_HOUR:
        raise ValueError(f"unknown warehouse size {size!r}: expected one of "
                         f"{', '.join(s.title() for s in _SIZES)}")
    return CREDITS_PER_HOUR[key]


def billed_seconds(run_s: float) -> float:
    """Seconds billed for a run that resumes the warehouse once: 60 s minimum, then per second."""
    return max(float(run_s), MINIMUM_BILLED_S)


@dataclass(frozen=True, slots=True)
class RunCost:
    """The cost of one run (``cost`` in the JSON and the stored ``RESULT_JSON``)."""

    warehouse: str | None
    size: str
    clusters: int
    credits_per_hour: float
    run_s: float
    billed_s: float
    credits: float
    credit_price: float | None = None  # currency per credit (--flakebench-credit-price)
    amount: float | None = None  # credits × credit_price

    def to_dict(self) -> dict[str, Any]:
        """Builtins only."""
        return asdict(self)

    def describe(self) -> str:
        """``0.0250 credits (X-Small × 1 cluster, 90 s billed) = 0.08 at 3.00/credit``."""
        plural = "s" if self.clusters != 1 else ""
        text = (f"{self.credits:.4f} credits ({self.size} × {self.clusters} cluster{plural}, "
                f"{self.billed_s:.0f} s billed)")
        if self.amount is not None and self.credit_price is not None:
            text += f" = {self.amount:.2f} at {self.credit_price:.2f}/credit"
        return text


def run_cost(size: str, clusters: int, run_s: float, *, warehouse: str | None = None,
             credit_price: float | None = None) -> RunCost:
    """The cost of ``run_s`` seconds on ``clusters`` clusters of a ``size`` warehouse."""
    if clusters < 1:
        raise ValueError(f"clusters must be at least 1, got {clusters}")
    rate = credits_per_hour(size)
    billed = billed_seconds(run_s)
    credits = rate * clusters * billed / 3600.0
    return RunCost(warehouse=warehouse, size=size, clusters=clusters, credits_per_hour=rate,
                   run_s=float(run_s), billed_s=billed, credits=credits,
                   credit_price=credit_price,
                   amount=credits * credit_price if credit_price is not None else None)


def cost_from_settings(settings: dict[str, str], run_s: float, *,
                       credit_price: float | None = None) -> RunCost | None:
    """The cost from a Snowflake driver's ``server_settings`` (None without a warehouse size)."""
    size = settings.get("size")
    if not size:
        return None
    try:
        clusters = max(1, int(settings.get("max_cluster_count") or 1))
        return run_cost(size, clusters, run_s, warehouse=settings.get("warehouse"),
                        credit_price=credit_price)
    except ValueError:
        return None
