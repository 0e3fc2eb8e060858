"""A worker's evidence collector: plans in preflight, server figures around the load.

Opened in preflight on a connection of its own (before the driver is tagged with the run, so
the server never mistakes it for a benchmark connection), it explains every kind's statement
and, on PostgreSQL, takes the "before" snapshots: before this worker joins, hence before any
worker sends load (load starts only when every worker has joined). At START the lead worker
starts the wait sampler; after the load it waits until the run's benchmark connections have
gone (their statistics are flushed when they exit), then takes the "after" snapshots. Nothing
here runs inside the timed region, and nothing here ever fails a run: a problem is a note.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from pytest_flakebench.evidence.explain import Statement
from pytest_flakebench.workload.context import ThreadContext

if TYPE_CHECKING:
    from pytest_flakebench.distributed.prepare import Prepared

GONE_TIMEOUT_S = 10.0  # waiting for the run's backends to exit and flush their statistics
# ... but at most this share of the drain timeout: the lead's report must reach the controller
# within it, even when another host's backends never exit (its network was cut).
GONE_SHARE_OF_DRAIN = 0.3


def app_name(run_id: str) -> str:
    """``application_name`` of a run's benchmark connections (PostgreSQL, ≤ 63 bytes)."""
    return f"flakebench:{run_id}"[:63]


