"""Snowflake driver (``snowflake-connector-python``, the ``snowflake`` extra), qmark binds.

URL: ``snowflake://user:password@account/database/schema?warehouse=WH&role=R`` (see
``snowflake_connect``, which reaches the account for the driver and the stores).

Query tags: every connection opens with the session parameter ``QUERY_TAG`` =
``flakebench:run=<tag>`` (set at login, before the start barrier); each statement also carries
``QUERY_TAG`` = ``flakebench:run=<tag>;kind=<kind>`` as a statement parameter, computed once per
statement in :meth:`SnowflakeDriver.check_statement` (preflight), so the timed region only does
a dict lookup. Server-side history can then be joined on ``QUERY_HISTORY.QUERY_TAG``.

``check_statement`` sends the statement as a *describe-only* request (``cursor.describe``):
Snowflake compiles it (tables, columns, types) and never executes it. Only single
SELECT/WITH/INSERT/UPDATE/DELETE/MERGE statements are sent that way. Note: the fakesnow emulator
validates SELECTs fully but answers describe-only DML with a canned result, so on the emulator an
unknown column in an INSERT/UPDATE surfaces as errors under load rather than in preflight.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pytest_flakebench.drivers import snowflake_names as names
from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.drivers.base import CursorConnection, Dialect, ErrorClass
from pytest_flakebench.drivers.snowflake_connect import (
    connect_kwargs,
    connector,
    error_code,
    open_connection,
    scrub,
    secrets_of,
)
from pytest_flakebench.drivers.snowflake_context import CatalogContext
from pytest_flakebench.errors import TargetError
from pytest_flakebench.identifiers import TableName
from pytest_flakebench.profile import Column, TableInfo, TypeClass
from pytest_flakebench.sqltext import count_placeholders
from pytest_flakebench.urls import redact_url

_KIND_RE = re.compile(r"^\s*/\*\s*flakebench:([A-Za-z0-9_]+)\s*\*/")
_FIRST_WORD_RE = re.compile(r"^\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*([A-Za-z]+)", re.S)
_CHECKABLE = frozenset({"SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "MERGE"})
_NO_UPDATE_ON_INTERACTIVE = frozenset({"UPDATE", "DELETE", "MERGE"})

_TYPE_CLASSES: dict[str, TypeClass] = {
    "FLOAT": "float", "DOUBLE": "float", "REAL": "float", "DOUBLE PRECISION": "float",
    "TEXT": "text", "VARCHAR": "text", "STRING": "text", "CHAR": "text", "CHARACTER": "text",
    "BOOLEAN": "bool", "DATE": "date", "TIMESTAMP_NTZ": "timestamp",
    "TIMESTAMP_LTZ": "timestamp", "TIMESTAMP_TZ": "timestamp", "TIMESTAMP": "timestamp",
    "DATETIME": "timestamp", "BINARY": "bytes", "VARBINARY": "bytes",
}


def first_word(sql: str) -> str:
    """The statement's first keyword (after comments), upper-case."""
    m = _FIRST_WORD_RE.match(sql)
    return m.group(1).upper() if m else ""


def type_class_of(data_type: str, scale: int | None) -> TypeClass:
    """INFORMATION_SCHEMA ``DATA_TYPE`` to the generator's class.

    ``NUMBER(p, s)`` with a scale is generated as ``float`` (Snowflake rounds the bound double
    to the column's scale): a ``Decimal`` bind travels as type FIXED, which the fakesnow emulator
    cannot read back and answers with HTTP 500, which the connector then retries.
    """
    t = data_type.upper()
    if t in ("NUMBER", "DECIMAL", "NUMERIC", "INT", "INTEGER", "BIGINT", "SMALLINT"):
        return "int" if not scale else "float"
    return _TYPE_CLASSES.get(t, "other")


