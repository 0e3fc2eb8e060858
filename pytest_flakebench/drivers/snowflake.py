"""Snowflake driver (``snowflake-connector-python``, the ``snowflake`` extra), qmark binds.

URL: ``snowflake://user:password@account/database/schema?warehouse=WH&role=R``; every other query
parameter is passed to ``snowflake.connector.connect`` as a keyword (``true``/``false`` and
integers converted), so a local emulator is reached with
``?host=127.0.0.1&port=8765&protocol=http``.

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
from urllib.parse import parse_qsl, unquote, urlsplit

from pytest_flakebench.drivers.base import Dialect, ErrorClass
from pytest_flakebench.errors import ConfigError, TargetError
from pytest_flakebench.identifiers import TableName, quote_ident
from pytest_flakebench.profile import Column, TableInfo, TypeClass
from pytest_flakebench.sqltext import count_placeholders
from pytest_flakebench.urls import redact_url

INSTALL_HINT = ("snowflake:// needs snowflake-connector-python: "
                "pip install 'pytest-flakebench[snowflake]'")
LOGIN_TIMEOUT_S = 15
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


def connector() -> Any:
    """``snowflake.connector``, imported on first use; ``ConfigError`` with the install hint."""
    try:
        import snowflake.connector
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return snowflake.connector


def _convert(value: str) -> object:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def connect_kwargs(url: str, password: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``snowflake.connector.connect`` from a ``snowflake://`` URL.

    ``password`` is used when the URL has none (a stored connection, or an env variable).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"{redact_url(url)}: not a valid snowflake:// URL") from None
    netloc = parts.netloc
    userinfo, _, account = netloc.rpartition("@")
    user, _, raw_pw = userinfo.partition(":")
    if not account or not user:
        raise ConfigError(
            f"{redact_url(url)}: expected snowflake://user[:password]@account/database/schema"
            "?warehouse=WH&role=ROLE"
        )
    kwargs: dict[str, Any] = {"user": unquote(user), "account": unquote(account)}
    secret = unquote(raw_pw) if raw_pw else password
    if secret:
        kwargs["password"] = secret
    path = [unquote(p) for p in parts.path.split("/") if p]
    if len(path) > 2:
        raise ConfigError(f"{redact_url(url)}: the path is /database/schema, got {len(path)} "
                          "parts")
    if path:
        kwargs["database"] = path[0]
    if len(path) > 1:
        kwargs["schema"] = path[1]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        kwargs[key] = _convert(value)
    kwargs.setdefault("login_timeout", LOGIN_TIMEOUT_S)
    return kwargs


def secrets_of(kwargs: dict[str, Any]) -> list[str]:
    """The secret values among connect kwargs, longest first, to scrub from messages."""
    names = ("password", "token", "passcode", "private_key_file_pwd")
    return sorted({str(kwargs[n]) for n in names if kwargs.get(n)}, key=len, reverse=True)


def open_connection(kwargs: dict[str, Any], *, query_tag: str, shown: str,
                    secrets: Sequence[str], error: type[Exception] = TargetError) -> Any:
    """One qmark connection with ``QUERY_TAG`` set at login; secret-free errors."""
    sf = connector()
    params = {"QUERY_TAG": query_tag, "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
    try:
        return sf.connect(**kwargs, paramstyle="qmark", session_parameters=params)
    except sf.Error as exc:
        reason = scrub(exc, secrets)
    raise error(f"cannot connect to {shown}: {reason}\n  check account, user, password "
                "(from the URL or a stored connection) and the network")


def scrub(exc: BaseException | str, secrets: Sequence[str]) -> str:
    """The first line of a message with every secret replaced by ``***``."""
    text = str(getattr(exc, "msg", None) or exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def error_code(exc: BaseException) -> str:
    """Snowflake's six-digit error code (``002003``), else the SQLSTATE or class name."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return f"{errno:06d}"
    return str(getattr(exc, "sqlstate", None) or type(exc).__name__)


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


class SnowflakeConnection:
    """One benchmark connection with one reused cursor."""

    def __init__(self, driver: SnowflakeDriver) -> None:
        self._driver = driver
        self._tags = driver._statement_tags
        self._writes = driver._writes
        self._conn = driver._open()
        self._cur = self._conn.cursor()

    def execute(self, sql: str, params: Sequence[object]) -> int:
        """Execute ``sql`` (``?`` style), fetch every row, return rows fetched or affected."""
        cur = self._cur
        cur.execute(sql, params, _statement_params=self._tags.get(sql))
        if sql in self._writes:
            cur.fetchall()
            return int(cur.rowcount or 0)
        return len(cur.fetchall())

    @property
    def raw(self) -> Any:
        """The underlying ``SnowflakeConnection``, handed to Python operations."""
        return self._conn

    @property
    def broken(self) -> bool:
        """True once the connection is closed or lost."""
        return bool(self._conn.is_closed())

    def reconnect(self) -> None:
        """Replace the connection; raise ``TargetError`` if the account is unreachable."""
        self.close()
        self._conn = self._driver._open()
        self._cur = self._conn.cursor()

    def close(self) -> None:
        """Close the connection; never raises."""
        with contextlib.suppress(Exception):
            self._conn.close()


