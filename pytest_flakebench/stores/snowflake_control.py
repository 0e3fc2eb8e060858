"""The control plane on Snowflake: a connection that speaks the SQLite/PostgreSQL dialect the
control plane writes (``BEGIN IMMEDIATE``, ``INSERT … ON CONFLICT DO NOTHING``) in Snowflake's."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.drivers.snowflake_connect import (
    connect_kwargs,
    open_connection,
    secrets_of,
)
from pytest_flakebench.errors import StoreError
from pytest_flakebench.stores.snowflake_schema import DUPLICATE_RE, primary_keys
from pytest_flakebench.urls import redact_url

_ON_CONFLICT_RE = re.compile(
    r"^INSERT INTO (\w+) \(([^)]*)\) VALUES \(((?:\s*(?:\?|'[^',]*'|-?\d+)\s*,?)*)\) "
    r"ON CONFLICT DO NOTHING$", re.S)


def merge_for_insert_ignore(sql: str, keys: dict[str, list[str]]) -> str:
    """``INSERT … VALUES (?…) ON CONFLICT DO NOTHING`` as a MERGE with the same parameters.

    VALUES may hold binds and plain literals (``'PREPARED'``, numbers).

    Snowflake has no ``ON CONFLICT``, and standard tables do not enforce keys: a MERGE on the
    table's primary key inserts the row only when it is not there yet.
    """
    m = _ON_CONFLICT_RE.match(sql.strip())
    if m is None:
        return sql
    table, cols = m.group(1), [c.strip() for c in m.group(2).split(",")]
    values = [v.strip() for v in m.group(3).split(",")]  # binds or plain literals
    if len(values) != len(cols):
        raise ValueError(f"cannot rewrite for Snowflake (columns and values differ): {sql}")
    on = " AND ".join(f"t.{k} = s.{k}" for k in keys[table])
    picks = ", ".join(f"{v} AS {c}" for v, c in zip(values, cols, strict=True))
    return (f"MERGE INTO {table} t USING (SELECT {picks}) s "
            f"ON {on} WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) "
            f"VALUES ({', '.join(f's.{c}' for c in cols)})")


class ControlConnection:
    """What ``ControlPlane`` expects of a connection (``execute`` → cursor), on Snowflake."""

    _keys: dict[str, list[str]] | None = None

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._cur = conn.cursor()
        if ControlConnection._keys is None:
            ControlConnection._keys = primary_keys()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` binds); ``BEGIN IMMEDIATE`` is plain ``BEGIN`` here.

        ``INSERT … ON CONFLICT DO NOTHING`` becomes a MERGE on the table's key. On hybrid
        tables (enforced keys, row locks) two racing MERGEs can both find no row; the loser's
        duplicate-key error means the row is there, which is what DO NOTHING asks for. On
        standard tables the race can leave a duplicate row; the control plane only uses it
        where a duplicate is harmless (a benchmark listed twice, a lag recorded twice by one
        worker's single thread, which cannot race with itself).
        """
        ignore = False
        if sql == "BEGIN IMMEDIATE":
            sql = S.BEGIN.sql
        elif "ON CONFLICT DO NOTHING" in sql:
            sql = merge_for_insert_ignore(sql, self._keys or {})
            ignore = True
        try:
            self._cur.execute(sql, tuple(params))
        except Exception as exc:
            if not (ignore and DUPLICATE_RE.search(str(exc))):
                raise
        return self._cur

    def close(self) -> None:
        """Close the connection; never raises."""
        with contextlib.suppress(Exception):
            self._conn.close()


def control_connector(url: str) -> Callable[[], ControlConnection]:
    """A factory of control-plane connections to the store at ``url``."""
    kwargs = connect_kwargs(url)
    secrets = secrets_of(kwargs)
    shown = redact_url(url)

    def connect() -> ControlConnection:
        return ControlConnection(open_connection(dict(kwargs), query_tag="flakebench:control",
                                                 shown=shown, secrets=secrets,
                                                 error=StoreError))

    return connect
