"""The driver seam: what the engine needs from a database under test.

A driver is opened from a target URL, profiles the table before load, checks statements without
running them, and hands out connections that each benchmark thread holds for the whole run
(no pool checkout inside the timed region). Every driver speaks the ``paramstyle`` it declares;
the workload layer renders SQL for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pytest_flakebench.identifiers import TableName
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
    def broken(self) -> bool:
        """True once the connection is lost; the engine then calls :meth:`reconnect`."""
        ...

    def reconnect(self) -> None:
        """Replace a lost connection (outside any timed region); raise ``TargetError`` if down."""
        ...

    def close(self) -> None:
        """Close the connection; never raises."""
        ...


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

    def describe_table(self, table: TableName) -> TableInfo:
        """Columns and primary key of ``table``; raise ``TargetError`` if it does not exist."""
        ...

    def key_bounds(self, info: TableInfo, column: str) -> tuple[int | None, int | None, int]:
        """``(min, max, row_count)`` of an integer key column (min/max None when not integer)."""
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