class SnowflakeDriver:
    """A Snowflake table under test (standard, hybrid, interactive or dynamic)."""

    dialect: Dialect = "snowflake"
    paramstyle: Literal["format", "qmark"] = "qmark"

    def __init__(self, url: str, *, password: str | None = None,
                 table_type: str = "standard") -> None:
        self.redacted_url = redact_url(url)
        self._kwargs = connect_kwargs(url, password)
        self._secrets = secrets_of(self._kwargs)
        self.table_type = table_type
        self.run_tag = uuid.uuid4().hex[:16]
        self._statement_tags: dict[str, dict[str, str]] = {}
        self._writes: set[str] = set()
        self._meta = self._open()

    def tag_run(self, run_id: str) -> None:
        """Use ``run_id`` in every query tag (call before :meth:`connect`)."""
        self.run_tag = run_id
        for sql, params in self._statement_tags.items():
            params["QUERY_TAG"] = self._tag(_kind_of(sql))

    def _tag(self, kind: str | None = None) -> str:
        return f"flakebench:run={self.run_tag}" + (f";kind={kind}" if kind else "")

    def _open(self) -> Any:
        return open_connection(dict(self._kwargs), query_tag=self._tag(),
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
        return f"Snowflake {self._query('SELECT CURRENT_VERSION()')[0][0]}"

    def server_settings(self) -> dict[str, str]:
        """Warehouse, its size and cluster counts (when visible), and the declared table type."""
        found = {"table_type": self.table_type}
        warehouse = self._kwargs.get("warehouse")
        if warehouse:
            found["warehouse"] = str(warehouse)
            with contextlib.suppress(TargetError, IndexError):
                cur = self._meta.cursor()
                cur.execute("SHOW WAREHOUSES LIKE ?", (str(warehouse),))
                names = [d[0].lower() for d in cur.description or ()]
                row = cur.fetchall()[0]
                for key in ("size", "min_cluster_count", "max_cluster_count", "scaling_policy"):
                    if key in names:
                        found[key] = str(row[names.index(key)])
        return found

    def _current(self) -> tuple[str, str | None]:
        db, schema = self._query("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()")[0]
        if not db:
            raise TargetError(f"{self.redacted_url} names no database: use "
                              "snowflake://user@account/DATABASE/SCHEMA")
        return str(db), schema

    def describe_table(self, table: TableName) -> TableInfo:
        """Columns and primary key, spelled as the catalog spells them (usually upper case)."""
        current_db, current_schema = self._current()
        db = table.database or current_db
        schema = table.schema or current_schema
        if schema is None:
            raise TargetError(f"table '{table}': {self.redacted_url} has no current schema: "
                              "write 'schema.table' or put the schema in the URL")
        info_schema = f"{quote_ident(db)}.INFORMATION_SCHEMA"
        found = self._query(
            f"SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM {info_schema}.TABLES "
            "WHERE UPPER(TABLE_SCHEMA) = UPPER(?) AND UPPER(TABLE_NAME) = UPPER(?) "
            "ORDER BY (TABLE_NAME = ?) DESC LIMIT 1", (schema, table.name, table.name))
        if not found:
            names = [r[0] for r in self._query(
                f"SELECT TABLE_NAME FROM {info_schema}.TABLES WHERE UPPER(TABLE_SCHEMA) = "
                "UPPER(?) ORDER BY TABLE_NAME LIMIT 20", (schema,))]
            listed = f"; tables in {schema}: {', '.join(names)}" if names else \
                f"; schema {schema} has no tables or does not exist"
            raise TargetError(f"table '{table}' not found in {self.redacted_url}{listed}")
        cat_schema, cat_name, kind = (str(v) for v in found[0])
        columns = tuple(
            Column(name=str(name), type_name=str(dtype), type_class=type_class_of(dtype, scale),
                   nullable=str(nullable).upper() == "YES", has_default=default is not None,
                   max_length=int(length) if length and str(dtype).upper() in
                   ("TEXT", "VARCHAR") and int(length) < 16_777_216 else None)
            for name, dtype, nullable, default, length, scale in self._query(
                f"SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, "
                f"CHARACTER_MAXIMUM_LENGTH, NUMERIC_SCALE FROM {info_schema}.COLUMNS "
                "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (cat_schema, cat_name))
        )
        full = TableName(name=cat_name, schema=cat_schema, database=db)
        pk_rows = self._query(f"SHOW PRIMARY KEYS IN TABLE {full.quoted()}")
        pk = tuple(str(r[4]) for r in sorted(pk_rows, key=lambda r: int(r[5])))
        return TableInfo(table=TableName(name=cat_name, schema=cat_schema,
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
        table = info.table.quoted()
        if col.type_class == "int":
            q = quote_ident(col.name)
            lo, hi, count = self._query(f"SELECT MIN({q}), MAX({q}), COUNT(*) FROM {table}")[0]
            return (int(lo) if lo is not None else None, int(hi) if hi is not None else None,
                    int(count))
        return None, None, int(self._query(f"SELECT COUNT(*) FROM {table}")[0][0])

    def sample_column(self, info: TableInfo, column: str, limit: int) -> list[object]:
        """Up to ``limit`` distinct non-null values of ``column``, in random order."""
        col = info.require_column(column)
        q = quote_ident(col.name)
        found = self._query(f"SELECT v FROM (SELECT DISTINCT {q} AS v FROM {info.table.quoted()} "
                            f"WHERE {q} IS NOT NULL LIMIT {int(limit) * 4}) s ORDER BY RANDOM()")
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


def _kind_of(sql: str) -> str:
    m = _KIND_RE.match(sql)
    return m.group(1) if m else "custom"
