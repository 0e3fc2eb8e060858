"""Row mapping shared by every results store: ``RunResult`` to table rows and back.

Pure functions, no database access. Each store supplies a :class:`Codec` saying how its driver
wants timestamps and JSON values bound (SQLite: ISO text and JSON text; PostgreSQL: ``datetime``
and ``Jsonb``), so the column lists and values are defined once. Column names are the seed's
(``TEST_RESULTS``, ``TEST_KIND_STATISTICS``, ``WORKER_METRICS_SNAPSHOTS``), see ``sql/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pytest_flakebench.errors import StoreError
from pytest_flakebench.judge.results import KindStats, RunResult, Snapshot
from pytest_flakebench.stores.base import BaselineRow, RunRow

SCHEMA_VERSION = "1"
OVERALL = "overall"

RESULT_COLUMNS: tuple[str, ...] = (
    "RUN_ID", "PARENT_RUN_ID", "WORKER_ID", "HOST", "TEST_ID", "TEST_NAME", "STATUS", "VERDICT",
    "TARGET_KIND", "TARGET", "TABLE_NAME", "MODE", "CONNECTIONS", "STARTED_AT", "ENDED_AT",
    "MEASUREMENT_S", "WARMUP_S", "TOTAL_OPS", "ERROR_COUNT", "ERROR_RATE", "QPS",
    "MIN_US", "MEAN_US", "P50_US", "P90_US", "P95_US", "P99_US", "P999_US", "MAX_US",
    "SLO_JSON", "TEMPLATE_JSON", "FINGERPRINT_JSON", "ERRORS_JSON", "MESSAGES_JSON",
    "PLUGIN_VERSION", "RESULT_JSON",
)

KIND_COLUMNS: tuple[str, ...] = (
    "RUN_ID", "KIND", "OPERATION", "OPS", "ERRORS", "ERROR_RATE", "QPS", "LATENCY_COUNT",
    "MIN_US", "MEAN_US", "P50_US", "P90_US", "P95_US", "P99_US", "P999_US", "MAX_US",
    "CLAMPED", "WARMUP_OPS", "WARMUP_ERRORS", "ERROR_CLASSES_JSON", "ERROR_SAMPLES_JSON",
    "HISTOGRAM",
)

SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "RUN_ID", "WORKER_ID", "SEQ", "ORDINAL", "TS", "TS_EPOCH", "ELAPSED_S", "PHASE", "OPS",
    "ERRORS", "IN_FLIGHT", "QPS", "P50_US", "P95_US", "P99_US", "HISTOGRAM", "ACTIVE_CONNECTIONS",
)

QUERY_COLUMNS: tuple[str, ...] = (
    "RUN_ID", "WORKER_ID", "SEQ", "KIND", "PHASE", "STARTED_AT", "LATENCY_US", "OK", "ERROR_CODE",
)

# What get_run reads back from WORKER_METRICS_SNAPSHOTS, in Snapshot field order (TS_EPOCH, not
# TS: a timestamp column rounds to microseconds and the round trip must be exact).
SNAPSHOT_READ_COLUMNS: tuple[str, ...] = (
    "WORKER_ID", "SEQ", "TS_EPOCH", "ELAPSED_S", "PHASE", "OPS", "ERRORS", "IN_FLIGHT", "QPS",
    "P50_US", "P95_US", "P99_US", "HISTOGRAM", "ACTIVE_CONNECTIONS",
)

# What list_runs reads, in RunRow field order.
RUN_ROW_COLUMNS: tuple[str, ...] = (
    "RUN_ID", "TEST_ID", "STATUS", "VERDICT", "STARTED_AT", "TARGET", "TABLE_NAME", "QPS",
    "P95_US", "ERROR_COUNT",
)

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Codec:
    """How a driver binds timestamps and JSON values."""

    timestamp: Callable[[float], Any]
    json: Callable[[Any], Any]


def iso_utc(epoch_s: float) -> str:
    """Fixed-width UTC text (``2024-11-27 03:41:00.123456+00:00``): text order is time order."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def utc_datetime(epoch_s: float) -> datetime:
    """An aware UTC ``datetime`` (what psycopg binds as ``timestamptz``)."""
    return datetime.fromtimestamp(epoch_s, UTC)


