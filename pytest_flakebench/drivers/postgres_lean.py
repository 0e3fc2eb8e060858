"""The lean PostgreSQL execution path: psycopg's libpq layer (``psycopg.pq``), no cursor.

Every statement the preflight checked is prepared once per connection when the connection opens
(``PQprepare``); an operation is then one ``PQsendQueryPrepared`` with text parameters, and its
row count is read from the result (``PQntuples`` / ``PQcmdTuples``) without building a Python
object per row or per value: the measurement only needs the count. Measured on a 2-core VM
(reference/measurements-2026-11.md, issue 13), this halves the client CPU per point lookup
against ``cursor.execute(..., prepare=True)`` + ``fetchall()``.

The round trip is one ``PQexecPrepared``, which releases the interpreter once for the whole
exchange (tests/integration/test_driver_postgres_lean.py checks it), so connections in threads
of one process overlap their waits and take the interpreter back once per operation. Its one
catch, that it returns libpq's *last* result (after a terminated session: no SQLSTATE), is
handled by ``libpq_errors``: the connection runs at verbose error verbosity, from which the
server's code is recovered, and every message is rebuilt at default verbosity. Where that is
not possible (libpq not found, older than 14) and once ``raw`` has handed the psycopg connection
out (its users must see libpq's default messages), the round trip is ``PQsendQueryPrepared``
then ``poll()`` on the socket and ``PQgetResult``, which keeps the first result.

Errors are raised as the very exception classes the cursor path raises, with the same message
(SQLSTATE included), so error classes, retries and reconnects behave the same on both paths.
"""

from __future__ import annotations

import contextlib
import select
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result, get_base_exception, lookup
from psycopg.pq.misc import strip_severity

from pytest_flakebench.drivers.libpq_errors import Native, server_error
from pytest_flakebench.errors import TargetError

if TYPE_CHECKING:
    from pytest_flakebench.drivers.postgres import PostgresDriver

_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_BAD = pq.ConnStatus.BAD
_TEXT = pq.Format.TEXT
_BINARY = pq.Format.BINARY

# Built-in types (oid below FirstNormalObjectId) all have a binary send function; user types
# may not, so a statement returning one keeps text results.
_FIRST_USER_OID = 16384
# Types whose text output costs the server noticeably more than their binary form (float
# shortest-repr, numeric and datetime formatting): results containing one are fetched binary.
_COSTLY_TEXT = frozenset({
    700, 701,  # float4, float8
    1700,  # numeric
    1082, 1083, 1114, 1184, 1186, 1266,  # date, time, timestamp, timestamptz, interval, timetz
    2950,  # uuid
    17,  # bytea (hex-escaped in text)
})


class _Statement:
    """One statement prepared on one connection."""

    __slots__ = ("name", "result_format")

    def __init__(self, name: bytes, result_format: int) -> None:
        self.name = name
        self.result_format = result_format


