"""Control-plane tables (``RUN_STATUS``, ``RUN_CONTROL_EVENTS``, ``WORKER_HEARTBEATS`` …).

One class serves SQLite (several local processes: WAL, busy timeout, one connection per
thread), PostgreSQL (workers on several machines; one autocommit connection per thread) and
Snowflake (``stores.snowflake.ControlConnection`` adapts its connector to the same ``execute``
calls). Each call is one short statement or transaction: the controller and every worker poll
these tables, so nothing
here holds a lock for longer than a write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flakebench.errors import StoreError
from pytest_flakebench.sqltext import to_format_style
from pytest_flakebench.urls import redact_url, scheme_of, sqlite_path

TERMINAL = frozenset({"COMPLETED", "PARTIAL", "CANCELLED", "FAILED"})


@dataclass(frozen=True, slots=True)
class RunRow:
    """A ``RUN_STATUS`` row."""

    run_id: str
    session_id: str
    test_id: str
    status: str
    phase: str | None
    leader: str | None
    participants: tuple[str, ...]
    result_json: str | None
    cancellation_reason: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """A ``RUN_CONTROL_EVENTS`` row."""

    seq: int
    type: str
    target_worker: str | None
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A ``WORKER_HEARTBEATS`` row."""

    worker_id: str
    host: str | None
    status: str
    phase: str | None
    last_heartbeat: float
    last_error: str | None
    template_json: str | None
    snapshot_json: str | None
    result_json: str | None


_RUN_COLS = ("RUN_ID, SESSION_ID, TEST_ID, STATUS, PHASE, LEADER, PARTICIPANTS_JSON, RESULT_JSON, "
             "CANCELLATION_REASON")
_HB_COLS = ("WORKER_ID, HOST, STATUS, PHASE, LAST_HEARTBEAT, LAST_ERROR, TEMPLATE_JSON, "
            "SNAPSHOT_JSON, RESULT_JSON")