def epoch_of(value: Any) -> float:
    """Epoch seconds from what a driver returns for a timestamp column (datetime or ISO text)."""
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def json_text(value: Any) -> str:
    """Compact JSON text, as SQLite stores it."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def from_json(value: Any) -> Any:
    """A JSON column's value: psycopg has already decoded JSONB, SQLite returns text."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def insert_sql(table: str, columns: Sequence[str], placeholder: str) -> str:
    """``INSERT INTO table (cols) VALUES (…)`` with the driver's placeholder (``?`` or ``%s``)."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join([placeholder] * len(columns))})")


def test_name(run: RunResult) -> str:
    """The template's name when it has one, else the pytest node id."""
    name = run.template.get("name")
    return name if isinstance(name, str) and name else run.test


def result_rows(run: RunResult, codec: Codec) -> list[Row]:
    """The run's ``TEST_RESULTS`` rows: the parent, then one child per worker if several."""
    o = run.overall
    lat = o.latency
    parent: Row = (
        run.run_id, None, None, None, run.test, test_name(run), run.status, run.verdict,
        run.target_kind, run.target, run.table, run.mode, run.connections,
        codec.timestamp(run.started_at), codec.timestamp(run.ended_at),
        run.measurement_s, run.warmup_s, o.ops, o.errors, o.error_rate, o.qps,
        lat.min_us, lat.mean_us, lat.p50_us, lat.p90_us, lat.p95_us, lat.p99_us, lat.p999_us,
        lat.max_us,
        codec.json([c.to_dict() for c in run.slo]), codec.json(run.template),
        codec.json(run.fingerprint), codec.json(dict(o.error_classes)),
        codec.json(list(run.messages)), run.plugin_version,
        codec.json(run.to_dict(with_snapshots=False)),
    )
    rows = [parent]
    if run.workers:
        # One row per worker, even for a single one, so -n 0 and -n N store the same shape.
        for w in run.workers:
            attempts = w.ops + w.errors
            rows.append((
                f"{run.run_id}:{w.worker_id}", run.run_id, w.worker_id, w.host, run.test,
                test_name(run), w.status, None, run.target_kind, run.target, run.table, run.mode,
                w.connections, codec.timestamp(run.started_at), codec.timestamp(run.ended_at),
                run.measurement_s, run.warmup_s, w.ops, w.errors,
                w.errors / attempts if attempts else 0.0, w.qps,
                None, None, None, None, w.p95_us, None, None, None,
                None, None, None, None, None, run.plugin_version, codec.json(w.to_dict()),
            ))
    return rows


def _kind_row(run_id: str, k: KindStats, codec: Codec) -> Row:
    lat = k.latency
    return (
        run_id, k.kind, k.operation, k.ops, k.errors, k.error_rate, k.qps, lat.count,
        lat.min_us, lat.mean_us, lat.p50_us, lat.p90_us, lat.p95_us, lat.p99_us, lat.p999_us,
        lat.max_us, k.clamped, k.warmup_ops, k.warmup_errors,
        codec.json(dict(k.error_classes)), codec.json(list(k.error_samples)), k.histogram,
    )


def kind_rows(run: RunResult, codec: Codec) -> list[Row]:
    """``TEST_KIND_STATISTICS`` rows: one per kind plus ``KIND = 'overall'``."""
    # The overall row is keyed 'overall' whatever the engine called it, so SQL can find it.
    rows = [_kind_row(run.run_id, replace(run.overall, kind=OVERALL), codec)]
    rows.extend(_kind_row(run.run_id, k, codec) for k in run.kinds.values())
    return rows


def snapshot_rows(run: RunResult, codec: Codec) -> list[Row]:
    """``WORKER_METRICS_SNAPSHOTS`` rows, ``ORDINAL`` keeping the run's order."""
    return [
        (run.run_id, s.worker_id, s.seq, i, codec.timestamp(s.ts), s.ts, s.elapsed_s, s.phase,
         s.ops, s.errors, s.in_flight, s.qps, s.p50_us, s.p95_us, s.p99_us, s.histogram,
         s.active_connections)
        for i, s in enumerate(run.snapshots)
    ]


def query_rows(run: RunResult) -> list[Row]:
    """``QUERY_EXECUTIONS`` rows of the sampled operations."""
    return [(run.run_id, q.worker_id, q.seq, q.kind, q.phase, q.started_at, q.latency_us,
             1 if q.ok else 0, q.error_code) for q in run.queries]


