"""Who a worker is and how it reaches the control plane; the error that ends its part of a run
without a result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_flakebench.control.plane import ControlPlane
from pytest_flakebench.distributed.handoff import Handoff
from pytest_flakebench.errors import FlakebenchError


class RunAborted(FlakebenchError):
    """The run ended without a result for this worker (failed elsewhere, or cancelled)."""


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """Who this worker is and how to reach the control plane."""

    plane: ControlPlane
    session_id: str
    worker_id: str
    base_dir: Path
    duration_scale: float
    join_timeout_s: float
    drain_timeout_s: float
    query_sample: float = 0.0
    handoff: Handoff | None = None  # the second channel when the store is out of reach
    store_outage_s: float = 30.0