class LeanConnection:
    """One benchmark connection on the lean path; same contract as ``PostgresConnection``.

    ``execute`` never reconnects (that would land inside the timed region); after a connection
    loss ``broken`` is True and the engine calls ``reconnect()`` outside the timed region, which
    opens a new connection and prepares every known statement on it again.
    """

    def __init__(self, driver: PostgresDriver, statements: Iterable[str]) -> None:
        self._driver = driver
        self._known = list(statements)
        self._handed_out = False  # ``raw`` was used: default verbosity, send/poll round trip
        self._open()

    def _open(self) -> None:
        self._native: Native | None = None  # set once the statements are prepared
        self._conn = self._driver._open()
        self._pg = self._conn.pgconn
        self._encoding = self._conn.info.encoding
        # psycopg's own adapters for anything beyond int/str/None (dates, decimals, bytes,
        # UUIDs, lists…): exactly the text the cursor path would send.
        self._tx = Transformer(self._conn)
        poller = select.poll()
        poller.register(self._pg.socket, select.POLLIN)
        self._poll = poller.poll
        self._stmts: dict[str, _Statement] = {}
        try:
            for sql in self._known:
                self._prepare(sql)
        except psycopg.Error as exc:
            self.close()
            reason = self._driver.scrub((str(exc).strip().splitlines() or [""])[0])
            raise TargetError(f"cannot prepare a statement on {self._driver.redacted_url}: "
                              f"{reason}") from None
        native = None if self._handed_out else Native.load()
        # set after the prepares: until then nothing rebuilds messages
        self._native = native if native is not None and native.set_verbose(self._pg, True) \
            else None

    def _prepare(self, sql: str) -> _Statement:
        """Prepare ``sql`` (``%s`` style) on this connection; raise the server's error."""
        # postgres.py imports this module: import back lazily (prepares are rare, not timed)
        from pytest_flakebench.drivers.postgres import format_to_numeric

        name = self._driver.statement_name(sql)
        pg = self._pg
        res = pg.prepare(name, format_to_numeric(sql).encode(self._encoding), None)
        if res.status != _COMMAND_OK:
            raise self._error(res)
        described = pg.describe_prepared(name)
        oids = [described.ftype(i) for i in range(described.nfields)]
        binary = (bool(oids) and all(o < _FIRST_USER_OID for o in oids)
                  and any(o in _COSTLY_TEXT for o in oids))
        stmt = self._stmts[sql] = _Statement(name, _BINARY if binary else _TEXT)
        if sql not in self._known:
            self._known.append(sql)  # prepared again after a reconnect
        return stmt

    def execute(self, sql: str, params: Sequence[object]) -> int:
        """Execute ``sql`` (``%s`` style); return rows returned or affected (-1: no count)."""
        # Hot path: inside the timed region, so nothing here but encoding and the round trip.
        stmt = self._stmts.get(sql)
        if stmt is None:
            stmt = self._prepare(sql)  # a statement preflight did not see: prepared once
        pg = self._pg
        values: list[bytes | None] | None
        if not params:
            values = None
        elif len(params) == 1 and type(params[0]) is int:
            values = [b"%d" % params[0]]  # a key: the common case, without a call
        else:
            values = self._encode(params)
        if self._native is not None:
            # One call, one release of the interpreter for the whole exchange.
            # (a None value is SQL NULL, as for send_query_prepared; the stub omits it)
            res = pg.exec_prepared(stmt.name, values, None,  # type: ignore[arg-type]
                                   stmt.result_format)
        else:
            res = self._round_trip(stmt, values)
        if res.status == _TUPLES_OK:
            return res.ntuples
        return self._outcome(res)

    def bind(self, sql: str) -> Callable[[Sequence[object]], int]:
        """``execute`` for one statement, as a callable of its parameters: the engine's hot loop
        runs it once per operation, so everything that does not change between operations (the
        statement's name and result format, the bound ``exec_prepared``) is looked up here,
        once. Bind again after ``reconnect()``; a statement not prepared yet falls back to
        ``execute`` (which prepares it on first use, inside the operation as before)."""
        stmt = self._stmts.get(sql)
        execute = self.execute
        if stmt is None:
            return lambda params: execute(sql, params)
        name, result_format = stmt.name, stmt.result_format
        exec_prepared = self._pg.exec_prepared
        encode, outcome = self._encode, self._outcome

        def run(params: Sequence[object]) -> int:
            if self._native is None:  # ``raw`` was handed out: the send/poll round trip
                return execute(sql, params)
            if len(params) == 1 and type(params[0]) is int:
                values: list[bytes | None] | None = [b"%d" % params[0]]  # a key
            else:
                values = encode(params) if params else None
            res = exec_prepared(name, values, None, result_format)  # type: ignore[arg-type]
            if res.status == _TUPLES_OK:
                return res.ntuples
            return outcome(res)

        return run

    def _outcome(self, res: pq.abc.PGresult) -> int:
        """Rows affected by a command (-1: no count), or the failed result's exception."""
        if res.status == _COMMAND_OK:
            count = res.command_tuples
            return -1 if count is None else count
        raise self._error(res)

    def _round_trip(self, stmt: _Statement, values: list[bytes | None] | None) -> pq.abc.PGresult:
        """Send, wait in ``poll()``, read: the first result (no verbosity needed for errors)."""
        pg = self._pg
        pg.send_query_prepared(stmt.name, values, None, stmt.result_format)
        if pg.flush():
            self._flush()
        # Wait in poll() (the interpreter released), then read: the first result is kept.
        # Five releases of the interpreter per operation (send, poll, is_busy x2...) against
        # PQexecPrepared's one: slower with 2 threads in one process (benchmarks/README.md).
        wait, consume, busy = self._poll, pg.consume_input, pg.is_busy
        while True:
            wait()
            consume()
            if not busy():
                break
        res = pg.get_result()
        if res is None:  # pragma: no cover - libpq always answers a sent query
            raise psycopg.OperationalError("no result from the server")
        # ReadyForQuery nearly always came in the same packet: once parsed, the next result is
        # None at once; otherwise wait for the rest of the exchange.
        if busy() or pg.get_result() is not None:
            self._finish()
        return res

    def _finish(self) -> None:
        """Read up to the end of the exchange (ReadyForQuery), usually already received."""
        pg = self._pg
        try:
            while True:
                while pg.is_busy():
                    self._poll()
                    pg.consume_input()
                if pg.get_result() is None:
                    return
        except psycopg.OperationalError:
            return  # the session ended after its answer: ``broken`` tells the engine

    def _flush(self) -> None:
        """Send what did not fit in the socket buffer (large parameters)."""
        import select

        pg = self._pg
        writable = select.poll()
        writable.register(pg.socket, select.POLLOUT | select.POLLIN)
        while pg.flush():
            writable.poll()
            pg.consume_input()  # the server may answer (an error) before reading it all

    def _encode(self, params: Sequence[object]) -> list[bytes | None]:
        """Parameters as text, the way the server parses them for the prepared types."""
        out: list[bytes | None] = []
        for value in params:
            kind = type(value)
            if kind is int:
                out.append(b"%d" % value)  # type: ignore[str-format]
            elif kind is str:
                out.append(value.encode(self._encoding))  # type: ignore[attr-defined]
            elif value is None:
                out.append(None)
            else:
                dumped = self._tx.get_dumper(value, PyFormat.TEXT).dump(value)
                out.append(None if dumped is None else bytes(dumped))
        return out

    def _error(self, res: pq.abc.PGresult) -> psycopg.Error:
        """The exception the cursor path raises for this failed result, same message."""
        native = self._native
        state = res.error_field(pq.DiagnosticField.SQLSTATE)
        if self._pg.status == _BAD and not state:
            found = server_error(self._pg.error_message) if native is not None else None
            if found is not None:
                # exec_prepared's last result is libpq's "server closed the connection"; the
                # server's FATAL (57P01…) that the cursor path reports came before it.
                code, said = found
                return _class_for(code)(self._message(said), encoding=self._encoding)
            # The socket is gone without a server error (crash, network, or the server's
            # FATAL lost to the reset: libpq/kernel race, cursor path alike): psycopg says
            # OperationalError here too, from its read (the usual place libpq notices).
            if native is not None:
                text = self._pg.get_error_message(self._encoding)
                return psycopg.OperationalError(f"consuming input failed: {text}")
            text = res.get_error_message(self._encoding) or "the connection was lost"
            return psycopg.OperationalError(text)
        if native is None:
            return error_from_result(res, encoding=self._encoding)
        cls = _class_for(state.decode("ascii", "replace") if state else "")
        return cls(self._message(native.default_message(res)), info=res,
                   encoding=self._encoding)

    def _message(self, text: bytes) -> str:
        """The exception text psycopg derives from a libpq message (severity stripped)."""
        decoded = text.decode(self._encoding, "replace")
        return strip_severity(decoded) if decoded else "no error details available"

    @property
    def raw(self) -> Any:
        """The psycopg connection, for Python operations (``flakebench.operation``).

        Its users get libpq's default error messages: handing it out puts the connection back
        at default verbosity and on the send/poll round trip, for good (reconnects included).
        """
        if not self._handed_out:
            self._handed_out = True
            if self._native is not None:
                self._native.set_verbose(self._pg, False)
                self._native = None
        return self._conn

    @property
    def broken(self) -> bool:
        """True when the connection was lost or closed and must be reopened before use."""
        return self._pg.status == _BAD or self._conn.closed

    def reconnect(self) -> None:
        """Open a fresh connection and prepare every known statement on it again."""
        self.close()
        self._open()

    def close(self) -> None:
        """Close the connection; never raises."""
        with contextlib.suppress(Exception):
            self._conn.close()


def _class_for(sqlstate: str) -> type[psycopg.Error]:
    """The exception class psycopg raises for ``sqlstate`` (by its class for unknown codes)."""
    try:
        return lookup(sqlstate)
    except KeyError:
        return get_base_exception(sqlstate)
