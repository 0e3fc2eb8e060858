"""PostgreSQL driver (psycopg 3).

Every benchmark connection is autocommit and runs server-prepared statements: measurements
(reference/measurements-2026-11.md, section 3) show prepared statements are the biggest
client-side lever (x1.5 to x2.6). Two execution paths share this driver:

* ``lean`` (the default): psycopg's libpq layer, statements prepared when the connection opens,
  rows counted from the result without building Python rows (``postgres_lean``);
* ``cursor``: one reused psycopg cursor, ``execute(..., prepare=True)`` + ``fetchall()``.

The template's ``client_path`` or the ``FLAKEBENCH_CLIENT_PATH`` environment variable picks
one; the path taken is recorded in the run's fingerprint (``client.path``). Python operations
always get the psycopg connection. Secrets: only the redacted URL reaches a message, and any
password the driver knows is scrubbed from server text as well.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict

from pytest_flakebench.drivers.base import CursorConnection, Dialect, ErrorClass, sample_distinct
from pytest_flakebench.drivers.pgnet import network_kwargs
from pytest_flakebench.drivers.postgres_catalog import (
    describe_table,
    read_settings,
)
from pytest_flakebench.drivers.postgres_lean import LeanConnection
from pytest_flakebench.errors import ConfigError, TargetError
from pytest_flakebench.identifiers import TableName, quote_ident
from pytest_flakebench.profile import TableInfo
from pytest_flakebench.urls import redact_url, url_secrets

_TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK

ClientPath = Literal["lean", "cursor"]
CLIENT_PATHS: tuple[str, ...] = ("lean", "cursor")
CLIENT_PATH_ENV = "FLAKEBENCH_CLIENT_PATH"


def resolve_client_path(template_value: str | None) -> ClientPath:
    """The execution path: the template's ``client_path``, else the env switch, else lean."""
    if template_value not in (None, "auto"):
        value, where = template_value, "template client_path"
    else:
        value, where = os.environ.get(CLIENT_PATH_ENV, "").strip().lower() or "lean", \
            f"environment variable {CLIENT_PATH_ENV}"
    if value == "lean":
        return "lean"
    if value == "cursor":
        return "cursor"
    raise ConfigError(f"{where}={value!r} is not an execution path: use one of "
                      f"{', '.join(CLIENT_PATHS)} (or unset it for lean)")

CONNECT_TIMEOUT_S = 5

_FIX_HINT = ("is the server running? check host/port/user; password from the URL, PGPASSWORD "
             "or a stored connection")

def format_to_numeric(sql: str) -> str:
    """Convert psycopg ``%s`` placeholders to ``$1, $2, …`` and ``%%`` to ``%``.

    This mirrors psycopg's own conversion exactly, which is not literal-aware: a ``%`` inside a
    string literal must be written ``%%`` in the driver's paramstyle (``sqltext.to_format_style``
    does so), so the statement checked is byte for byte the one that will be executed.
    """
    out: list[str] = []
    counter = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        nxt = sql[i + 1] if i + 1 < n else ""
        if nxt == "%":
            out.append("%")
        elif nxt in ("s", "b", "t"):
            counter += 1
            out.append(f"${counter}")
        else:
            raise TargetError(
                f"unsupported placeholder {sql[i:i + 2]!r} in SQL {sql!r}: use %s for parameters "
                "and %% for a literal percent sign"
            )
        i += 2
    return "".join(out)


class _Secrets:
    """The secrets this driver knows, to scrub them from any text that may reach a user."""

    def __init__(self, *values: str | None) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return text


class PostgresConnection(CursorConnection):
    """One benchmark connection: autocommit, one reused cursor, statements server-prepared.

    ``execute`` never reconnects (that would land inside the timed region); after a connection
    loss ``broken`` is True and the engine calls ``reconnect()`` outside the timed region.
    """

    _conn: psycopg.Connection[Any]
    _cur: psycopg.Cursor[Any]

    def execute(self, sql: str, params: Sequence[object]) -> int:
        """Execute ``sql`` (``%s`` style), fetch every row, return rows fetched or affected."""
        # Hot path: inside the timed region, so nothing here but the round trip and the fetch.
        cur = self._cur
        cur.execute(sql, params, prepare=True)
        # `cur.description` builds Column objects on every read (~2 us); the result status
        # answers "did it return rows?" for a few nanoseconds.
        result = cur.pgresult
        if result is not None and result.status == _TUPLES_OK:
            return len(cur.fetchall())
        return cur.rowcount

    @property
    def broken(self) -> bool:
        """True when the connection was lost or closed and must be reopened before use."""
        return bool(self._conn.broken or self._conn.closed)


