"""The driver seam: what the engine needs from a database under test.

A driver is opened from a target URL, profiles the table before load, checks statements without
running them, and hands out connections that each benchmark thread holds for the whole run
(no pool checkout inside the timed region). Every driver speaks the ``paramstyle`` it declares;
the workload layer renders SQL for it.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pytest_flakebench.identifiers import TableName, quote_ident
from pytest_flakebench.profile import TableInfo

Dialect = Literal["postgresql", "sqlite", "snowflake"]


@dataclass(frozen=True, slots=True)
class ErrorClass:
    """A database error reduced to a stable class (SQLSTATE, SQLite error name…) and a message."""

    code: str
    message: str


class DriverConnection(Protocol):
    """One connection, used by one thread for the whole run."""

    def execute(self, sql: str, params: Sequence[object]) -> int:
        """Execute ``sql`` with ``params``, fetch every row, return the rows fetched or affected."""
        ...

    @property
    def raw(self) -> Any:
        """The underlying DB-API connection, handed to Python operations."""
        ...

    @property
    def broken(self) -> bool:
        """True once the connection is lost; the engine then calls :meth:`reconnect`."""
        ...

    def reconnect(self) -> None:
        """Replace a lost connection (outside any timed region); raise ``TargetError`` if down."""
        ...

    def close(self) -> None:
        """Close the connection; never raises."""
        ...


class _Opens(Protocol):
    def _open(self) -> Any: ...


class CursorConnection:
    """What the cursor-based connections share (PostgreSQL's cursor path, SQLite, Snowflake):
    the driver's own connection and one reused cursor, from the driver's ``_open()``, which
    raises ``TargetError`` when the database cannot be reached. Subclasses add ``execute`` and
    ``broken``."""

    def __init__(self, driver: _Opens) -> None:
        self._driver = driver
        self._conn: Any = driver._open()
        self._cur: Any = self._conn.cursor()

    @property
    def raw(self) -> Any:
        """The driver's own connection, for Python operations (``flakebench.operation``)."""
        return self._conn

    def reconnect(self) -> None:
        """Replace the connection and its cursor (outside any timed region)."""
        self.close()
        self._conn = self._driver._open()
        self._cur = self._conn.cursor()

    def close(self) -> None:
        """Close the connection; never raises, whatever state its socket is in (already lost,
        mid-result)."""
        with contextlib.suppress(Exception):
            self._conn.close()


class Driver(Protocol):
    """A database under test."""

    dialect: Dialect
    paramstyle: Literal["format", "qmark"]
    redacted_url: str

    def connect(self) -> DriverConnection:
        """Open a connection for one benchmark thread; raise ``TargetError`` if unreachable."""
        ...

    def server_version(self) -> str:
        """The server's version string."""
        ...

    def server_settings(self) -> dict[str, str]:
        """The server settings that change results, by name, as text (for the fingerprint).

        PostgreSQL: ``shared_buffers``, ``work_mem``, ``synchronous_commit``,
        ``max_connections``…; SQLite: the PRAGMAs that matter (``journal_mode``, ``synchronous``,
        ``cache_size``…); Snowflake: warehouse size and cluster counts. Two runs whose settings
        differ are reported as not comparable, naming the setting. Never raises for a setting
        the server does not have: it is simply left out.
        """
        ...

    def describe_table(self, table: TableName) -> TableInfo:
        """Columns and primary key of ``table``; raise ``TargetError`` if it does not exist."""
        ...

    def key_bounds(self, info: TableInfo, column: str) -> tuple[int | None, int | None, int]:
        """``(min, max, row_count)`` of an integer key column (min/max None when not integer)."""
        ...

    def sample_column(self, info: TableInfo, column: str, limit: int) -> list[object]:
        """Up to ``limit`` distinct values of ``column`` (for ``{"sample": column}`` params)."""
        ...

    def tag_run(self, run_id: str) -> None:
        """Label this run's statements server side (Snowflake QUERY_TAG); may do nothing."""
        ...

    def check_statement(self, sql: str, param_count: int) -> None:
        """Parse ``sql`` without running it; raise ``TargetError`` with the server's text."""
        ...

    def classify_error(self, exc: BaseException) -> ErrorClass:
        """Reduce an exception raised by ``DriverConnection.execute`` to an ``ErrorClass``."""
        ...

    def close(self) -> None:
        """Release the driver's own metadata connection."""
        ...


Statement = Callable[[Sequence[object]], int]
"""One statement bound to one connection: called with its parameters, returns the rows."""


def bind_statement(conn: DriverConnection, sql: str) -> Statement:
    """``conn``'s fastest form of ``execute(sql, …)``: its own ``bind(sql)`` where it has one
    (the lean PostgreSQL path: lookups done once, not per operation), else ``execute``."""
    bind: Callable[[str], Statement] | None = getattr(conn, "bind", None)
    if bind is not None:
        return bind(sql)
    execute = conn.execute
    return lambda params: execute(sql, params)


def near_first(wanted: str, names: list[str], limit: int = 10) -> list[str]:
    """Up to ``limit`` of ``names``: the closest to ``wanted`` (ignoring case) first.

    For "table not found" messages: every driver lists the schema's tables this way.
    """
    by_lower = {n.lower(): n for n in names}
    close = [by_lower[n] for n in difflib.get_close_matches(wanted.lower(), by_lower, n=limit,
                                                           cutoff=0.6)]
    return (close + [n for n in names if n not in close])[:limit]


def sample_distinct(meta: Any, info: TableInfo, column: str, limit: int,
                    placeholder: str) -> list[object]:
    """Up to ``limit`` distinct non-null values of ``column``, in random order.

    The same SQL on PostgreSQL and SQLite (``meta``: a DB-API connection with ``execute``;
    ``placeholder``: its paramstyle's, ``%s`` or ``?``). Four times ``limit`` distinct values
    are read, then shuffled by the server, so the sample is not just the first index pages.
    """
    col = info.require_column(column)
    quoted = quote_ident(col.name)
    rows = meta.execute(
        f"SELECT v FROM (SELECT DISTINCT {quoted} AS v FROM {info.table.quoted()} "
        f"WHERE {quoted} IS NOT NULL LIMIT {placeholder}) s ORDER BY random()", (limit * 4,)
    ).fetchall()
    return [r[0] for r in rows[:limit]]
