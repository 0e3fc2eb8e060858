"""The order of operations: a deterministic smooth weighted round robin over the mix.

Weights (percent, summing to 100) become integers in hundredths of a percent, reduced by their
greatest common divisor; one cycle of the schedule then holds every kind exactly its share of
times, spread as evenly as possible (nginx's smooth weighted round robin). Each thread walks the
same cycle from its own offset, so the mix is exact per cycle with no random draw at all.
"""

from __future__ import annotations

from functools import reduce
from math import gcd


def integer_weights(weights: dict[str, float]) -> dict[str, int]:
    """Weights as the smallest integers with the same ratios (to 0.01 %)."""
    hundredths = {kind: round(w * 100) for kind, w in weights.items() if round(w * 100) > 0}
    if not hundredths:
        raise ValueError("the mix has no kind with a positive weight")
    divisor = reduce(gcd, hundredths.values())
    return {kind: w // divisor for kind, w in hundredths.items()}


def smooth_weighted_schedule(weights: dict[str, float]) -> tuple[str, ...]:
    """One cycle of the smooth weighted round robin; kinds keep the dict's order on ties."""
    ints = integer_weights(weights)
    total = sum(ints.values())
    current = dict.fromkeys(ints, 0)
    cycle: list[str] = []
    for _ in range(total):
        for kind, weight in ints.items():
            current[kind] += weight
        chosen = max(current, key=current.__getitem__)  # first maximum wins: stable order
        current[chosen] -= total
        cycle.append(chosen)
    return tuple(cycle)


def thread_offset(thread_index: int, thread_count: int, cycle_length: int) -> int:
    """Where thread ``thread_index`` of ``thread_count`` starts in the cycle (spread evenly)."""
    return (thread_index * cycle_length) // max(thread_count, 1) % cycle_length
