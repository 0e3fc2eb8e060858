"""SQLite driver (stdlib ``sqlite3``).

The target file must already exist: connections are opened with ``mode=rw`` so that a typo in a
path is reported instead of silently benchmarking a new, empty database. Connections are in
autocommit mode (``isolation_level=None``) so each statement is its own transaction, as on
PostgreSQL; WAL lets readers run while a writer holds the lock.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pytest_flakebench.drivers.base import (
    CursorConnection,
    Dialect,
    ErrorClass,
    near_first,
    sample_distinct,
)
from pytest_flakebench.errors import TargetError
from pytest_flakebench.identifiers import TableName, quote_ident
from pytest_flakebench.profile import Column, TableInfo, TypeClass
from pytest_flakebench.urls import sqlite_path

BUSY_TIMEOUT_S = 30

# Declared type -> class, checked in order. Substring rules follow SQLite's own affinity rules
# (https://www.sqlite.org/datatype3.html, 3.1), so "BIGINT" is int and "VARCHAR(20)" is text;
# DATETIME/TIMESTAMP come before DATE because "DATETIME" contains "DATE".
_TYPE_RULES: tuple[tuple[tuple[str, ...], TypeClass], ...] = (
    (("INT",), "int"),
    (("CHAR", "CLOB", "TEXT"), "text"),
    (("BLOB",), "bytes"),
    (("REAL", "FLOA", "DOUB"), "float"),
    (("BOOL",), "bool"),
    (("DATETIME", "TIMESTAMP"), "timestamp"),
    (("DATE",), "date"),
    (("NUMERIC", "DECIMAL"), "decimal"),
    (("UUID",), "uuid"),
    (("JSON",), "json"),
)

# PRAGMAs that change benchmark results (durability, cache, page layout, locking).
RESULT_PRAGMAS: tuple[str, ...] = ("journal_mode", "synchronous", "cache_size", "page_size",
                                   "mmap_size", "temp_store", "locking_mode")

_LENGTH_RE = re.compile(r"\(\s*(\d+)\s*\)")


def type_class_of(declared: str) -> tuple[TypeClass, int | None]:
    """The class of a declared SQLite column type, and its length for text types (``CHAR(n)``)."""
    upper = declared.upper()
    for needles, type_class in _TYPE_RULES:
        if any(needle in upper for needle in needles):
            length = None
            if type_class == "text" and (m := _LENGTH_RE.search(upper)):
                length = int(m.group(1))
            return type_class, length
    return "other", None


class SqliteConnection(CursorConnection):
    """One benchmark connection with one reused cursor."""

    _conn: sqlite3.Connection
    _cur: sqlite3.Cursor

    def __init__(self, driver: SqliteDriver) -> None:
        super().__init__(driver)
        self._closed = False

    def execute(self, sql: str, params: Sequence[object]) -> int:
        """Execute ``sql`` (``?`` style), fetch every row, return rows fetched or affected."""
        # Hot path: inside the timed region, so nothing here but the step and the fetch.
        cur = self._cur
        cur.execute(sql, params)
        if cur.description is not None:
            return len(cur.fetchall())
        return cur.rowcount

    @property
    def broken(self) -> bool:
        """True once closed; a local file connection is otherwise never lost."""
        return self._closed

    def reconnect(self) -> None:
        """Replace the connection; ``TargetError`` if the file is gone."""
        super().reconnect()
        self._closed = False

    def close(self) -> None:
        """Close the connection; never raises."""
        self._closed = True
        super().close()


class SqliteDriver:
    """A SQLite database file under test."""

    dialect: Dialect = "sqlite"
    paramstyle: Literal["format", "qmark"] = "qmark"

    def __init__(self, url: str, base_dir: Path | None = None) -> None:
        # A SQLite URL carries no secret; the query part (if any) is dropped all the same.
        # (urls.redact_url would turn "sqlite:///x.db" into "sqlite:/x.db".)
        self.redacted_url = "sqlite:///" + url[len("sqlite:///"):].split("?", 1)[0]
        self.path = sqlite_path(url, base=base_dir).absolute()
        if not self.path.is_file():
            what = "is not a file" if self.path.exists() else "does not exist"
            raise TargetError(
                f"SQLite target {self.path} {what}: the file must be created first (with the "
                "table to benchmark); flakebench never creates an empty target database"
            )
        self._meta = self._open()
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                # Also proves the file is a database: a non-SQLite file fails here, not under
                # load. Switching to WAL needs the file to itself and SQLite answers "locked"
                # at once (no busy handler) while another process (an xdist worker's preflight)
                # holds it: try again until the busy timeout.
                self._meta.execute("PRAGMA journal_mode=WAL").fetchall()
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self._meta.close()
                raise TargetError(f"cannot use {self.path} as a SQLite database: {exc}") from None
            except sqlite3.DatabaseError as exc:
                self._meta.close()
                raise TargetError(f"cannot use {self.path} as a SQLite database: {exc}") from None

    def _open(self) -> sqlite3.Connection:
        """Open the existing file read-write (never create it), in autocommit mode."""
        uri = self.path.as_uri() + "?mode=rw"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        except sqlite3.Error as exc:
            raise TargetError(f"cannot open SQLite target {self.path}: {exc}") from None
        return conn

    def connect(self) -> SqliteConnection:
        """Open a connection for one benchmark thread."""
        return SqliteConnection(self)

    def server_version(self) -> str:
        """E.g. ``SQLite 3.40.1`` (the library linked into Python)."""
        return "SQLite " + sqlite3.sqlite_version

    def server_settings(self) -> dict[str, str]:
        """The PRAGMAs that change results, as a benchmark connection opens the file."""
        found: dict[str, str] = {}
        for name in RESULT_PRAGMAS:
            try:
                row = self._meta.execute(f"PRAGMA {name}").fetchone()
            except sqlite3.Error:
                continue
            if row is not None:
                found[name] = str(row[0])
        return found

    def describe_table(self, table: TableName) -> TableInfo:
        """Columns and primary key of ``table`` (case-insensitive); ``TargetError`` if absent."""
        if table.database is not None or (table.schema or "main").lower() != "main":
            raise TargetError(f"table '{table}': a SQLite target has only the schema 'main'; "
                              "use 'table' or 'main.table'")
        row = self._meta.execute(
            "SELECT type, name FROM main.sqlite_master WHERE type IN ('table', 'view') "
            "AND lower(name) = lower(?) ORDER BY name = ? DESC LIMIT 1",
            (table.name, table.name),
        ).fetchone()
        if row is None:
            raise TargetError(self._not_found(table))
        kind, name = row
        columns: list[Column] = []
        pk: list[tuple[int, str]] = []
        rows = self._meta.execute(f"PRAGMA main.table_xinfo({quote_ident(name)})").fetchall()
        single_pk = sum(1 for r in rows if r[5]) == 1
        for _cid, col, declared, notnull, default, pk_pos, hidden in rows:
            if hidden == 1:  # hidden column of a virtual table: not insertable
                continue
            type_class, length = type_class_of(declared or "")
            # INTEGER PRIMARY KEY is the rowid: it cannot hold NULL. It is still reported as a
            # plain key column without a default, so generated inserts supply their own keys.
            rowid_alias = single_pk and pk_pos == 1 and (declared or "").upper() == "INTEGER"
            columns.append(Column(name=col, type_name=declared or "", type_class=type_class,
                                  nullable=not notnull and not rowid_alias,
                                  has_default=default is not None or hidden in (2, 3),
                                  max_length=length))
            if pk_pos:
                pk.append((pk_pos, col))
        return TableInfo(
            table=TableName(name=name, schema="main" if table.schema is not None else None),
            columns=tuple(columns), primary_key=tuple(c for _, c in sorted(pk)),
            is_view=kind == "view",
        )

    def _not_found(self, table: TableName) -> str:
        """The message for an unknown table, with the closest names in the file."""
        names = [r[0] for r in self._meta.execute(
            "SELECT name FROM main.sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )]
        where = f"table '{table}' not found in {self.redacted_url}"
        if not names:
            return f"{where}; the database has no tables"
        shown = near_first(table.name, names)
        more = ", ..." if len(names) > len(shown) else ""
        return f"{where}; tables: {', '.join(shown)}{more}"

    def key_bounds(self, info: TableInfo, column: str) -> tuple[int | None, int | None, int]:
        """``(min, max, row_count)``; min and max are None unless the column is an integer."""
        col = info.require_column(column)
        table = info.table.quoted()
        if col.type_class != "int":
            (count,) = self._meta.execute(f"SELECT count(*) FROM {table}").fetchone()
            return None, None, count
        quoted = quote_ident(col.name)
        lo, hi, count = self._meta.execute(
            f"SELECT min({quoted}), max({quoted}), count(*) FROM {table}"
        ).fetchone()
        # Declared INT does not stop SQLite storing text; such bounds are unusable as keys.
        return (lo if isinstance(lo, int) else None, hi if isinstance(hi, int) else None, count)

    def sample_column(self, info: TableInfo, column: str, limit: int) -> list[object]:
        """Up to ``limit`` distinct non-null values of ``column``, in random order."""
        return sample_distinct(self._meta, info, column, limit, "?")

    def tag_run(self, run_id: str) -> None:
        """Nothing to do: statements carry a ``/* flakebench:kind */`` comment already."""

    def check_statement(self, sql: str, param_count: int) -> None:
        """Compile ``sql`` under ``EXPLAIN`` (which never runs it) with ``param_count`` NULLs.

        Raises ``TargetError`` with SQLite's message and the SQL on a syntax error, an unknown
        table or column, more than one statement, or a placeholder count other than
        ``param_count``.
        """
        cur = self._meta.cursor()
        try:
            cur.execute("EXPLAIN " + sql, (None,) * param_count)
        except (sqlite3.Error, sqlite3.Warning) as exc:
            reason = str(exc)
        else:
            return
        finally:
            cur.close()
        raise TargetError(f"SQLite rejected this SQL: {reason}\n  SQL: {sql}")

    def classify_error(self, exc: BaseException) -> ErrorClass:
        """SQLite's error name (e.g. ``SQLITE_CONSTRAINT_PRIMARYKEY``) and the first line."""
        code = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        lines = str(exc).strip().splitlines()
        return ErrorClass(code=code, message=lines[0] if lines else "")

    def close(self) -> None:
        """Close the metadata connection; never raises."""
        with contextlib.suppress(Exception):
            self._meta.close()
