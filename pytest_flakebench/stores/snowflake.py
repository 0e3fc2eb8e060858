"""The Snowflake results store (``snowflake-connector-python``), tables in the URL's schema.

``snowflake://user:password@account/DATABASE/SCHEMA?warehouse=WH&role=R`` (extra query
parameters go to ``snowflake.connector.connect``, e.g. ``host``/``port``/``protocol`` for a local
fakesnow server). The schema is created only by :meth:`SnowflakeStore.init_schema`
(``flakebench store init URL [--no-hybrid]``).

Bulk writes bind JSON arrays and flatten them server side
(``INSERT INTO T (…) SELECT f.value[0]::…, … FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f``),
in chunks of at most ``MAX_BIND_BYTES`` (512 KiB) of JSON per statement: Snowflake recommends at
most 1 MB of statement text, bound values included, per statement (see
``drivers/snowflake_statements``). ``executemany`` would be row by row on fakesnow and tens of
times slower.

Saves are idempotent per run id: standard Snowflake tables do not enforce primary keys, so
``save_run`` first takes the store's save lock (an UPDATE of ``STORE_META``, which locks that
table until COMMIT), then checks for the run, then writes every chunk, all in one transaction: a
second save of the same run, concurrent or later, finds it and writes nothing ("run is already
stored"). On tables that enforce the key (hybrid tables; the emulator) a duplicate-key error of a
racing save means the same.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.drivers.snowflake import (
    connect_kwargs,
    connector,
    error_code,
    open_connection,
    scrub,
    secrets_of,
)
from pytest_flakebench.errors import StoreError
from pytest_flakebench.identifiers import check_identifier
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.sql import ddl
from pytest_flakebench.stores import rows
from pytest_flakebench.stores.base import BaselineRow, RunRow
from pytest_flakebench.urls import redact_url

T = TypeVar("T")
QUERY_TAG = "flakebench:store"
_COLUMN_RE = re.compile(r"^\s+([A-Z_0-9]+)\s+(VARCHAR|FLOAT|BIGINT|INTEGER|TIMESTAMP_TZ|VARIANT)",
                        re.M)


def schema_sql(*, hybrid: bool = True) -> str:
    """The Snowflake DDL (``sql/snowflake/*.sql``); standard control tables if not ``hybrid``."""
    script = ddl("snowflake")
    return script if hybrid else script.replace("CREATE HYBRID TABLE", "CREATE TABLE")


def _column_types() -> dict[str, dict[str, str]]:
    """``{table: {column: type}}`` of the results tables, read from the shipped DDL."""
    found: dict[str, dict[str, str]] = {}
    for block in re.split(r"CREATE (?:HYBRID )?TABLE IF NOT EXISTS ", ddl("snowflake"))[1:]:
        name, _, body = block.partition("(")
        found[name.strip()] = dict(_COLUMN_RE.findall(body.split(");", 1)[0]))
    return found


def flatten_insert(table: str, columns: Sequence[str], types: dict[str, str]) -> str:
    """``INSERT … SELECT f.value[i]::TYPE … FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f``."""
    picks = []
    for i, col in enumerate(columns):
        kind = types[col]
        picks.append(f"f.value[{i}]" if kind == "VARIANT" else f"f.value[{i}]::{kind}")
    return S.BULK_INSERT.render(table=table, columns=", ".join(columns), picks=", ".join(picks))


def chunk_rows(batch: Sequence[Sequence[Any]],
               limit: int = S.MAX_BIND_BYTES) -> Iterator[str]:
    """``batch`` as JSON arrays of at most ``limit`` bytes each (UTF-8), in order.

    A single row larger than ``limit`` is an error: it could not be bound within the limit.
    """
    parts: list[str] = []
    size = 2  # the brackets
    for row in batch:
        text = json.dumps(row, separators=(",", ":"))
        n = len(text.encode("utf-8"))
        if n + 2 > limit:
            raise StoreError(f"one row of {n} bytes exceeds the {limit}-byte bind limit per "
                             "statement")
        if parts and size + 1 + n > limit:
            yield "[" + ",".join(parts) + "]"
            parts, size = [], 2
        size += n + (1 if parts else 0)
        parts.append(text)
    if parts:
        yield "[" + ",".join(parts) + "]"


_SAVE_LOCKS: dict[str, threading.Lock] = {}
_SAVE_LOCKS_GUARD = threading.Lock()


def _save_lock(store: str) -> threading.Lock:
    """One lock per store and process: saves from one process never race each other. Across
    processes, Snowflake's own lock (``SAVE_LOCK``) serialises them; the fakesnow emulator has
    no table locks and answers a racing duplicate key with HTTP 500, which the connector
    retries without end, so this lock is also what keeps emulator runs from hanging."""
    with _SAVE_LOCKS_GUARD:
        return _SAVE_LOCKS.setdefault(store, threading.Lock())


_DUPLICATE_RE = re.compile(r"duplicate key|primary key.*(already|violat)|unique.*violat", re.I)


_TYPES = _column_types()
_CODEC = rows.Codec(timestamp=rows.iso_utc, json=lambda value: value)
_INSERT_RESULT = flatten_insert("TEST_RESULTS", rows.RESULT_COLUMNS, _TYPES["TEST_RESULTS"])
_INSERT_KIND = flatten_insert("TEST_KIND_STATISTICS", rows.KIND_COLUMNS,
                              _TYPES["TEST_KIND_STATISTICS"])
_INSERT_SNAPSHOT = flatten_insert("WORKER_METRICS_SNAPSHOTS", rows.SNAPSHOT_COLUMNS,
                                  _TYPES["WORKER_METRICS_SNAPSHOTS"])
_INSERT_QUERY = flatten_insert("QUERY_EXECUTIONS", rows.QUERY_COLUMNS,
                               _TYPES["QUERY_EXECUTIONS"])


class SnowflakeStore:
    """A results store in a Snowflake schema; one connection, shared under a lock."""

    def __init__(self, url: str) -> None:
        self.redacted_url = redact_url(url)
        self._kwargs = connect_kwargs(url)
        self._secrets = secrets_of(self._kwargs)
        self._lock = threading.RLock()
        self._connection: Any = None
        self.chunks_sent: list[int] = []  # bytes bound per statement by the last save_run

    # -- plumbing ------------------------------------------------------------------------------

    def _conn(self, kwargs: dict[str, Any] | None = None) -> Any:
        conn = self._connection
        if conn is not None and not conn.is_closed():
            return conn
        try:
            conn = open_connection(dict(kwargs or self._kwargs), query_tag=QUERY_TAG,
                                   shown=self.redacted_url, secrets=self._secrets,
                                   error=StoreError)
        except StoreError as exc:
            raise StoreError(f"results store {exc}; is the account reachable?") from None
        self._connection = conn
        return conn

    def _run(self, action: str, body: Callable[[Any], T]) -> T:
        """Run ``body`` on a cursor, turning connector errors into ``StoreError``."""
        sf = connector()
        with self._lock:
            cur = self._conn().cursor()
            try:
                return body(cur)
            except sf.Error as exc:
                if error_code(exc) == "002003" or "does not exist" in str(exc):
                    raise self._not_initialised() from None
                raise StoreError(f"results store {self.redacted_url}: {action}: "
                                 f"{scrub(exc, self._secrets)} ({error_code(exc)})") from None
            finally:
                with contextlib.suppress(Exception):
                    cur.close()

    def _not_initialised(self) -> StoreError:
        return StoreError(f"results store {self.redacted_url} is not initialised: "
                          f"run `flakebench store init {self.redacted_url}` (add --no-hybrid "
                          "without hybrid tables)")

    # -- ResultStore ---------------------------------------------------------------------------

    def init_schema(self, *, hybrid: bool = True) -> None:
        """Create the URL's schema (if missing) and every table (idempotent)."""
        schema = self._kwargs.get("schema")
        if not self._kwargs.get("database") or not schema:
            raise StoreError(f"results store {self.redacted_url}: the URL must name "
                             "/DATABASE/SCHEMA")
        check_identifier(str(schema), what="schema")
        script = schema_sql(hybrid=hybrid)
        sf = connector()
        with self._lock:
            kwargs = dict(self._kwargs)
            kwargs.pop("schema")  # it may not exist yet: log in without it
            self.close()
            conn = self._conn(kwargs)
            try:
                conn.cursor().execute(S.CREATE_SCHEMA.render(schema=str(schema)))
                conn.cursor().execute(S.USE_SCHEMA.render(schema=str(schema)))
                for cur in conn.execute_string(script, remove_comments=True):
                    cur.close()
            except sf.Error as exc:
                hint = ("; use --no-hybrid on accounts without hybrid tables"
                        if "HYBRID" in str(exc).upper() else "")
                raise StoreError(f"results store {self.redacted_url}: cannot create the schema: "
                                 f"{scrub(exc, self._secrets)}{hint}") from None
            finally:
                self.close()

    def check(self) -> None:
        """Raise ``StoreError`` if the account is unreachable or the tables are missing."""

        def body(cur: Any) -> Any:
            cur.execute(S.SCHEMA_VERSION.sql)
            return cur.fetchone()

        row = self._run("cannot read the schema version", body)
        if row is None:
            raise self._not_initialised()
        if str(row[0]) != rows.SCHEMA_VERSION:
            raise StoreError(f"results store {self.redacted_url} has schema version {row[0]!r}, "
                             f"this plugin expects {rows.SCHEMA_VERSION!r}")

    def save_run(self, run: RunResult) -> None:
        """Write the run, its kinds and its snapshots in one transaction (all or nothing)."""
        results = rows.result_rows(run, _CODEC)
        kinds = rows.kind_rows(run, _CODEC)
        snapshots = rows.snapshot_rows(run, _CODEC)
        keys = [(s[0], s[1], s[2]) for s in snapshots]
        if len(set(keys)) != len(keys):
            raise StoreError(f"results store {self.redacted_url}: cannot save run {run.run_id}: "
                             "duplicate snapshot (worker, seq) keys; nothing was written")

        tag = {"QUERY_TAG": f"flakebench:run={run.run_id};store"}
        batches = ((_INSERT_RESULT, results), (_INSERT_KIND, kinds),
                   (_INSERT_SNAPSHOT, snapshots), (_INSERT_QUERY, rows.query_rows(run)))

        def body(cur: Any) -> str | None:
            def send(sql: str, params: Sequence[Any] = ()) -> None:
                cur.execute(sql, params, _statement_params=tag)

            send(S.BEGIN.sql)
            try:
                send(S.SAVE_LOCK.sql)  # held until COMMIT: saves run one at a time
                send(S.RUN_STORED.sql, (run.run_id,))
                if cur.fetchone()[0]:
                    send(S.ROLLBACK.sql)
                    return "run is already stored"
                for sql, batch in batches:
                    for chunk in chunk_rows(batch):
                        send(sql, (chunk,))
                        self.chunks_sent.append(len(chunk.encode("utf-8")))
                send(S.COMMIT.sql)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    send(S.ROLLBACK.sql)
                if _DUPLICATE_RE.search(str(exc)) and isinstance(exc, connector().Error):
                    return "run is already stored"  # a racing save won on an enforced key
                raise
            return None

        self.chunks_sent = []
        with _save_lock(self.redacted_url):
            problem = self._run(f"cannot save run {run.run_id}", body)
        if problem:
            raise StoreError(f"results store {self.redacted_url}: cannot save run "
                             f"{run.run_id}: {problem}")

    def list_runs(self, *, limit: int = 50, test: str | None = None, target: str | None = None,
                  status: str | None = None, since: float | None = None) -> list[RunRow]:
        """Newest runs first (parent rows only); ``test``/``target`` are substrings."""
        by_test, by_target, by_status, by_since = S.LIST_RUNS_FILTERS
        filters = ""
        params: list[object] = []
        if test:
            # CONTAINS(), not LIKE: the user's text may contain % or _.
            filters += by_test
            params += [test, test]
        if target:
            filters += by_target
            params.append(target)
        if status:
            filters += by_status
            params += [status.upper(), status.upper()]
        if since is not None:
            filters += by_since
            params.append(("TIMESTAMP_TZ", rows.utc_datetime(since)))
        sql = S.LIST_RUNS.render(columns=", ".join(rows.RUN_ROW_COLUMNS), filters=filters)
        params.append(limit)

        def body(cur: Any) -> list[Any]:
            cur.execute(sql, params)
            return list(cur.fetchall())

        return [rows.run_row(r) for r in self._run("cannot list runs", body)]

    def get_run(self, run_id: str) -> RunResult | None:
        """A stored run by id or unique id prefix; ``StoreError`` if the prefix is ambiguous."""

        def body(cur: Any) -> tuple[list[Any], list[Any]]:
            cur.execute(S.FIND_RUN.sql, (run_id, run_id))
            found = list(cur.fetchall())
            if not found or (len(found) > 1 and found[0][0] != run_id):
                return found, []
            cur.execute(S.RUN_SNAPSHOTS.render(columns=", ".join(rows.SNAPSHOT_READ_COLUMNS)),
                        (found[0][0],))
            return found, list(cur.fetchall())

        found, snaps = self._run(f"cannot read run {run_id}", body)
        if not found:
            return None
        if len(found) > 1 and found[0][0] != run_id:
            raise StoreError(rows.ambiguous_prefix(run_id, [str(r[0]) for r in found]))
        return rows.run_from_rows(found[0][1], snaps)

    def set_baseline(self, name: str, run_id: str) -> str:
        """Name a stored run as baseline ``name`` (replacing an earlier one of that name)."""

        def body(cur: Any) -> list[Any]:
            cur.execute(S.FIND_RUN_TEST.sql, (run_id, run_id))
            found = list(cur.fetchall())
            if len(found) == 1 or (found and found[0][0] == run_id):
                cur.execute(S.BEGIN.sql)
                cur.execute(S.DELETE_BASELINE.sql, (name,))
                cur.execute(S.INSERT_BASELINE.sql,
                            (name, found[0][0], found[0][1]))
                cur.execute(S.COMMIT.sql)
            return found

        found = self._run(f"cannot set baseline {name!r}", body)
        if not found:
            raise StoreError(f"no run {run_id!r} in {self.redacted_url}: see `flakebench runs`")
        if len(found) > 1 and found[0][0] != run_id:
            raise StoreError(rows.ambiguous_prefix(run_id, [str(r[0]) for r in found]))
        return str(found[0][0])

    def get_baseline(self, name: str) -> str | None:
        """The run id of baseline ``name``, or None."""

        def body(cur: Any) -> Any:
            cur.execute(S.GET_BASELINE.sql, (name,))
            return cur.fetchone()

        row = self._run(f"cannot read baseline {name!r}", body)
        return None if row is None else str(row[0])

    def list_baselines(self) -> list[BaselineRow]:
        """Every named baseline, by name."""

        def body(cur: Any) -> list[Any]:
            cur.execute(S.LIST_BASELINES.sql)
            return list(cur.fetchall())

        return [rows.baseline_row(r) for r in self._run("cannot list baselines", body)]

    def remove_baseline(self, name: str) -> bool:
        """Forget baseline ``name``; False if there was none."""

        def body(cur: Any) -> int:
            cur.execute(S.DELETE_BASELINE.sql, (name,))
            return int(cur.rowcount or 0)

        return bool(self._run(f"cannot remove baseline {name!r}", body))

    def close(self) -> None:
        """Close the connection; never raises."""
        with self._lock:
            conn, self._connection = self._connection, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


# -- control plane -----------------------------------------------------------------------------

_ON_CONFLICT_RE = re.compile(
    r"^INSERT INTO (\w+) \(([^)]*)\) VALUES \(((?:\s*(?:\?|'[^',]*'|-?\d+)\s*,?)*)\) "
    r"ON CONFLICT DO NOTHING$", re.S)


def _primary_keys() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for block in re.split(r"CREATE (?:HYBRID )?TABLE IF NOT EXISTS ", ddl("snowflake"))[1:]:
        name, _, body = block.partition("(")
        body = body.split(");", 1)[0]
        m = re.search(r"PRIMARY KEY \(([^)]*)\)", body)
        inline = re.search(r"^\s*(\w+)\s+\w+[^,\n]*\bPRIMARY KEY\b", body, re.M)
        if m:
            found[name.strip()] = [c.strip() for c in m.group(1).split(",")]
        elif inline:  # RUN_ID VARCHAR PRIMARY KEY
            found[name.strip()] = [inline.group(1)]
    return found


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
            ControlConnection._keys = _primary_keys()

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
            if not (ignore and _DUPLICATE_RE.search(str(exc))):
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