class PostgresDriver:
    """A PostgreSQL database under test, reached through a libpq URL."""

    dialect: Dialect = "postgresql"
    paramstyle: Literal["format", "qmark"] = "format"

    def __init__(self, url: str, password: str | None = None,
                 client_path: str | None = None) -> None:
        self.client_path: ClientPath = resolve_client_path(client_path)
        self._url = url
        self.redacted_url = redact_url(url)
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error:
            # libpq will report the malformed URL on connect; parse nothing here.
            params = {}
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in params:
            self._kwargs["application_name"] = "pytest-flakebench"
        # A cut network fails an operation in seconds (an error) instead of hanging the thread.
        self._kwargs.update(network_kwargs(params))
        # Password precedence: the URL, then the stored one, then libpq's own PGPASSWORD.
        if not params.get("password") and password:
            self._kwargs["password"] = password
        # url_secrets: also from a malformed URL, which libpq echoes whole in its error
        self._secrets = _Secrets(password, *url_secrets(url),
                                 str(params.get("password") or ""),
                                 os.environ.get("PGPASSWORD"))
        self._check_ids = itertools.count(1)
        # Statements known to the lean path, by SQL, with their per-connection name; filled by
        # check_statement in preflight so every connection prepares them when it opens.
        self._statements: dict[str, bytes] = {}
        self._names_lock = threading.Lock()  # connections opening in threads may add some
        self._meta = self._open()

    def _open(self) -> psycopg.Connection[Any]:
        """Open one autocommit connection, turning any failure into a secret-free TargetError."""
        try:
            return psycopg.connect(self._url, **self._kwargs)
        except psycopg.Error as exc:
            reason = self._secrets.scrub(str(exc).strip())
        # Raised outside the except block so no exception that may echo the URL is chained.
        raise TargetError(f"cannot connect to {self.redacted_url}: {reason}\n  {_FIX_HINT}")

    def connect(self) -> PostgresConnection | LeanConnection:
        """Open a connection for one benchmark thread; raise ``TargetError`` if unreachable.

        On the lean path every statement preflight checked is prepared on it before it returns.
        """
        if self.client_path == "cursor":
            return PostgresConnection(self)
        with self._names_lock:  # another thread's connection may be adding one
            known = list(self._statements)
        return LeanConnection(self, known)

    def statement_name(self, sql: str) -> bytes:
        """The name ``sql`` is prepared under on every lean connection (stable per driver)."""
        with self._names_lock:
            name = self._statements.get(sql)
            if name is None:
                # psycopg names its own prepared statements _pg3_N: no clash with Python ops
                name = f"_flakebench_{len(self._statements) + 1}".encode()
                self._statements[sql] = name
            return name

    def scrub(self, text: str) -> str:
        """``text`` with every secret this driver knows replaced by ``***``."""
        return self._secrets.scrub(text)

    def server_version(self) -> str:
        """E.g. ``PostgreSQL 15.18``."""
        v = self._meta.info.server_version
        if v >= 100000:
            return f"PostgreSQL {v // 10000}.{v % 10000}"
        return f"PostgreSQL {v // 10000}.{v // 100 % 100}.{v % 100}"

    def server_settings(self) -> dict[str, str]:
        """The settings in ``postgres_catalog.RESULT_SETTINGS`` as the benchmark's session sees."""
        return read_settings(self._meta)

    def describe_table(self, table: TableName) -> TableInfo:
        """Columns and primary key of ``table`` (case-insensitive); ``TargetError`` if absent."""
        return describe_table(self._meta, table, self.redacted_url)

    def key_bounds(self, info: TableInfo, column: str) -> tuple[int | None, int | None, int]:
        """``(min, max, row_count)``; min and max are None unless the column is an integer."""
        col = info.require_column(column)
        quoted = quote_ident(col.name)
        if col.type_class == "int":
            sql = f"SELECT min({quoted}), max({quoted}), count(*) FROM {info.table.quoted()}"
            lo, hi, count = self._meta.execute(sql).fetchone() or (None, None, 0)
            return lo, hi, count
        row = self._meta.execute(f"SELECT count(*) FROM {info.table.quoted()}").fetchone()
        return None, None, row[0] if row else 0

    def sample_column(self, info: TableInfo, column: str, limit: int) -> list[object]:
        """Up to ``limit`` distinct non-null values of ``column``, in random order."""
        return sample_distinct(self._meta, info, column, limit, "%s")

    def tag_run(self, run_id: str) -> None:
        """Name the run's connections (``application_name``) so the server can tell them apart;
        statements carry a ``/* flakebench:kind */`` comment already."""
        self._kwargs["application_name"] = f"flakebench:{run_id}"[:63]

    def check_statement(self, sql: str, param_count: int) -> None:
        """Parse and analyse ``sql`` (``%s`` style) as a prepared statement; never execute it.

        Raises ``TargetError`` with the server's message and the SQL on a syntax error, an
        unknown table or column, or a parameter count other than ``param_count``.
        """
        numeric = format_to_numeric(sql)
        name = f"_flakebench_check_{next(self._check_ids)}".encode()
        with self._meta.lock:
            # libpq level: PREPARE parses and analyses, DEALLOCATE drops it; nothing runs.
            pgconn = self._meta.pgconn
            res = pgconn.prepare(name, numeric.encode(), None)
            if res.status != pq.ExecStatus.COMMAND_OK:
                raise TargetError(f"the server rejected this SQL: {self._result_error(res)}\n"
                                  f"  SQL: {sql}")
            try:
                nparams = pgconn.describe_prepared(name).nparams
            finally:
                pgconn.exec_(b"DEALLOCATE " + quote_ident(name.decode()).encode())
        if nparams != param_count:
            raise TargetError(f"the SQL takes {nparams} parameter(s) but {param_count} are "
                              f"supplied: use one %s per parameter\n  SQL: {sql}")
        self.statement_name(sql)  # the lean path prepares it on every connection it opens

    def _result_error(self, res: pq.abc.PGresult) -> str:
        code = res.error_field(pq.DiagnosticField.SQLSTATE)
        message = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or res.error_message
        text = message.decode("utf-8", "replace").strip()
        if code:
            text = f"{text} (SQLSTATE {code.decode()})"
        return self._secrets.scrub(text)

    def classify_error(self, exc: BaseException) -> ErrorClass:
        """SQLSTATE (or the exception class name) and the first line of the message."""
        code = getattr(exc, "sqlstate", None) or type(exc).__name__
        lines = str(exc).strip().splitlines()
        return ErrorClass(code=code, message=self._secrets.scrub(lines[0] if lines else ""))

    def close(self) -> None:
        """Close the metadata connection; never raises."""
        with contextlib.suppress(Exception):
            self._meta.close()