def _note(what: str, exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{what}: {text.splitlines()[0] if text else type(exc).__name__}"


def statements_of(prepared: Prepared) -> dict[str, Statement]:
    """Each SQL kind's statement with the parameters the run's first thread would draw."""
    probe = ThreadContext(seed=prepared.template.seed, global_index=0, stride=1)
    found: dict[str, Statement] = {}
    for kind, plan in prepared.plans.items():
        if plan.call is None:  # Python operations have no statement to explain
            found[kind] = (plan.sql, plan.make_params(probe))
    return found


class Collector:
    """Plans only (the base for every dialect)."""

    dialect = ""

    def __init__(self, prepared: Prepared, run_id: str) -> None:
        self.prepared = prepared
        self.run_id = run_id
        self.lead = False
        self.plans: dict[str, Any] = {}
        self.notes: list[str] = []
        self._conn: Any = None  # the driver connection wrapper (closed in close())

    def _open(self) -> Any:
        self._conn = self.prepared.driver.connect()
        return self._conn.raw

    def preflight(self) -> None:
        """Explain the statements (and take "before" snapshots); may raise."""

    def begin(self, lead: bool) -> None:
        """Load is starting; ``lead``: this worker collects the server figures."""
        self.lead = lead
        if not lead:
            self.close()

    #: set by the worker from its drain timeout (see ``GONE_SHARE_OF_DRAIN``)
    gone_timeout_s: float = GONE_TIMEOUT_S

    def finish(self) -> dict[str, Any]:
        """Load is over: the report for the controller (``meta.evidence``)."""
        return {"lead": self.lead, "dialect": self.dialect, "plans": self.plans,
                "notes": self.notes}

    def close(self) -> None:
        """Release the connection; never raises."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class PostgresCollector(Collector):
    """EXPLAIN, pg_stat_statements / pg_stat_user_tables / pg_stat_database, wait events."""

    dialect = "postgresql"

    def __init__(self, prepared: Prepared, run_id: str) -> None:
        super().__init__(prepared, run_id)
        self._sampler: Any = None
        self._before: dict[str, Any] = {}
        self.texts: dict[str, str] = {}
        self.pgss_missing: str | None = "not checked"
        self.quoted = prepared.profile.info.table.quoted()

    def preflight(self) -> None:
        """EXPLAIN every statement; snapshot the counters before any load."""
        from pytest_flakebench.drivers.postgres import format_to_numeric
        from pytest_flakebench.evidence import pg_stats
        from pytest_flakebench.evidence.explain import explain_postgres

        statements = statements_of(self.prepared)
        self.texts = {k: format_to_numeric(sql) for k, (sql, _) in statements.items()}
        raw = self._open()
        raw.execute("SET application_name = 'flakebench-evidence'")
        self.plans = explain_postgres(raw, statements)
        self.pgss_missing = pg_stats.pgss_missing(raw)
        if self.pgss_missing is not None:
            self.notes.append(f"{pg_stats.ENABLE_HINT} ({self.pgss_missing})")
        self._before = self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        from pytest_flakebench.evidence import pg_stats

        raw = self._conn.raw
        snap: dict[str, Any] = {"table": pg_stats.table(raw, self.quoted),
                                "database": pg_stats.database(raw)}
        if self.pgss_missing is None:
            snap["statements"] = pg_stats.statements(raw, self.texts)
        return snap

    def begin(self, lead: bool) -> None:
        """The lead starts sampling ``pg_stat_activity`` for the run's backends."""
        super().begin(lead)
        if lead and self._conn is not None:
            from pytest_flakebench.evidence.waits import WaitSampler

            self._sampler = WaitSampler(self._conn.raw, app_name(self.run_id))
            self._sampler.start()

    def finish(self) -> dict[str, Any]:
        """Stop sampling, wait for the run's backends to exit, take the deltas."""
        report = super().finish()
        if not self.lead or self._conn is None:
            return report
        from pytest_flakebench.evidence import pg_stats

        raw = self._conn.raw
        try:
            report["waits"] = self._sampler.stop() if self._sampler is not None else {}
            deadline = time.monotonic() + self.gone_timeout_s
            while pg_stats.backends_left(raw, app_name(self.run_id)):
                if time.monotonic() > deadline:
                    self.notes.append(f"benchmark connections still open "
                                      f"{self.gone_timeout_s:g}s "
                                      f"after the load: server figures may miss their last "
                                      f"second")
                    break
                time.sleep(0.05)
            after = self._snapshot()
        except Exception as exc:  # the server went away: the run keeps its own figures
            self.notes.append(_note("server statistics not read", exc))
            return report
        report["table"] = pg_stats.delta(self._before["table"], after["table"])
        report["database"] = pg_stats.delta(self._before["database"], after["database"])
        if "statements" in after:
            report["statements"] = pg_stats.statement_figures(self._before["statements"],
                                                              after["statements"])
        return report

    def close(self) -> None:
        """Stop the sampler (if running) and close the connection."""
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
        super().close()


class SqliteCollector(Collector):
    """EXPLAIN QUERY PLAN, and the table's row count before and after (inserts check)."""

    dialect = "sqlite"

    _rows_before = 0

    def preflight(self) -> None:
        """EXPLAIN QUERY PLAN every statement; count the table's rows."""
        from pytest_flakebench.evidence.explain import explain_sqlite

        raw = self._open()
        self.plans = explain_sqlite(raw, statements_of(self.prepared))
        self._rows_before = self._count()

    def _count(self) -> int:
        table = self.prepared.profile.info.table.quoted()
        return int(self._conn.raw.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def finish(self) -> dict[str, Any]:
        """Rows added to the table over the run (for the inserts self-check)."""
        report = super().finish()
        if self.lead and self._conn is not None:
            try:
                report["table"] = {"rows_added": self._count() - self._rows_before}
            except Exception as exc:
                self.notes.append(_note("row count not read", exc))
        return report


class SnowflakeCollector(Collector):
    """EXPLAIN USING JSON, and the run's queries from QUERY_HISTORY by query tag."""

    dialect = "snowflake"

    started_at = 0.0

    def preflight(self) -> None:
        """EXPLAIN USING JSON every statement (compiled, never executed)."""
        from pytest_flakebench.evidence.explain import explain_snowflake

        self.started_at = time.time()
        raw = self._open()
        self.plans = explain_snowflake(raw, statements_of(self.prepared))

    def finish(self) -> dict[str, Any]:
        """The run's queries from ``INFORMATION_SCHEMA.QUERY_HISTORY``, per kind."""
        report = super().finish()
        session = getattr(self.prepared.driver, "session_parameters", None)
        if isinstance(session, dict):
            report["session"] = dict(session)
        if self.lead and self._conn is not None:
            from pytest_flakebench.evidence.snowflake_history import query_history

            history, note = query_history(self._conn.raw, self.run_id, self.started_at)
            if history:
                report["history"] = history
            if note:
                self.notes.append(note)
        return report


def open_collector(prepared: Prepared, run_id: str) -> Collector:
    """The collector for the target's dialect; a failure leaves a plans-less one with a note."""
    kinds = {"postgresql": PostgresCollector, "sqlite": SqliteCollector,
             "snowflake": SnowflakeCollector}
    collector = kinds.get(prepared.driver.dialect, Collector)(prepared, run_id)
    try:
        collector.preflight()
        return collector
    except Exception as exc:
        collector.close()
        fallback = Collector(prepared, run_id)
        fallback.dialect = prepared.driver.dialect
        fallback.notes.append(_note("server evidence not collected", exc))
        return fallback


def is_lead(worker_id: str, thread_base: dict[str, Any]) -> bool:
    """The lead is the first worker id of the run (every worker computes the same)."""
    return not thread_base or min(thread_base) == worker_id


__all__ = ["Collector", "app_name", "is_lead", "open_collector", "statements_of"]
