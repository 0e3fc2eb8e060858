"""The results-store seam: one interface, one implementation per database.

A store keeps every run (``TEST_RESULTS``), its per-kind statistics with the encoded histogram
(``TEST_KIND_STATISTICS``) and its per-second snapshots (``WORKER_METRICS_SNAPSHOTS``). A run's
rows are written in one transaction. Server stores (PostgreSQL, Snowflake) never create their
schema during a test run: ``flakebench store init URL`` does, and ``check()`` says so when missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from pytest_flakebench.judge.results import RunResult

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of ``flakebench runs``."""

    run_id: str
    test: str
    status: str
    verdict: str
    started_at: float
    target: str
    table: str
    qps: float
    p95_us: int
    errors: int


@dataclass(frozen=True, slots=True)
class BaselineRow:
    """One named baseline: ``flakebench baseline list``."""

    name: str
    run_id: str
    test: str
    created_at: float


class ResultStore(Protocol):
    """Where runs are kept."""

    redacted_url: str

    def init_schema(self) -> None:
        """Create the store's tables (idempotent)."""
        ...

    def check(self) -> None:
        """Raise ``StoreError`` (with the fix) if the store is unreachable or not initialised."""
        ...

    def save_run(self, run: RunResult) -> None:
        """Write the run, its kinds and its snapshots in one transaction."""
        ...

    def list_runs(self, *, limit: int = 50, test: str | None = None, target: str | None = None,
                  status: str | None = None, since: float | None = None) -> list[RunRow]:
        """Newest runs first; ``test``/``target`` are substrings, ``since`` epoch seconds."""
        ...

    def set_baseline(self, name: str, run_id: str) -> str:
        """Name a stored run (id or unique prefix) as baseline ``name``; return the full id."""
        ...

    def get_baseline(self, name: str) -> str | None:
        """The run id of baseline ``name``, or None."""
        ...

    def list_baselines(self) -> list[BaselineRow]:
        """Every named baseline, by name."""
        ...

    def remove_baseline(self, name: str) -> bool:
        """Forget baseline ``name`` (the run stays); False if there was none."""
        ...

    def get_run(self, run_id: str) -> RunResult | None:
        """A stored run, or None; ``run_id`` may be a unique prefix."""
        ...

    def close(self) -> None:
        """Release connections; never raises."""
        ...


@runtime_checkable
class CursorStore(ResultStore, Protocol):
    """A results store that lends a cursor on its own connection, for the catalog (saved
    connections and templates live in the store's database, beside the runs)."""

    redacted_url: str
    placeholder: str
    """The driver's bind marker: ``?`` or ``%s``."""
    table_prefix: str
    """Put before a table's name: ``flakebench.`` where the tables live in that schema."""

    def with_cursor(self, action: str, body: Callable[[Any], T], *, atomic: bool = False) -> T:
        """``body(cursor)`` on the store's connection, inside one transaction if ``atomic``
        (rolled back on any exception); driver errors become ``StoreError`` naming ``action``."""
        ...

