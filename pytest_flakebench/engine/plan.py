"""What the engine runs: one plan per operation kind, built by the workload layer.

The engine owns these types so that it depends on nothing above it: a plan is SQL (already in
the driver's parameter style) or a Python callable, and a function that makes each operation's
parameters from the thread's context. How plans are derived from a template lives in
``workload.plans``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pytest_flakebench.workload.context import OpParams, ThreadContext

ParamMaker = Callable[[ThreadContext], tuple[object, ...]]
"""Makes one operation's parameters, outside the timed region."""

PythonOp = Callable[[Any, OpParams], object]
"""A Python operation: called with the driver's raw connection and the thread's params."""


@dataclass(frozen=True, slots=True)
class KindPlan:
    """How to run one kind: SQL in the driver's style (or a Python callable), its parameters."""

    kind: str
    operation: Literal["read", "write"]
    sql: str
    make_params: ParamMaker
    call: PythonOp | None = None  # Python operations: called with (raw connection, OpParams)
    # A success that touched no row is a miss (point_lookup, update, queries expect="row").
    expect_row: bool = False
    # Called after a success, outside the timed region: an insert makes its key drawable.
    after_ok: Callable[[ThreadContext], None] | None = None


__all__ = ["KindPlan", "ParamMaker", "PythonOp"]
