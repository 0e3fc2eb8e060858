"""How a run's connections are split over its workers (pure and deterministic).

Modes, as in the seed: ``auto`` spreads ``concurrency`` over every available worker; ``bounded``
uses between ``min_workers`` and ``max_workers`` workers with between ``min_connections`` and
``max_connections`` each; ``fixed`` uses exactly ``min_workers`` workers with
``min_connections`` each. Workers left without a share still take part (they hold the same item
in step) but send no load; the split is recorded with the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_flakebench.errors import TargetError
from pytest_flakebench.template.model import WorkersSpec


def split_connections(spec: WorkersSpec, concurrency: int,
                      workers: Sequence[str]) -> dict[str, int]:
    """Connections per worker, in the order given; raises ``TargetError`` when impossible."""
    available = len(workers)
    if spec.mode == "fixed":
        need = spec.min_workers
        if available < need:
            raise TargetError(
                f"workers mode 'fixed' needs {need} workers but {available} are available "
                f"({', '.join(workers)}): run with -n {need} or more"
            )
        per = spec.min_connections
        return {w: (per if i < need else 0) for i, w in enumerate(workers)}
    if spec.mode == "bounded":
        if available < spec.min_workers:
            raise TargetError(
                f"workers mode 'bounded' needs at least {spec.min_workers} workers but "
                f"{available} are available ({', '.join(workers)}): run with -n "
                f"{spec.min_workers} or lower min_workers"
            )
        used = min(available, spec.max_workers or available, concurrency)
    else:
        used = min(available, concurrency)
    shares = [concurrency // used + (1 if i < concurrency % used else 0) for i in range(used)]
    if spec.mode == "bounded":
        top = spec.max_connections
        if top is not None and max(shares) > top:
            raise TargetError(
                f"concurrency {concurrency} over {used} worker(s) needs up to {max(shares)} "
                f"connections per worker, above max_connections={top}: add workers "
                f"(-n, max_workers) or raise max_connections"
            )
        if min(shares) < spec.min_connections:
            raise TargetError(
                f"concurrency {concurrency} over {used} worker(s) gives {min(shares)} "
                f"connection(s) to a worker, below min_connections={spec.min_connections}"
            )
    return {w: (shares[i] if i < used else 0) for i, w in enumerate(workers)}


def split_operations(operations: int, split: dict[str, int]) -> dict[str, int]:
    """An operation-count run's operations per worker: ``operations`` spread over the run's
    connections in worker order, the first ``operations % connections`` taking one more; each
    worker's engine spreads its share over its connections the same way, so every connection
    of the run runs the share it would get from one global split."""
    total = sum(split.values())
    base, extra = divmod(operations, total) if total else (0, 0)
    shares: dict[str, int] = {}
    first = 0  # the run-wide index of this worker's first connection
    for worker, connections in split.items():
        bonus = max(0, min(extra - first, connections))
        shares[worker] = base * connections + bonus
        first += connections
    return shares


def total_connections(spec: WorkersSpec, concurrency: int) -> int:
    """The run's total connections (``fixed`` is workers x connections)."""
    if spec.mode == "fixed":
        return spec.min_workers * spec.min_connections
    return concurrency
