"""The PostgreSQL results store (psycopg 3), tables in schema ``flakebench``.

The schema is created only by :meth:`PostgresStore.init_schema` (``flakebench store init URL``):
a test run never issues DDL against a shared server, and :meth:`PostgresStore.check` says how to
fix a missing schema. Bulk rows go through ``cursor.executemany``, which psycopg 3 pipelines
(one round trip for the batch rather than one per row).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from pytest_flakebench.errors import StoreError
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.sql import ddl
from pytest_flakebench.stores import rows
from pytest_flakebench.stores.backend import PostgresBackend
from pytest_flakebench.stores.base import BaselineRow, RunRow
from pytest_flakebench.stores.connections import GIVE_UP_S, Backoff, Connections
from pytest_flakebench.urls import redact_url

SCHEMA = "flakebench"
_CODEC = rows.Codec(timestamp=rows.utc_datetime, json=Jsonb)
_INSERT_RESULT = rows.insert_sql(f"{SCHEMA}.TEST_RESULTS", rows.RESULT_COLUMNS, "%s")
_INSERT_KIND = rows.insert_sql(f"{SCHEMA}.TEST_KIND_STATISTICS", rows.KIND_COLUMNS, "%s")
_INSERT_SNAPSHOT = rows.insert_sql(
    f"{SCHEMA}.WORKER_METRICS_SNAPSHOTS", rows.SNAPSHOT_COLUMNS, "%s"
)
_COPY_QUERIES = f"COPY {SCHEMA}.QUERY_EXECUTIONS ({', '.join(rows.QUERY_COLUMNS)}) FROM STDIN"
# Serialises concurrent `store init` runs: CREATE ... IF NOT EXISTS alone can still race.
_INIT_LOCK_KEY = 0x666C616B65  # "flake"

T = TypeVar("T")


def schema_sql() -> str:
    """The PostgreSQL DDL shipped with the package (``sql/postgres/*.sql``, in order)."""
    return ddl("postgres")


class PostgresStore:
    """A results store in a PostgreSQL database; one connection, shared under a lock, opened
    again with backoff when the server restarts (``stores.connections``)."""

    placeholder = "%s"
    table_prefix = f"{SCHEMA}."

    def __init__(self, url: str, *, give_up_s: float = GIVE_UP_S) -> None:
        self._url = url
        self.redacted_url = redact_url(url)
        self._backend = PostgresBackend(url)
        self._connections = Connections(self._backend, role="results store",
                                        backoff=Backoff(give_up_s=give_up_s), per_thread=False)

    # -- plumbing ------------------------------------------------------------------------------

    def _reason(self, exc: BaseException) -> str:
        """The driver's message on one line, with the password scrubbed in case it echoes it."""
        return self._backend.reason(exc)

    def _error(self, action: str, exc: BaseException) -> StoreError:
        return StoreError(f"results store {self.redacted_url}: {action}: {self._reason(exc)}")

    def _translate(self, exc: BaseException) -> StoreError | None:
        if isinstance(exc, pg_errors.UndefinedTable | pg_errors.InvalidSchemaName):
            return self._not_initialised()
        return None

    def _run(self, action: str, body: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``body`` on the connection (again after a restart of the server), turning
        driver errors into ``StoreError``."""
        return self._connections.call(action, body, translate=self._translate)

    def with_cursor(self, action: str, body: Callable[[Any], T], *, atomic: bool = False) -> T:
        """``body(cursor)`` on the shared connection (again after a restart of the server), in
        one transaction if ``atomic``; driver errors become ``StoreError``."""

        def inner(conn: psycopg.Connection[Any]) -> T:
            with contextlib.ExitStack() as stack:
                if atomic:
                    stack.enter_context(conn.transaction())  # rolled back on any exception
                cur = stack.enter_context(conn.cursor())
                return body(cur)
            raise AssertionError("unreachable")  # pragma: no cover

        return self._run(action, inner)

    def _not_initialised(self) -> StoreError:
        return StoreError(
            f"results store {self.redacted_url} is not initialised: "
            f"run `flakebench store init {self.redacted_url}`"
        )

    # -- ResultStore ---------------------------------------------------------------------------

    def init_schema(self) -> None:
        """Create schema ``flakebench`` and its tables (idempotent)."""
        script = schema_sql()

        def body(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INIT_LOCK_KEY,))
                # No parameters: psycopg sends the whole file as one simple query.
                conn.execute(script)

        self._connections.call("cannot create the schema", body)

    def check(self) -> None:
        """Raise ``StoreError`` if the server is unreachable or the schema is missing."""

        def body(conn: psycopg.Connection[Any]) -> Any:
            return conn.execute(
                f"SELECT VALUE FROM {SCHEMA}.STORE_META WHERE KEY = 'schema_version'"
            ).fetchone()

        row = self._run("cannot read the schema version", body)
        if row is None:
            raise self._not_initialised()
        rows.check_schema_version(row[0], self.redacted_url)

    def save_run(self, run: RunResult) -> None:
        """Write the run, its kinds and its snapshots in one transaction (all or nothing)."""
        results = rows.result_rows(run, _CODEC)
        kinds = rows.kind_rows(run, _CODEC)
        snapshots = rows.snapshot_rows(run, _CODEC)

        def body(conn: psycopg.Connection[Any]) -> None:
            # Leaving the block on an exception rolls the transaction back.
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INSERT_RESULT, results)
                cur.executemany(_INSERT_KIND, kinds)
                if snapshots:
                    cur.executemany(_INSERT_SNAPSHOT, snapshots)
                queries = rows.query_rows(run)
                if queries:
                    with cur.copy(_COPY_QUERIES) as copy:  # COPY: the bulk path for many rows
                        for record in queries:
                            copy.write_row(record)

        try:
            self._run(f"cannot save run {run.run_id}", body)
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.UniqueViolation):
                raise StoreError(
                    f"results store {self.redacted_url}: cannot save run {run.run_id}: "
                    f"run is already stored"
                ) from exc.__cause__
            raise

    def list_runs(self, *, limit: int = 50, test: str | None = None, target: str | None = None,
                  status: str | None = None, since: float | None = None) -> list[RunRow]:
        """Newest runs first (parent rows only), filtered (see ``rows.run_filters``)."""
        where, params = rows.run_filters(test=test, target=target, status=status, since=since,
                                         mark="%s", contains="strpos", codec=_CODEC)
        sql = (f"SELECT {', '.join(rows.RUN_ROW_COLUMNS)} FROM {SCHEMA}.TEST_RESULTS "
               f"WHERE PARENT_RUN_ID IS NULL{where}")
        sql += " ORDER BY STARTED_AT DESC, RUN_ID DESC LIMIT %s"
        params.append(limit)
        found = self._run("cannot list runs",
                          lambda conn: conn.execute(sql, params).fetchall())
        return [rows.run_row(r) for r in found]

    def get_run(self, run_id: str) -> RunResult | None:
        """A stored run by id or unique id prefix; ``StoreError`` if the prefix is ambiguous."""

        def body(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
            found = conn.execute(
                f"SELECT RUN_ID, RESULT_JSON FROM {SCHEMA}.TEST_RESULTS "
                "WHERE PARENT_RUN_ID IS NULL AND (RUN_ID = %s OR substr(RUN_ID, 1, %s) = %s) "
                "ORDER BY (RUN_ID = %s) DESC LIMIT 3",
                (run_id, len(run_id), run_id, run_id),
            ).fetchall()
            if not rows.unique_run(run_id, found):
                return found, []
            snaps = conn.execute(
                f"SELECT {', '.join(rows.SNAPSHOT_READ_COLUMNS)} "
                f"FROM {SCHEMA}.WORKER_METRICS_SNAPSHOTS WHERE RUN_ID = %s ORDER BY ORDINAL",
                (found[0][0],),
            ).fetchall()
            return found, snaps

        found, snaps = self._run(f"cannot read run {run_id}", body)
        row = rows.run_match(run_id, found)
        return None if row is None else rows.run_from_rows(row[1], snaps)

    def set_baseline(self, name: str, run_id: str) -> str:
        """Name a stored run as baseline ``name`` (replacing an earlier one of that name)."""

        def body(conn: psycopg.Connection[Any]) -> list[Any]:
            found = conn.execute(
                f"SELECT RUN_ID, TEST_ID FROM {SCHEMA}.TEST_RESULTS WHERE PARENT_RUN_ID IS NULL "
                "AND (RUN_ID = %s OR substr(RUN_ID, 1, %s) = %s) ORDER BY (RUN_ID = %s) DESC "
                "LIMIT 3", (run_id, len(run_id), run_id, run_id)).fetchall()
            if rows.unique_run(run_id, found):
                conn.execute(
                    f"INSERT INTO {SCHEMA}.BASELINES (NAME, RUN_ID, TEST_ID) VALUES (%s, %s, %s) "
                    "ON CONFLICT (NAME) DO UPDATE SET RUN_ID = excluded.RUN_ID, "
                    "TEST_ID = excluded.TEST_ID, CREATED_AT = now()",
                    (name, found[0][0], found[0][1]))
            return found

        found = self._run(f"cannot set baseline {name!r}", body)
        return str(rows.one_run(run_id, found, self.redacted_url)[0])

    def get_baseline(self, name: str) -> str | None:
        """The run id of baseline ``name``, or None."""
        row = self._run(f"cannot read baseline {name!r}", lambda conn: conn.execute(
            f"SELECT RUN_ID FROM {SCHEMA}.BASELINES WHERE NAME = %s", (name,)).fetchone())
        return None if row is None else str(row[0])

    def list_baselines(self) -> list[BaselineRow]:
        """Every named baseline, by name."""
        found = self._run("cannot list baselines", lambda conn: conn.execute(
            f"SELECT NAME, RUN_ID, TEST_ID, CREATED_AT FROM {SCHEMA}.BASELINES ORDER BY NAME"
        ).fetchall())
        return [rows.baseline_row(r) for r in found]

    def remove_baseline(self, name: str) -> bool:
        """Forget baseline ``name``; False if there was none."""
        count = self._run(f"cannot remove baseline {name!r}", lambda conn: conn.execute(
            f"DELETE FROM {SCHEMA}.BASELINES WHERE NAME = %s", (name,)).rowcount)
        return bool(count)

    def close(self) -> None:
        """Close the connection; never raises (everything written is already committed)."""
        self._connections.close()
