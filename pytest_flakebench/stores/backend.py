"""One backend per store database: how to connect, what a lost connection looks like, how a
transaction is written, and the URL and error text that may be shown.

``open_backend(url)`` is the one scheme switch. The results store and the control plane reach
their database through ``stores.connections.Connections`` over one of these backends, which
reconnects with backoff; a backend itself keeps no connection:

- **connecting**: ``connect()`` opens a new connection (autocommit; transactions explicit);
- **lost or not**: ``lost(exc)`` says whether a failure means the connection is gone (worth
  reconnecting) rather than a bad query; ``driver_error(exc)`` whether it came from the driver;
- **error text**: ``reason(exc)`` is the driver's first line with secrets scrubbed, the URL
  redacted (``shown``).
"""

from __future__ import annotations

import contextlib
import random
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pytest_flakebench.errors import ConfigError
from pytest_flakebench.sqltext import to_format_style
from pytest_flakebench.urls import redact_url, scheme_of, sqlite_path

CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_S = 30


class Backend:
    """How to reach one kind of store database. Subclasses fill in the driver specifics."""

    dialect = ""

    def __init__(self, url: str, *, shown: str | None = None) -> None:
        self.url = url
        self.shown = shown or redact_url(url)
        self._secrets = _passwords_of(url)

    def connect(self) -> Any:
        """A new connection (autocommit; transactions are explicit)."""
        raise NotImplementedError

    def lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is gone (worth reconnecting), not a bad query."""
        return False

    def driver_error(self, exc: BaseException) -> bool:
        """Whether ``exc`` comes from the database driver (translated into ``StoreError``);
        anything else a caller's body raises passes through untouched."""
        return type(exc).__module__.split(".", 1)[0] in ("sqlite3", "psycopg", "snowflake")

    def sql(self, text: str) -> str:
        """``?`` placeholders in the driver's style."""
        return text

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[Any]:
        """One transaction on ``conn``: committed on success, rolled back on an exception."""
        conn.execute("BEGIN")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def reason(self, exc: BaseException) -> str:
        """The driver's message on one line, secrets scrubbed (drivers may echo the URL)."""
        text = re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text.replace(self.url, self.shown)[:500]

    def close(self, conn: Any) -> None:
        """Close ``conn``; never raises (best effort by contract)."""
        with contextlib.suppress(Exception):
            conn.close()


class PostgresBackend(Backend):
    """psycopg 3, autocommit connections, ``%s`` placeholders."""

    dialect = "postgresql"

    def __init__(self, url: str, *, application_name: str = "flakebench") -> None:
        super().__init__(url)
        self.application_name = application_name

    def connect(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        from pytest_flakebench.drivers.pgnet import network_kwargs

        kwargs: dict[str, Any] = {"autocommit": True, "application_name": self.application_name}
        if "connect_timeout" not in self.url:
            kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        try:
            given = conninfo_to_dict(self.url)
        except psycopg.Error:
            given = {}  # libpq reports the malformed URL on connect
        kwargs.update(network_kwargs(given))  # a cut network fails fast instead of hanging
        return psycopg.connect(self.url, **kwargs)

    def lost(self, exc: BaseException) -> bool:
        import psycopg

        # OperationalError: server shut down/restarting (57P01, 57P03), connection refused or
        # reset; InterfaceError: "the connection is closed" on a connection that died earlier.
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def sql(self, text: str) -> str:
        return to_format_style(text)

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[Any]:
        with conn.transaction():
            yield conn


class SQLiteBackend(Backend):
    """A local file: WAL for several processes, a busy timeout instead of lock errors."""

    dialect = "sqlite"

    def __init__(self, url: str, *, base_dir: Path | None = None) -> None:
        super().__init__(url, shown=url.split("?", 1)[0])
        self.path = sqlite_path(url, base=base_dir)

    def connect(self) -> Any:
        conn = open_sqlite_file(self.path)
        try:
            make_shareable(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def transaction(self, conn: Any) -> Iterator[Any]:
        # IMMEDIATE: take the write lock up front; two deferred transactions upgrading at once
        # would otherwise fail with "database is locked".
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def open_sqlite_file(path: Path) -> sqlite3.Connection:
    """Open (and create, with its directory) the SQLite file at ``path``, transactions explicit.

    Also used by the embedded results store (``stores.sqlite``), which words its own errors.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE); check_same_thread off
    # only so that close() may close every thread's connection (each is used by one).
    return sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)


def make_shareable(conn: sqlite3.Connection) -> None:
    """Ready ``conn`` for a file other processes open too: a busy timeout instead of lock
    errors, and WAL (readers never wait for a writer), switched to safely when several
    processes open a new file at once."""
    conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
    _switch_to_wal(conn)


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (a no-op once it is).

    Processes that open a new file at the same moment (the xdist workers on a fresh control
    plane) each switch it from the rollback journal: both hold a shared lock and want the
    exclusive one, a deadlock SQLite breaks by answering one of them "database is locked" at
    once, without the busy timeout (an INTERNALERROR at collection in one CI run). That one
    tries again: by then the other has switched the file.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the racers do not meet again
        delay = min(delay * 2, 0.2)


class SnowflakeBackend(Backend):
    """The Snowflake connector behind ``stores.snowflake_control.ControlConnection`` (qmark
    binds)."""

    dialect = "snowflake"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        from pytest_flakebench.stores.snowflake_control import control_connector

        self._connect = control_connector(url)

    def connect(self) -> Any:
        return self._connect()

    def lost(self, exc: BaseException) -> bool:
        # By name: the connector is imported only when a Snowflake store is used.
        names = {c.__name__ for c in type(exc).__mro__}
        return bool(names & {"OperationalError", "InterfaceError", "ConnectionError"})


def open_backend(url: str, *, base_dir: Path | None = None,
                 application_name: str = "flakebench") -> Backend:
    """The backend of the store at ``url``; ``ConfigError`` for a scheme without one."""
    scheme = scheme_of(url)
    if scheme == "sqlite":
        return SQLiteBackend(url, base_dir=base_dir)
    if scheme == "postgresql":
        return PostgresBackend(url, application_name=application_name)
    if scheme == "snowflake":
        return SnowflakeBackend(url)
    raise ConfigError(f"store {redact_url(url)}: unsupported scheme {scheme!r}: use "
                      f"sqlite:///path.db, postgresql://user@host:5432/db or snowflake://...")


def scrubbed(url: str, text: str) -> str:
    """``text`` with ``url``'s password (raw and percent-decoded) replaced by ``***``."""
    for secret in _passwords_of(url):
        text = text.replace(secret, "***")
    return text


def _passwords_of(url: str) -> tuple[str, ...]:
    try:
        raw = urlsplit(url).password
    except ValueError:
        return ()
    return tuple({raw, unquote(raw)}) if raw else ()


__all__ = ["Backend", "open_backend", "scrubbed"]