class ControlPlane:
    """The control tables of one store."""

    def __init__(self, connect: Callable[[], Any], *, dialect: str, shown: str,
                 apply_schema: Callable[[Any], None] | None = None) -> None:
        self._connect = connect
        self.dialect = dialect
        self.shown = shown
        self._prefix = "flakebench." if dialect == "postgresql" else ""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []
        self._apply_schema = apply_schema

    # -- plumbing ---------------------------------------------------------------------------

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
            except Exception as exc:
                raise StoreError(f"control plane {self.shown}: cannot connect: "
                                 f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from None
            if self._apply_schema is not None:
                self._apply_schema(conn)
                self._apply_schema = None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _sql(self, sql: str) -> str:
        sql = sql.replace("{p}", self._prefix)
        return to_format_style(sql) if self.dialect == "postgresql" else sql

    def _fail(self, exc: Exception) -> StoreError:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ""
        if "does not exist" in first or "no such" in first:
            hint = f"; run `flakebench store init {self.shown}`"
        return StoreError(f"control plane {self.shown}: {first}{hint}")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            cur = self._conn().execute(self._sql(sql), params)
            return list(cur.fetchall())
        except StoreError:
            raise
        except Exception as exc:
            raise self._fail(exc) from None

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            cur = self._conn().execute(self._sql(sql), params)
            return int(cur.rowcount or 0)
        except StoreError:
            raise
        except Exception as exc:
            raise self._fail(exc) from None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._conn()
        try:
            if self.dialect == "postgresql":
                with conn.transaction():
                    yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except StoreError:
            raise
        except Exception as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        """Close every thread's connection; never raises."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):  # closing is best effort by contract
                conn.close()
        self._local = threading.local()

    # -- sessions and runs ---------------------------------------------------------------------

    def publish_benchmarks(self, session_id: str, test_ids: Sequence[str]) -> None:
        """Record which collected tests are benchmarks (idempotent)."""
        for test_id in test_ids:
            self._exec("INSERT INTO {p}SESSION_BENCHMARKS (SESSION_ID, TEST_ID) VALUES (?, ?) "
                       "ON CONFLICT DO NOTHING", (session_id, test_id))

    def benchmarks(self, session_id: str) -> set[str]:
        """The benchmark node ids of a session."""
        rows = self._rows("SELECT TEST_ID FROM {p}SESSION_BENCHMARKS WHERE SESSION_ID = ?",
                          (session_id,))
        return {str(r[0]) for r in rows}

    def create_run(self, *, run_id: str, session_id: str, test_id: str,
                   participants: Sequence[str]) -> None:
        """A new run in PREPARED."""
        now = time.time()
        self._exec(
            "INSERT INTO {p}RUN_STATUS (RUN_ID, SESSION_ID, TEST_ID, STATUS, PARTICIPANTS_JSON, "
            "TOTAL_WORKERS_EXPECTED, CREATED_AT, UPDATED_AT) "
            "VALUES (?, ?, ?, 'PREPARED', ?, ?, ?, ?)",
            (run_id, session_id, test_id, json.dumps(list(participants)), len(participants),
             now, now))

    def find_run(self, session_id: str, test_id: str) -> RunRow | None:
        """The run of a test in this session."""
        rows = self._rows(f"SELECT {_RUN_COLS} FROM {{p}}RUN_STATUS WHERE SESSION_ID = ? AND "
                          "TEST_ID = ?", (session_id, test_id))
        return _run_row(rows[0]) if rows else None

    def get_run(self, run_id: str) -> RunRow | None:
        """A run by id."""
        rows = self._rows(f"SELECT {_RUN_COLS} FROM {{p}}RUN_STATUS WHERE RUN_ID = ?", (run_id,))
        return _run_row(rows[0]) if rows else None

    def claim_leader(self, run_id: str, worker_id: str) -> str:
        """Make ``worker_id`` the leader unless another worker already is; return the leader."""
        self._exec("UPDATE {p}RUN_STATUS SET LEADER = ? WHERE RUN_ID = ? AND LEADER IS NULL",
                   (worker_id, run_id))
        row = self.get_run(run_id)
        return row.leader if row and row.leader else worker_id

    def set_status(self, run_id: str, status: str, *, phase: str | None = None,
                   **fields: Any) -> None:
        """Move the run's state machine; ``fields`` are extra ``RUN_STATUS`` columns."""
        assignments = ["STATUS = ?", "UPDATED_AT = ?"]
        params: list[Any] = [status, time.time()]
        if phase is not None:
            assignments.append("PHASE = ?")
            params.append(phase)
        for column, value in fields.items():
            assignments.append(f"{column.upper()} = ?")
            params.append(value)
        params.append(run_id)
        self._exec(f"UPDATE {{p}}RUN_STATUS SET {', '.join(assignments)} WHERE RUN_ID = ?", params)

    # -- events ------------------------------------------------------------------------------

    def append_event(self, run_id: str, seq: int, event_type: str, data: dict[str, Any],
                     *, target_worker: str | None = None) -> float:
        """Write one control event (the controller numbers them); returns its timestamp."""
        now = time.time()
        self._exec("INSERT INTO {p}RUN_CONTROL_EVENTS (RUN_ID, SEQUENCE_ID, EVENT_TYPE, "
                   "TARGET_WORKER, EVENT_DATA, CREATED_AT) VALUES (?, ?, ?, ?, ?, ?)",
                   (run_id, seq, event_type, target_worker, json.dumps(data), now))
        return now

    def events_after(self, run_id: str, seq: int, worker_id: str) -> list[Event]:
        """Events for ``worker_id`` (or everyone) with a sequence id above ``seq``, in order."""
        rows = self._rows(
            "SELECT SEQUENCE_ID, EVENT_TYPE, TARGET_WORKER, EVENT_DATA, CREATED_AT FROM "
            "{p}RUN_CONTROL_EVENTS WHERE RUN_ID = ? AND SEQUENCE_ID > ? AND "
            "(TARGET_WORKER IS NULL OR TARGET_WORKER = ?) ORDER BY SEQUENCE_ID",
            (run_id, seq, worker_id))
        return [Event(int(r[0]), str(r[1]), r[2], json.loads(r[3]), float(r[4])) for r in rows]

    def mark_applied(self, run_id: str, seq: int, worker_id: str, applied_at: float,
                     lag_ms: float) -> None:
        """Record that a worker applied an event (at most once)."""
        self._exec("INSERT INTO {p}RUN_EVENT_APPLIED (RUN_ID, SEQUENCE_ID, WORKER_ID, APPLIED_AT, "
                   "LAG_MS) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   (run_id, seq, worker_id, applied_at, lag_ms))

    def lags_ms(self, run_id: str) -> list[float]:
        """Every recorded event-to-application lag of a run."""
        return [float(r[0]) for r in self._rows(
            "SELECT LAG_MS FROM {p}RUN_EVENT_APPLIED WHERE RUN_ID = ?", (run_id,))]

    # -- heartbeats --------------------------------------------------------------------------

    def join(self, run_id: str, worker_id: str, host: str, status: str, *,
             template_json: str | None = None, last_error: str | None = None) -> None:
        """Insert or reset this worker's heartbeat row."""
        now = time.time()
        with self._tx() as conn:
            conn.execute(self._sql("DELETE FROM {p}WORKER_HEARTBEATS WHERE RUN_ID = ? AND "
                                   "WORKER_ID = ?"), (run_id, worker_id))
            conn.execute(self._sql(
                "INSERT INTO {p}WORKER_HEARTBEATS (RUN_ID, WORKER_ID, HOST, PID, STATUS, "
                "JOINED_AT, LAST_HEARTBEAT, HEARTBEAT_COUNT, TEMPLATE_JSON, LAST_ERROR) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"),
                (run_id, worker_id, host, os.getpid(), status, now, now, template_json,
                 last_error))

    def heartbeat(self, run_id: str, worker_id: str, *, status: str | None = None,
                  phase: str | None = None, active: int | None = None,
                  target: int | None = None, ops: int | None = None, errors: int | None = None,
                  last_event_seq: int | None = None, last_error: str | None = None,
                  snapshot_json: str | None = None, result_json: str | None = None) -> None:
        """Refresh this worker's row; only the given fields change."""
        values = {"STATUS": status, "PHASE": phase, "ACTIVE_CONNECTIONS": active,
                  "TARGET_CONNECTIONS": target, "QUERIES_PROCESSED": ops, "ERROR_COUNT": errors,
                  "LAST_EVENT_SEQ": last_event_seq, "LAST_ERROR": last_error,
                  "SNAPSHOT_JSON": snapshot_json, "RESULT_JSON": result_json}
        sets = ["LAST_HEARTBEAT = ?", "HEARTBEAT_COUNT = HEARTBEAT_COUNT + 1"]
        params: list[Any] = [time.time()]
        for column, value in values.items():
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        params += [run_id, worker_id]
        self._exec(f"UPDATE {{p}}WORKER_HEARTBEATS SET {', '.join(sets)} WHERE RUN_ID = ? AND "
                   "WORKER_ID = ?", params)

    def heartbeats(self, run_id: str) -> list[Heartbeat]:
        """Every worker row of a run."""
        rows = self._rows(f"SELECT {_HB_COLS} FROM {{p}}WORKER_HEARTBEATS WHERE RUN_ID = ? "
                          "ORDER BY WORKER_ID", (run_id,))
        return [Heartbeat(str(r[0]), r[1], str(r[2]), r[3], float(r[4]), r[5], r[6], r[7], r[8])
                for r in rows]


class PoolCache:
    """Value pools kept in the store beside the control tables (``TEMPLATE_VALUE_POOLS``)."""

    STALE_CHANGE = 0.10  # a table that grew or shrank by more than this is sampled again

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def get(self, identity: str, kind: str, column: str, row_count: int,
            size: int) -> list[Any] | None:
        """A fresh cached pool of at least ``size`` values, or None."""
        rows = self.plane._rows(
            "SELECT ROW_COUNT, SAMPLE_SIZE, VALUES_JSON FROM {p}TEMPLATE_VALUE_POOLS WHERE "
            "TABLE_IDENTITY = ? AND POOL_KIND = ? AND COLUMN_NAME = ? "
            "ORDER BY CREATED_AT DESC LIMIT 1", (identity, kind, column.lower()))
        if not rows:
            return None
        cached_rows, cached_size, values = int(rows[0][0]), int(rows[0][1]), rows[0][2]
        if cached_size < size or abs(row_count - cached_rows) > self.STALE_CHANGE * max(
                cached_rows, 1):
            return None
        found: list[Any] = json.loads(values)
        return found

    def put(self, identity: str, kind: str, column: str, row_count: int, size: int,
            values: list[Any]) -> None:
        """Cache a freshly sampled pool (values must be JSON-serialisable)."""
        self.plane._exec(
            "INSERT INTO {p}TEMPLATE_VALUE_POOLS (POOL_ID, TABLE_IDENTITY, POOL_KIND, "
            "COLUMN_NAME, ROW_COUNT, SAMPLE_SIZE, CREATED_AT, VALUES_JSON) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, identity, kind, column.lower(), row_count, size, time.time(),
             json.dumps(values, default=str)))


def _run_row(r: tuple[Any, ...]) -> RunRow:
    return RunRow(run_id=str(r[0]), session_id=str(r[1]), test_id=str(r[2]), status=str(r[3]),
                  phase=r[4], leader=r[5], participants=tuple(json.loads(r[6])),
                  result_json=r[7], cancellation_reason=r[8])


def open_control_plane(url: str, *, base_dir: Path | None = None) -> ControlPlane:
    """The control plane stored with the results store at ``url``."""
    scheme = scheme_of(url)
    if scheme == "sqlite":
        from pytest_flakebench.stores.sqlite import schema_sql

        path = sqlite_path(url, base=base_dir)
        path.parent.mkdir(parents=True, exist_ok=True)

        def connect_sqlite() -> sqlite3.Connection:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            return conn

        def apply(conn: Any) -> None:
            conn.executescript(f"BEGIN IMMEDIATE;\n{schema_sql()}\nCOMMIT;")

        return ControlPlane(connect_sqlite, dialect="sqlite", shown=url.split("?", 1)[0],
                            apply_schema=apply)
    if scheme == "postgresql":
        import psycopg

        def connect_pg() -> Any:
            return psycopg.connect(url, autocommit=True, connect_timeout=10,
                                   application_name="pytest-flakebench-control")

        return ControlPlane(connect_pg, dialect="postgresql", shown=redact_url(url))
    if scheme == "snowflake":
        from pytest_flakebench.stores.snowflake import control_connector

        return ControlPlane(control_connector(url), dialect="snowflake", shown=redact_url(url))
    raise StoreError(f"control plane {redact_url(url)}: {scheme} is not supported yet")
