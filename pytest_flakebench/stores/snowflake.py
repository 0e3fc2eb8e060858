"""The Snowflake results store (``snowflake-connector-python``), tables in the URL's schema.

``snowflake://user:password@account/DATABASE/SCHEMA?warehouse=WH&role=R`` (extra query
parameters go to ``snowflake.connector.connect``, e.g. ``host``/``port``/``protocol`` for a local
fakesnow server). The schema is created only by :meth:`SnowflakeStore.init_schema`
(``flakebench store init URL [--no-hybrid]``).

Bulk writes bind JSON arrays and flatten them server side (``snowflake_bulk``); the schema's
DDL is read by ``snowflake_schema``; the control plane's connection is ``snowflake_control``.

Saves are idempotent per run id: standard Snowflake tables do not enforce primary keys, so
``save_run`` first takes the store's save lock (an UPDATE of ``STORE_META``, which locks that
table until COMMIT), then checks for the run, then writes every chunk, all in one transaction: a
second save of the same run, concurrent or later, finds it and writes nothing ("run is already
stored"). On tables that enforce the key (hybrid tables; the emulator) a duplicate-key error of a
racing save means the same.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.drivers.snowflake_connect import (
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
from pytest_flakebench.stores import rows
from pytest_flakebench.stores.base import BaselineRow, RunRow
from pytest_flakebench.stores.snowflake_bulk import chunk_rows, flatten_insert
from pytest_flakebench.stores.snowflake_schema import DUPLICATE_RE, column_types, schema_sql
from pytest_flakebench.urls import redact_url

T = TypeVar("T")
QUERY_TAG = "flakebench:store"


_SAVE_LOCKS: dict[str, threading.Lock] = {}
_SAVE_LOCKS_GUARD = threading.Lock()


def _save_lock(store: str) -> threading.Lock:
    """One lock per store and process: saves from one process never race each other. Across
    processes, Snowflake's own lock (``SAVE_LOCK``) serialises them; the fakesnow emulator has
    no table locks and answers a racing duplicate key with HTTP 500, which the connector
    retries without end, so this lock is also what keeps emulator runs from hanging."""
    with _SAVE_LOCKS_GUARD:
        return _SAVE_LOCKS.setdefault(store, threading.Lock())


_TYPES = column_types()
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

    placeholder = "?"
    table_prefix = ""

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

    def with_cursor(self, action: str, body: Callable[[Any], T], *, atomic: bool = False) -> T:
        """``body(cursor)`` on the shared connection, between ``BEGIN`` and ``COMMIT`` if
        ``atomic``; connector errors become ``StoreError``."""

        def inner(cur: Any) -> T:
            if not atomic:
                return body(cur)
            cur.execute(S.BEGIN.sql)
            try:
                out = body(cur)
                cur.execute(S.COMMIT.sql)
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute(S.ROLLBACK.sql)
                raise
            return out

        return self._run(action, inner)

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
        rows.check_schema_version(row[0], self.redacted_url)

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
                if DUPLICATE_RE.search(str(exc)) and isinstance(exc, connector().Error):
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
            if not rows.unique_run(run_id, found):
                return found, []
            cur.execute(S.RUN_SNAPSHOTS.render(columns=", ".join(rows.SNAPSHOT_READ_COLUMNS)),
                        (found[0][0],))
            return found, list(cur.fetchall())

        found, snaps = self._run(f"cannot read run {run_id}", body)
        row = rows.run_match(run_id, found)
        return None if row is None else rows.run_from_rows(row[1], snaps)

    def set_baseline(self, name: str, run_id: str) -> str:
        """Name a stored run as baseline ``name`` (replacing an earlier one of that name)."""

        def body(cur: Any) -> list[Any]:
            cur.execute(S.FIND_RUN_TEST.sql, (run_id, run_id))
            found = list(cur.fetchall())
            if rows.unique_run(run_id, found):
                cur.execute(S.BEGIN.sql)
                cur.execute(S.DELETE_BASELINE.sql, (name,))
                cur.execute(S.INSERT_BASELINE.sql,
                            (name, found[0][0], found[0][1]))
                cur.execute(S.COMMIT.sql)
            return found

        found = self._run(f"cannot set baseline {name!r}", body)
        return str(rows.one_run(run_id, found, self.redacted_url)[0])

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