def run_from_rows(result_json: Any, snapshots: Sequence[Row]) -> RunResult:
    """Rebuild a run from its ``RESULT_JSON`` and its snapshot rows (``SNAPSHOT_READ_COLUMNS``)."""
    data = dict(from_json(result_json))
    data["snapshots"] = [
        Snapshot(
            worker_id=str(r[0]), seq=int(r[1]), ts=float(r[2]), elapsed_s=float(r[3]),
            phase=r[4], ops=int(r[5]), errors=int(r[6]), in_flight=int(r[7]), qps=float(r[8]),
            p50_us=int(r[9]), p95_us=int(r[10]), p99_us=int(r[11]), histogram=str(r[12]),
            active_connections=int(r[13]),
        ).to_dict()
        for r in snapshots
    ]
    return RunResult.from_dict(data)


def unique_run(prefix: str, found: Sequence[Sequence[Any]]) -> bool:
    """Whether ``found`` (rows whose RUN_ID, first, is ``prefix`` or starts with it, the exact
    id ordered first) names one run: a write for that run may go ahead."""
    return bool(found) and (len(found) == 1 or found[0][0] == prefix)


def run_match(prefix: str, found: Sequence[Sequence[Any]]) -> Sequence[Any] | None:
    """The row of the run ``prefix`` names (see ``unique_run``); None when there is none.
    Raises ``StoreError`` when the prefix matches several runs."""
    if not found:
        return None
    if not unique_run(prefix, found):
        ids = [str(r[0]) for r in found]
        shown = ", ".join(ids[:2]) + (", …" if len(ids) > 2 else "")
        raise StoreError(f"run id prefix {prefix!r} is ambiguous ({shown}): give more characters")
    return found[0]


def check_schema_version(found: object, store: str) -> None:
    """Raise ``StoreError`` naming the store (redacted) when the schema version it holds
    (``found``, None when none) is not the one this plugin writes."""
    if found is None or str(found) != SCHEMA_VERSION:
        raise StoreError(f"results store {store} has schema version {found!r}, this plugin "
                         f"expects {SCHEMA_VERSION!r}")


def one_run(prefix: str, found: Sequence[Sequence[Any]], store: str) -> Sequence[Any]:
    """``run_match``, and a ``StoreError`` naming the store (redacted) when there is none."""
    row = run_match(prefix, found)
    if row is None:
        raise StoreError(no_run(prefix, store))
    return row


def no_run(run_id: str, store: str) -> str:
    """The error text for a run id no stored run has."""
    return f"no run {run_id!r} in {store}: see `flakebench runs`"


def run_filters(*, test: str | None, target: str | None, status: str | None,
                since: float | None, mark: str, contains: str,
                codec: Codec) -> tuple[str, list[object]]:
    """The ``AND ...`` conditions of ``list_runs`` and their parameters.

    ``contains`` is the dialect's substring function (``instr``/``strpos``): the user's text may
    hold ``%`` or ``_``, which ``LIKE`` would treat as wildcards.
    """
    sql = ""
    params: list[object] = []
    if test:
        sql += f" AND ({contains}(TEST_ID, {mark}) > 0 OR {contains}(TEST_NAME, {mark}) > 0)"
        params += [test, test]
    if target:
        sql += f" AND {contains}(TARGET, {mark}) > 0"
        params.append(target)
    if status:
        sql += f" AND (upper(STATUS) = {mark} OR upper(VERDICT) = {mark})"
        params += [status.upper(), status.upper()]
    if since is not None:
        sql += f" AND STARTED_AT >= {mark}"
        params.append(codec.timestamp(since))
    return sql, params


def baseline_row(row: Row) -> BaselineRow:
    """A ``flakebench baseline list`` line from ``NAME, RUN_ID, TEST_ID, CREATED_AT``."""
    return BaselineRow(name=str(row[0]), run_id=str(row[1]), test=str(row[2]),
                       created_at=epoch_of(row[3]))


def run_row(row: Row) -> RunRow:
    """A ``flakebench runs`` line from a row of ``RUN_ROW_COLUMNS``."""
    return RunRow(
        run_id=str(row[0]), test=str(row[1]), status=str(row[2]), verdict=str(row[3] or ""),
        started_at=epoch_of(row[4]), target=str(row[5] or ""), table=str(row[6] or ""),
        qps=float(row[7] or 0.0), p95_us=int(row[8] or 0), errors=int(row[9] or 0),
    )
