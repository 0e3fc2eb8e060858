"""Control-plane tables (``RUN_STATUS``, ``RUN_CONTROL_EVENTS``, ``WORKER_HEARTBEATS`` …).

One class serves SQLite, PostgreSQL and Snowflake through ``stores.backend`` (connecting,
reconnecting with backoff after a store restart, transactions, error translation). Each call is
one short statement or transaction: the controller and every worker poll these tables, so
nothing here holds a lock for longer than a write.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flakebench.control.listen import channel_of
from pytest_flakebench.errors import StoreError
from pytest_flakebench.stores.backend import open_backend
from pytest_flakebench.stores.connections import GIVE_UP_S, Backoff, Connections

TERMINAL = frozenset({"COMPLETED", "PARTIAL", "CANCELLED", "FAILED", "ABANDONED"})
UNFINISHED = ("PREPARED", "STARTING", "RUNNING", "STOPPING", "CANCELLING")


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
class UnfinishedRun:
    """A ``RUN_STATUS`` row not in a final status (what ``flakebench recover`` looks at)."""

    run_id: str
    test_id: str
    status: str
    scenario_config: str | None
    split: dict[str, int]
    start_time: float | None
    warmup_end: float | None
    end_time: float | None
    updated_at: float


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
    """The control tables of one store, reached through :class:`Connections` (one connection
    per thread, re-established with backoff when the store restarts)."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        self.dialect = connections.backend.dialect
        self.shown = connections.shown
        self._prefix = "flakebench." if self.dialect == "postgresql" else ""

    # -- plumbing ---------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return self.connections.backend.sql(sql.replace("{p}", self._prefix))

    def _translate(self, exc: BaseException) -> StoreError | None:
        first = self.connections.backend.reason(exc)
        if "does not exist" in first or "no such" in first:
            return StoreError(f"control plane {self.shown}: {first}; "
                              f"run `flakebench store init {self.shown}`")
        return None

    def _rows(self, sql: str, params: Sequence[Any] = (), *,
              retry: bool = True) -> list[tuple[Any, ...]]:
        text = self._sql(sql)
        return self.connections.call(
            "read", lambda conn: list(conn.execute(text, params).fetchall()),
            retry=retry, translate=self._translate)

    def _exec(self, sql: str, params: Sequence[Any] = (), *, retry: bool = True) -> int:
        text = self._sql(sql)
        return self.connections.call(
            "write", lambda conn: int(conn.execute(text, params).rowcount or 0),
            retry=retry, translate=self._translate)

    def outage_s(self, since: float) -> float:
        """Seconds since ``since`` (epoch) during which the store could not be reached."""
        return self.connections.outage_s(since)

    def close(self) -> None:
        """Close every thread's connection; never raises."""
        self.connections.close()

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
            "VALUES (?, ?, ?, 'PREPARED', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (run_id, session_id, test_id, json.dumps(list(participants)), len(participants),
             now, now))

    def find_run(self, session_id: str, test_id: str) -> RunRow | None:
        """The run of a test in this session."""
        rows = self._rows(f"SELECT {_RUN_COLS} FROM {{p}}RUN_STATUS WHERE SESSION_ID = ? AND "
                          "TEST_ID = ?", (session_id, test_id))
        return _run_row(rows[0]) if rows else None

    def get_run(self, run_id: str, *, retry: bool = True) -> RunRow | None:
        """A run by id."""
        rows = self._rows(f"SELECT {_RUN_COLS} FROM {{p}}RUN_STATUS WHERE RUN_ID = ?", (run_id,),
                          retry=retry)
        return _run_row(rows[0]) if rows else None

    def unfinished_runs(self) -> list[UnfinishedRun]:
        """Runs not in a final status, with what recovering them needs."""
        marks = ", ".join("?" for _ in UNFINISHED)
        rows = self._rows(
            "SELECT RUN_ID, TEST_ID, STATUS, SCENARIO_CONFIG, WORKER_TARGETS_JSON, START_TIME, "
            f"WARMUP_END, END_TIME, UPDATED_AT FROM {{p}}RUN_STATUS WHERE STATUS IN ({marks}) "
            "ORDER BY CREATED_AT", UNFINISHED)
        return [UnfinishedRun(str(r[0]), str(r[1]), str(r[2]), r[3],
                              json.loads(r[4]) if r[4] else {}, r[5], r[6], r[7], float(r[8]))
                for r in rows]

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
        insert = ("INSERT INTO {p}RUN_CONTROL_EVENTS (RUN_ID, SEQUENCE_ID, EVENT_TYPE, "
                  "TARGET_WORKER, EVENT_DATA, CREATED_AT) VALUES (?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT DO NOTHING")  # a retry after a lost commit must not fail
        params: tuple[Any, ...] = (run_id, seq, event_type, target_worker, json.dumps(data), now)
        if self.dialect == "postgresql":
            # One statement, so one transaction: the notification goes out when the event
            # commits (control/listen.py wakes the followers), on the run's channel or on the
            # target worker's alone (no other worker wakes for it).
            insert = (f"WITH added AS ({insert} RETURNING 1) "
                      "SELECT pg_notify(?, '') FROM added")
            params += (channel_of(run_id, target_worker),)
        self._exec(insert, params)
        return now

    def events_after(self, run_id: str, seq: int, worker_id: str, *,
                     retry: bool = True) -> list[Event]:
        """Events for ``worker_id`` (or everyone) with a sequence id above ``seq``, in order."""
        rows = self._rows(
            "SELECT SEQUENCE_ID, EVENT_TYPE, TARGET_WORKER, EVENT_DATA, CREATED_AT FROM "
            "{p}RUN_CONTROL_EVENTS WHERE RUN_ID = ? AND SEQUENCE_ID > ? AND "
            "(TARGET_WORKER IS NULL OR TARGET_WORKER = ?) ORDER BY SEQUENCE_ID",
            (run_id, seq, worker_id), retry=retry)
        return [Event(int(r[0]), str(r[1]), r[2], json.loads(r[3]), float(r[4])) for r in rows]

    def mark_applied(self, run_id: str, seq: int, worker_id: str, applied_at: float,
                     lag_ms: float, *, retry: bool = True) -> None:
        """Record that a worker applied an event (at most once)."""
        self._exec("INSERT INTO {p}RUN_EVENT_APPLIED (RUN_ID, SEQUENCE_ID, WORKER_ID, APPLIED_AT, "
                   "LAG_MS) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   (run_id, seq, worker_id, applied_at, lag_ms), retry=retry)

    def lags_ms(self, run_id: str) -> list[float]:
        """Every recorded event-to-application lag of a run."""
        return [float(r[0]) for r in self._rows(
            "SELECT LAG_MS FROM {p}RUN_EVENT_APPLIED WHERE RUN_ID = ?", (run_id,))]

    # -- heartbeats --------------------------------------------------------------------------

    def join(self, run_id: str, worker_id: str, host: str, status: str, *,
             template_json: str | None = None, last_error: str | None = None) -> None:
        """Insert or reset this worker's heartbeat row."""
        now = time.time()
        delete = self._sql("DELETE FROM {p}WORKER_HEARTBEATS WHERE RUN_ID = ? AND WORKER_ID = ?")
        insert = self._sql(
            "INSERT INTO {p}WORKER_HEARTBEATS (RUN_ID, WORKER_ID, HOST, PID, STATUS, "
            "JOINED_AT, LAST_HEARTBEAT, HEARTBEAT_COUNT, TEMPLATE_JSON, LAST_ERROR) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)")
        backend = self.connections.backend

        def body(conn: Any) -> None:
            with backend.transaction(conn):
                conn.execute(delete, (run_id, worker_id))
                conn.execute(insert, (run_id, worker_id, host, os.getpid(), status, now, now,
                                      template_json, last_error))

        self.connections.call("join", body, translate=self._translate)

    def heartbeat(self, run_id: str, worker_id: str, *, status: str | None = None,
                  phase: str | None = None, active: int | None = None,
                  target: int | None = None, ops: int | None = None, errors: int | None = None,
                  last_event_seq: int | None = None, last_error: str | None = None,
                  snapshot_json: str | None = None, result_json: str | None = None,
                  retry: bool = True) -> None:
        """Refresh this worker's row; only the given fields change. ``retry=False`` for the
        per-second beat: during a store outage it is skipped, the next one goes through."""
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
                   "WORKER_ID = ?", params, retry=retry)

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


def open_control_plane(url: str, *, base_dir: Path | None = None,
                       give_up_s: float = GIVE_UP_S) -> ControlPlane:
    """The control plane stored with the results store at ``url``; it rides out a store
    outage of up to ``give_up_s`` seconds (``--flakebench-store-outage``)."""
    backend = open_backend(url, base_dir=base_dir,
                           application_name="pytest-flakebench-control")
    on_connect: Callable[[Any], None] | None = None
    if backend.dialect == "sqlite":
        from pytest_flakebench.stores.sqlite import schema_sql

        applied: list[bool] = []

        def on_connect(conn: Any) -> None:
            if not applied:  # the embedded store is created on first use
                conn.executescript(f"BEGIN IMMEDIATE;\n{schema_sql()}\nCOMMIT;")
                applied.append(True)

    return ControlPlane(Connections(backend, role="control plane",
                                    backoff=Backoff(give_up_s=give_up_s),
                                    on_connect=on_connect))