class SnowflakeConnection(CursorConnection):
    """One benchmark connection with one reused cursor."""

    def __init__(self, driver: SnowflakeDriver) -> None:
        self._tags = driver._statement_tags
        self._writes = driver._writes
        super().__init__(driver)

    def execute(self, sql: str, params: Sequence[object]) -> int:
        """Execute ``sql`` (``?`` style), fetch every row, return rows fetched or affected."""
        cur = self._cur
        cur.execute(sql, params, _statement_params=self._tags.get(sql))
        if sql in self._writes:
            cur.fetchall()
            return int(cur.rowcount or 0)
        return len(cur.fetchall())

    @property
    def broken(self) -> bool:
        """True once the connection is closed or lost."""
        return bool(self._conn.is_closed())


class SnowflakeDriver:
    """A Snowflake table under test (standard, hybrid, interactive or dynamic)."""

    dialect: Dialect = "snowflake"
    paramstyle: Literal["format", "qmark"] = "qmark"

    def __init__(self, url: str, *, password: str | None = None,
                 table_type: str = "standard", run_tag: str | None = None) -> None:
        self.redacted_url = redact_url(url)
        self._kwargs = connect_kwargs(url, password)
        # Benchmark sessions never read the result cache unless the URL asks
        # (?use_cached_result=true): a cached result measures the cache, not the query.
        self.session_parameters: dict[str, object] = {
            "USE_CACHED_RESULT": bool(self._kwargs.pop("use_cached_result", False))}
        self._secrets = secrets_of(self._kwargs)
        self.table_type = table_type
        # The run id when known before preflight (the worker knows it): then the metadata
        # connection's queries carry it too and QUERY_HISTORY joins every query of the run.
        self.run_tag = run_tag or uuid.uuid4().hex[:16]
        self._statement_tags: dict[str, dict[str, str]] = {}
        self._writes: set[str] = set()
        self._meta = self._open()
        self._catalog = CatalogContext(self._query, self._show, self._kwargs, self.redacted_url)

    def tag_run(self, run_id: str) -> None:
        """Use ``run_id`` in every query tag (call before :meth:`connect`)."""
        if run_id != self.run_tag:
            # The metadata connection logged in with another tag: re-tag its session (a
            # literal: ALTER SESSION takes no bind; run ids are hex).
            with contextlib.suppress(Exception):
                cur = self._meta.cursor()
                cur.execute(S.SET_QUERY_TAG.render(tag=names.string_literal(
                    f"flakebench:run={run_id}")))
                cur.close()
        self.run_tag = run_id
        for sql, params in self._statement_tags.items():
            params["QUERY_TAG"] = self._tag(_kind_of(sql))

    def _tag(self, kind: str | None = None) -> str:
        return f"flakebench:run={self.run_tag}" + (f";kind={kind}" if kind else "")

    def _open(self) -> Any:
        return open_connection(dict(self._kwargs), query_tag=self._tag(),
                               session=self.session_parameters,
                               shown=self.redacted_url, secrets=self._secrets)

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        sf = connector()
        try:
            cur = self._meta.cursor()
            try:
                cur.execute(sql, params)
                return list(cur.fetchall())
            finally:
                cur.close()
        except sf.Error as exc:
            raise TargetError(f"{self.redacted_url}: {scrub(exc, self._secrets)} "
                              f"({error_code(exc)})") from None

    def connect(self) -> SnowflakeConnection:
        """Open a connection for one benchmark thread."""
        return SnowflakeConnection(self)

    def server_version(self) -> str:
        """E.g. ``Snowflake 9.1.0``."""
        return f"Snowflake {self._query(S.CURRENT_VERSION.sql)[0][0]}"

    def server_settings(self) -> dict[str, str]:
        """Warehouse, its size and cluster counts (from the real warehouse), the table type.

        The URL's ``warehouse`` is looked up with ``SHOW WAREHOUSES LIKE '<name>'`` (a literal:
        SHOW takes no bind) and matched by exact catalog name; a warehouse the role cannot see
        is an error naming it, before any load.
        """
        found = {"table_type": self.table_type}
        warehouse = self._kwargs.get("warehouse")
        if not warehouse:
            return found
        try:
            wanted = names.normalise(str(warehouse))
        except ValueError as exc:
            raise TargetError(f"{self.redacted_url}: warehouse={warehouse!r}: {exc}") from None
        rows, cols = self._show(S.SHOW_WAREHOUSES.render(pattern=names.string_literal(wanted)))
        by_name = {str(r[cols.index("name")]): r for r in rows} if "name" in cols else {}
        chosen = names.pick(str(warehouse), list(by_name))
        if chosen.name is None:
            raise TargetError(
                f"{self.redacted_url}: warehouse {warehouse!r} (as {wanted}) does not exist or "
                f"role {self._catalog.role() or '(default)'} has no privilege on it: "
                f"SHOW WAREHOUSES lists {', '.join(sorted(by_name)) or 'none'}; fix ?warehouse= "
                f"in the URL"
            )
        row = by_name[chosen.name]
        found["warehouse"] = chosen.name
        for key in ("size", "min_cluster_count", "max_cluster_count", "scaling_policy",
                    "type"):
            if key in cols and row[cols.index(key)] is not None:
                found[key if key != "type" else "warehouse_type"] = str(row[cols.index(key)])
        return found

    def _show(self, sql: str) -> tuple[list[tuple[Any, ...]], list[str]]:
        """Rows and lower-case column names of a SHOW command (no binds)."""
        sf = connector()
        cur = self._meta.cursor()
        try:
            cur.execute(sql)
            cols = [str(d[0]).lower() for d in cur.description or ()]
            return list(cur.fetchall()), cols
        except sf.Error as exc:
            raise TargetError(f"{self.redacted_url}: {scrub(exc, self._secrets)} "
                              f"({error_code(exc)})\n  SQL: {sql}") from None
        finally:
            cur.close()

    def describe_table(self, table: TableName) -> TableInfo:
        """Columns and primary key, each name in the catalog's own spelling.

        Database, schema and table are resolved in turn (unquoted names upper-cased as
        Snowflake does, else the one catalog name differing only in case), so an error names
        the first missing part: database, schema (or the privilege on it), then table.
        """
        db = self._catalog.database(table.database)
        schema = self._catalog.schema(db, table.schema)
        info_schema = names.quote(db)
        found = self._query(S.FIND_TABLE.render(database=info_schema), (schema, table.name))
        chosen = names.pick(table.name, [str(r[1]) for r in found])
        if chosen.name is None:
            if chosen.ambiguous:
                raise TargetError(f"table '{table}' is ambiguous in {db}.{schema}: "
                                  f"{', '.join(chosen.candidates)} differ only in case")
            listed = [str(r[0]) for r in self._query(
                S.LIST_TABLES.render(database=info_schema), (schema,))]
            hint = (f"; tables in {schema}: {', '.join(listed)}" if listed else
                    f"; schema {schema} has no tables the role "
                    f"{self._catalog.role() or '(default)'} can see")
            raise TargetError(f"table '{table}' (as {names.normalise(table.name)}) not found "
                              f"in {db}.{schema} ({self.redacted_url}){hint}")
        cat_name = chosen.name
        kind = next(str(r[2]) for r in found if str(r[1]) == cat_name)
        columns = tuple(
            Column(name=str(name), type_name=str(dtype), type_class=type_class_of(dtype, scale),
                   nullable=str(nullable).upper() == "YES", has_default=default is not None,
                   max_length=int(length) if length and str(dtype).upper() in
                   ("TEXT", "VARCHAR") and int(length) < 16_777_216 else None)
            for name, dtype, nullable, default, length, scale in self._query(
                S.TABLE_COLUMNS.render(database=info_schema), (schema, cat_name))
        )
        full = TableName(name=cat_name, schema=schema, database=db)
        pk_rows, cols = self._show(S.SHOW_PRIMARY_KEYS.render(table=_quoted(full)))
        col_at = cols.index("column_name") if "column_name" in cols else 4
        seq_at = cols.index("key_sequence") if "key_sequence" in cols else 5
        pk = tuple(str(r[col_at]) for r in sorted(pk_rows, key=lambda r: int(r[seq_at])))
        return TableInfo(table=TableName(name=cat_name, schema=schema,
                                         database=db if table.database else None),
                         columns=columns, primary_key=pk, is_view="VIEW" in kind.upper())

    def key_bounds(self, info: TableInfo, column: str) -> tuple[int | None, int | None, int]:
        """``(min, max, row_count)``; hybrid tables must be keyed by their primary key."""
        col = info.require_column(column)
        if self.table_type == "hybrid" and (len(info.primary_key) != 1
                                            or info.primary_key[0] != col.name):
            raise TargetError(
                f"table_type='hybrid': point lookups on hybrid table {info.table} go through "
                f"its primary key ({', '.join(info.primary_key) or 'none'}), not {col.name!r}: "
                "key the benchmark by the one-column primary key"
            )
        table = _quoted(info.table)
        if col.type_class == "int":
            q = names.quote(col.name)
            lo, hi, count = self._query(S.KEY_BOUNDS.render(column=q, table=table))[0]
            return (int(lo) if lo is not None else None, int(hi) if hi is not None else None,
                    int(count))
        return None, None, int(self._query(S.ROW_COUNT.render(table=table))[0][0])

    def sample_column(self, info: TableInfo, column: str, limit: int) -> list[object]:
        """Up to ``limit`` distinct non-null values of ``column``, in random order."""
        col = info.require_column(column)
        found = self._query(S.SAMPLE_COLUMN.render(column=names.quote(col.name),
                                                   table=_quoted(info.table),
                                                   limit=str(int(limit) * 4)))
        return [r[0] for r in found[:limit]]

    def check_statement(self, sql: str, param_count: int) -> None:
        """Compile ``sql`` with a describe-only request (never executed); remember its tag."""
        word = first_word(sql)
        if word not in _CHECKABLE:
            raise TargetError(f"only SELECT, WITH, INSERT, UPDATE, DELETE or MERGE statements "
                              f"can be benchmarked, got {word or 'nothing'!r}\n  SQL: {sql}")
        if self.table_type == "interactive" and word in _NO_UPDATE_ON_INTERACTIVE:
            raise TargetError(
                f"table_type='interactive': interactive tables do not support {word}: remove "
                "'update' (and any UPDATE/DELETE/MERGE query) from the mix"
            )
        found = count_placeholders(sql)
        if found != param_count:
            raise TargetError(f"the SQL takes {found} parameter(s) but {param_count} are "
                              f"supplied: use one ? per parameter\n  SQL: {sql}")
        sf = connector()
        cur = self._meta.cursor()
        try:
            cur.describe(sql)
        except sf.Error as exc:
            raise TargetError(f"Snowflake rejected this SQL: {scrub(exc, self._secrets)} "
                              f"({error_code(exc)})\n  SQL: {sql}") from None
        finally:
            cur.close()
        self._statement_tags[sql] = {"QUERY_TAG": self._tag(_kind_of(sql))}
        if word != "SELECT" and word != "WITH":
            self._writes.add(sql)

    def classify_error(self, exc: BaseException) -> ErrorClass:
        """Snowflake's error code (``002003``…) and the first line of the message."""
        return ErrorClass(code=error_code(exc), message=scrub(exc, self._secrets))

    def close(self) -> None:
        """Close the metadata connection; never raises."""
        with contextlib.suppress(Exception):
            self._meta.close()


def _quoted(table: TableName) -> str:
    """Every part double-quoted verbatim (catalog spellings may need ``"`` doubled)."""
    return ".".join(names.quote(p) for p in table.parts())


def _kind_of(sql: str) -> str:
    m = _KIND_RE.match(sql)
    return m.group(1) if m else "custom"
