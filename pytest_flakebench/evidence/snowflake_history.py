"""Snowflake: the run's queries from ``INFORMATION_SCHEMA.QUERY_HISTORY``, by query tag.

Every benchmark statement carries ``QUERY_TAG = 'flakebench:run=<run id>;kind=<kind>'``, so the
run's own queries are found by tag and summed per kind. The columns are read by name from
``SELECT *`` so an account (or an emulator) without one of them still yields the others; the
columns read are listed in :data:`COLUMNS` (and in the README, against Snowflake's reference).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# QUERY_HISTORY column -> what it feeds (milliseconds for the *_TIME columns)
COLUMNS: dict[str, str] = {
    "QUERY_TAG": "which run and kind the query belongs to",
    "EXECUTION_STATUS": "successful queries only (SUCCESS)",
    "QUERY_TYPE": "SELECT vs DML, for the result-cache share",
    "TOTAL_ELAPSED_TIME": "server elapsed time",
    "COMPILATION_TIME": "compilation time",
    "EXECUTION_TIME": "execution time",
    "QUEUED_PROVISIONING_TIME": "queued time (warehouse provisioning)",
    "QUEUED_REPAIR_TIME": "queued time (warehouse repair)",
    "QUEUED_OVERLOAD_TIME": "queued time (warehouse overloaded)",
    "BYTES_SCANNED": "bytes scanned",
    "PARTITIONS_SCANNED": "partitions scanned",
    "PARTITIONS_TOTAL": "partitions in the scanned tables",
    "WAREHOUSE_SIZE": "no warehouse and no bytes scanned: a reused (cached) result",
}
RESULT_LIMIT = 10_000
_KIND = re.compile(r";kind=([A-Za-z0-9_]+)")


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind: queries, mean compilation/execution/queued/elapsed ms, bytes and partitions
    scanned, result-cache share (estimated; see :data:`COLUMNS`)."""
    acc: dict[str, dict[str, float]] = {}
    for row in rows:
        if str(row.get("EXECUTION_STATUS", "SUCCESS")).upper() != "SUCCESS":
            continue
        m = _KIND.search(str(row.get("QUERY_TAG") or ""))
        kind = m.group(1) if m else "other"
        a = acc.setdefault(kind, {})

        def add(key: str, value: Any, a: dict[str, float] = a) -> None:
            a[key] = a.get(key, 0.0) + float(value or 0)

        add("queries", 1)
        for col in ("TOTAL_ELAPSED_TIME", "COMPILATION_TIME", "EXECUTION_TIME",
                    "BYTES_SCANNED", "PARTITIONS_SCANNED", "PARTITIONS_TOTAL"):
            if col in row:
                add(col, row[col])
        add("QUEUED", sum(float(row.get(c) or 0) for c in (
            "QUEUED_PROVISIONING_TIME", "QUEUED_REPAIR_TIME", "QUEUED_OVERLOAD_TIME")))
        reused = (str(row.get("QUERY_TYPE", "")).upper() == "SELECT"
                  and not row.get("WAREHOUSE_SIZE") and not float(row.get("BYTES_SCANNED") or 0))
        add("reused", 1 if reused else 0)
    found: dict[str, dict[str, Any]] = {}
    for kind, a in acc.items():
        n = a["queries"]
        found[kind] = {
            "queries": int(n),
            "mean_elapsed_ms": round(a.get("TOTAL_ELAPSED_TIME", 0.0) / n, 3),
            "mean_compilation_ms": round(a.get("COMPILATION_TIME", 0.0) / n, 3),
            "mean_execution_ms": round(a.get("EXECUTION_TIME", 0.0) / n, 3),
            "mean_queued_ms": round(a.get("QUEUED", 0.0) / n, 3),
            "bytes_scanned": int(a.get("BYTES_SCANNED", 0)),
            "partitions_scanned": int(a.get("PARTITIONS_SCANNED", 0)),
            "partitions_total": int(a.get("PARTITIONS_TOTAL", 0)),
            "result_cache_share": round(a.get("reused", 0.0) / n, 4),
        }
    return found


def query_history(conn: Any, run_id: str, since: float) -> tuple[dict[str, Any], str | None]:
    """``(per-kind figures, note)`` for the run's tagged queries ended after ``since``."""
    sql = ("SELECT * FROM TABLE(INFORMATION_SCHEMA.QUERY_HISTORY("
           "END_TIME_RANGE_START => TO_TIMESTAMP_LTZ(?), RESULT_LIMIT => ?)) "
           "WHERE QUERY_TAG LIKE ?")
    cur = conn.cursor()
    try:
        cur.execute(sql, (int(since) - 60, RESULT_LIMIT, f"flakebench:run={run_id};kind=%"))
        names = [str(d[0]).upper() for d in cur.description or ()]
        rows = [dict(zip(names, r, strict=False)) for r in cur.fetchall()]
    except Exception as exc:  # an emulator without QUERY_HISTORY, or no privilege
        text = str(getattr(exc, "msg", None) or exc).strip()
        return {}, ("QUERY_HISTORY not read (server figures left out): "
                    + (text.splitlines()[0] if text else type(exc).__name__))
    finally:
        cur.close()
    note = None
    if len(rows) >= RESULT_LIMIT:
        note = f"QUERY_HISTORY returned its limit of {RESULT_LIMIT:,} rows: figures are partial"
    missing = sorted(c for c in COLUMNS if rows and c not in rows[0])
    if missing:
        note = (note + "; " if note else "") + f"QUERY_HISTORY lacks {', '.join(missing)}"
    return {"kinds": summarize(rows), "columns": sorted(c for c in COLUMNS
                                                       if not rows or c in rows[0])}, note


__all__ = ["COLUMNS", "query_history", "summarize"]
