"""How a run is spread over its workers, decided once by the controller before any load.

From the template every worker resolved and the workers that joined: each worker's connections
at the start (find_max: the first step's), the threads it opens (its ceiling), its share of an
open-loop rate and of an operation count, and the run's warmup, duration and step lengths
scaled by ``--flakebench-duration-scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_flakebench.distributed.find_max import FindMax
from pytest_flakebench.distributed.split import split_connections, split_operations
from pytest_flakebench.template.model import Template, WorkersSpec


@dataclass(slots=True)
class RunPlan:
    """One run's split over its workers and its phase lengths (seconds, scaled)."""

    split: dict[str, int]
    threads: dict[str, int]
    rates: dict[str, float]
    warmup_s: float
    duration_s: float
    fm: FindMax | None = None
    fm_step_s: float = 0.0
    operations: dict[str, int] = field(default_factory=dict)  # operation-count runs only


def plan_run(template: Template, ready: list[str], duration_scale: float) -> RunPlan:
    """The plan of a run over the ``ready`` workers; ``FlakebenchError`` if the connections
    cannot be split over them."""
    split = split_connections(template.workers, template.concurrency, ready)
    fm: FindMax | None = None
    if template.mode == "find_max" and template.find_max is not None:
        fm = FindMax(template.find_max, template.slo)
        split = split_connections(WorkersSpec(), fm.first(), ready)
        ceiling = split_connections(WorkersSpec(), template.find_max.ceiling, ready)
    cap = template.workers.max_connections
    if template.mode == "qps" and cap is None:
        cap = 0  # open loop: each worker may grow to twice its share (see below)
    threads = {w: (max(n, cap) if cap else (2 * n if template.mode == "qps" else n))
               if n else 0 for w, n in split.items()}
    if fm is not None:
        threads = {w: max(ceiling[w], split[w]) for w in split}
    total_conns = sum(split.values())
    # qps: each worker's share of the rate follows its share of the connections
    rates = {w: (template.qps or 0.0) * n / total_conns if total_conns else 0.0
             for w, n in split.items()}
    plan = RunPlan(split=split, threads=threads, rates=rates,
                   warmup_s=template.warmup * duration_scale,
                   duration_s=template.duration * duration_scale, fm=fm)
    if fm is not None:
        plan.duration_s = fm.spec.budget * duration_scale  # steps end sooner
        plan.fm_step_s = fm.spec.step_duration * duration_scale
    if template.operations is not None:
        plan.operations = split_operations(template.operations, split)
    return plan
