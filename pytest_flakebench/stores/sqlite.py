"""The embedded default results store: one SQLite file, created on first use.

Several processes (pytest-xdist workers, a controller) share the file, so it runs in WAL mode
with a 30 s busy timeout, and every write starts with ``BEGIN IMMEDIATE``: the write lock is
taken up front instead of on the first write, which would otherwise fail with "database is
locked" when two deferred transactions both try to upgrade.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pytest_flakebench.errors import StoreError
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.sql import ddl
from pytest_flakebench.stores import rows, shown_url
from pytest_flakebench.stores.backend import make_shareable, open_sqlite_file
from pytest_flakebench.stores.base import BaselineRow, RunRow
from pytest_flakebench.urls import sqlite_path

T = TypeVar("T")
_CODEC = rows.Codec(timestamp=rows.iso_utc, json=rows.json_text)
_INSERT_RESULT = rows.insert_sql("TEST_RESULTS", rows.RESULT_COLUMNS, "?")
_INSERT_KIND = rows.insert_sql("TEST_KIND_STATISTICS", rows.KIND_COLUMNS, "?")
_INSERT_SNAPSHOT = rows.insert_sql("WORKER_METRICS_SNAPSHOTS", rows.SNAPSHOT_COLUMNS, "?")
_INSERT_QUERY = rows.insert_sql("QUERY_EXECUTIONS", rows.QUERY_COLUMNS, "?")


def schema_sql() -> str:
    """The SQLite DDL shipped with the package (``sql/sqlite/*.sql``, in order)."""
    return ddl("sqlite")


class SQLiteStore:
    """A results store in a SQLite file; one connection per thread."""

    placeholder = "?"
    table_prefix = ""

    def __init__(self, url: str, *, base_dir: Path | None = None) -> None:
        self.redacted_url = shown_url(url)
        self.path = sqlite_path(url, base=base_dir)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._schema_ready = False

    # -- connections ---------------------------------------------------------------------------

    def _error(self, action: str, exc: BaseException) -> StoreError:
        return StoreError(f"results store {self.redacted_url} ({self.path}): {action}: {exc}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = open_sqlite_file(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise self._error("cannot open the database file", exc) from exc
        try:
            # As the control plane's files: workers and the controller open a new store at
            # once, and switching it to WAL together must not fail one of them.
            make_shareable(conn)
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error("not a usable SQLite database", exc) from exc
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        if not self._schema_ready:
            self._apply_schema(conn)  # the embedded store is created on first use
        return conn

    def with_cursor(self, action: str, body: Callable[[Any], T], *, atomic: bool = False) -> T:
        """``body(cursor)`` on this thread's connection, in one ``BEGIN IMMEDIATE``
        transaction if ``atomic``; SQLite errors become ``StoreError``."""
        conn = self._conn()
        cur = conn.cursor()
        try:
            if atomic:
                cur.execute("BEGIN IMMEDIATE")
            out = body(cur)
            if atomic:
                cur.execute("COMMIT")
            return out
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._error(action, exc) from None
            raise
        finally:
            cur.close()

    def _apply_schema(self, conn: sqlite3.Connection) -> None:
        script = schema_sql()
        try:
            # executescript() runs statement by statement in autocommit mode; the explicit
            # transaction makes concurrent first uses by several processes create it once.
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._error("cannot create the schema", exc) from exc
        self._schema_ready = True

    # -- ResultStore ---------------------------------------------------------------------------

    def init_schema(self) -> None:
        """Create the file, its directory and the tables (idempotent)."""
        was_ready = self._schema_ready
        conn = self._conn()  # applies the DDL when this store has not yet done so
        if was_ready:
            self._apply_schema(conn)  # init is explicit: apply again (idempotent)

    def check(self) -> None:
        """Open (and, on first use, create) the file; raise ``StoreError`` if it is unusable."""
        conn = self._conn()
        try:
            row = conn.execute(
                "SELECT VALUE FROM STORE_META WHERE KEY = 'schema_version'"
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._error("cannot read the schema version", exc) from exc
        rows.check_schema_version(row[0] if row else None, self.redacted_url)

    def save_run(self, run: RunResult) -> None:
        """Write the run, its kinds and its snapshots in one transaction (all or nothing)."""
        results = rows.result_rows(run, _CODEC)
        kinds = rows.kind_rows(run, _CODEC)
        snapshots = rows.snapshot_rows(run, _CODEC)
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_INSERT_RESULT, results)
            conn.executemany(_INSERT_KIND, kinds)
            conn.executemany(_INSERT_SNAPSHOT, snapshots)
            conn.executemany(_INSERT_QUERY, rows.query_rows(run))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            reason = ("run is already stored" if isinstance(exc, sqlite3.IntegrityError)
                      and "UNIQUE" in str(exc) else "write failed")
            raise self._error(f"cannot save run {run.run_id}: {reason}", exc) from exc

    def list_runs(self, *, limit: int = 50, test: str | None = None, target: str | None = None,
                  status: str | None = None, since: float | None = None) -> list[RunRow]:
        """Newest runs first (parent rows only), filtered (see ``rows.run_filters``)."""
        where, params = rows.run_filters(test=test, target=target, status=status, since=since,
                                         mark="?", contains="instr", codec=_CODEC)
        sql = (f"SELECT {', '.join(rows.RUN_ROW_COLUMNS)} FROM TEST_RESULTS "
               f"WHERE PARENT_RUN_ID IS NULL{where}")
        sql += " ORDER BY STARTED_AT DESC, RUN_ID DESC LIMIT ?"
        params.append(limit)
        try:
            found = self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error("cannot list runs", exc) from exc
        return [rows.run_row(r) for r in found]

    def get_run(self, run_id: str) -> RunResult | None:
        """A stored run by id or unique id prefix; ``StoreError`` if the prefix is ambiguous."""
        conn = self._conn()
        try:
            found = conn.execute(
                "SELECT RUN_ID, RESULT_JSON FROM TEST_RESULTS WHERE PARENT_RUN_ID IS NULL "
                "AND (RUN_ID = ? OR substr(RUN_ID, 1, ?) = ?) ORDER BY RUN_ID = ? DESC LIMIT 3",
                (run_id, len(run_id), run_id, run_id),
            ).fetchall()
            row = rows.run_match(run_id, found)
            if row is None:
                return None
            snaps = conn.execute(
                f"SELECT {', '.join(rows.SNAPSHOT_READ_COLUMNS)} FROM WORKER_METRICS_SNAPSHOTS "
                "WHERE RUN_ID = ? ORDER BY ORDINAL",
                (row[0],),
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._error(f"cannot read run {run_id}", exc) from exc
        return rows.run_from_rows(row[1], snaps)

    def _resolve_run_id(self, conn: sqlite3.Connection, run_id: str) -> tuple[str, str]:
        found = conn.execute(
            "SELECT RUN_ID, TEST_ID FROM TEST_RESULTS WHERE PARENT_RUN_ID IS NULL "
            "AND (RUN_ID = ? OR substr(RUN_ID, 1, ?) = ?) ORDER BY RUN_ID = ? DESC LIMIT 3",
            (run_id, len(run_id), run_id, run_id),
        ).fetchall()
        row = rows.one_run(run_id, found, self.redacted_url)
        return str(row[0]), str(row[1])

    def set_baseline(self, name: str, run_id: str) -> str:
        """Name a stored run as baseline ``name`` (replacing an earlier one of that name)."""
        conn = self._conn()
        try:
            full, test = self._resolve_run_id(conn, run_id)
            conn.execute(
                "INSERT INTO BASELINES (NAME, RUN_ID, TEST_ID) VALUES (?, ?, ?) ON CONFLICT (NAME) "
                "DO UPDATE SET RUN_ID = excluded.RUN_ID, TEST_ID = excluded.TEST_ID, "
                "CREATED_AT = excluded.CREATED_AT", (name, full, test))
        except sqlite3.Error as exc:
            raise self._error(f"cannot set baseline {name!r}", exc) from exc
        return full

    def get_baseline(self, name: str) -> str | None:
        """The run id of baseline ``name``, or None."""
        try:
            row = self._conn().execute("SELECT RUN_ID FROM BASELINES WHERE NAME = ?",
                                       (name,)).fetchone()
        except sqlite3.Error as exc:
            raise self._error(f"cannot read baseline {name!r}", exc) from exc
        return None if row is None else str(row[0])

    def list_baselines(self) -> list[BaselineRow]:
        """Every named baseline, by name."""
        try:
            found = self._conn().execute(
                "SELECT NAME, RUN_ID, TEST_ID, CREATED_AT FROM BASELINES ORDER BY NAME"
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._error("cannot list baselines", exc) from exc
        return [rows.baseline_row(r) for r in found]

    def remove_baseline(self, name: str) -> bool:
        """Forget baseline ``name``; False if there was none."""
        try:
            cur = self._conn().execute("DELETE FROM BASELINES WHERE NAME = ?", (name,))
        except sqlite3.Error as exc:
            raise self._error(f"cannot remove baseline {name!r}", exc) from exc
        return cur.rowcount > 0

    def close(self) -> None:
        """Close every thread's connection; never raises."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            # closing is best effort: the data is already committed
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

