"""PostgreSQL server statistics around a run: snapshots and their deltas.

Read from the evidence connection (never a benchmark connection, never in the timed region):
``pg_stat_statements`` for the run's own statements (matched by their exact text, which carries
the ``/* flakebench:kind */`` comment), ``pg_stat_user_tables`` for the table and
``pg_stat_database`` for the database. Counters only grow, so the run's share is after − before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENABLE_HINT = ("pg_stat_statements is not available on this server, so per-statement server "
               "figures (calls, exec time, blocks) and the calls self-check are left out; to "
               "enable it: shared_preload_libraries = 'pg_stat_statements' in postgresql.conf, "
               "restart, then CREATE EXTENSION pg_stat_statements; in the target database")

STATEMENT_COLUMNS = ("calls", "total_exec_time", "rows", "shared_blks_hit", "shared_blks_read",
                     "temp_blks_read", "temp_blks_written")
TABLE_COLUMNS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins",
                 "n_tup_upd", "n_tup_hot_upd", "n_tup_del")
DATABASE_COLUMNS = ("xact_commit", "xact_rollback", "blks_read", "blks_hit", "tup_returned",
                    "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "deadlocks",
                    "temp_files", "temp_bytes")


def pgss_missing(conn: Any) -> str | None:
    """None when ``pg_stat_statements`` can be read here; else why not (for the notes)."""
    try:
        row = conn.execute("SELECT 1 FROM pg_catalog.pg_extension "
                           "WHERE extname = 'pg_stat_statements'").fetchone()
        if row is None:
            return "the extension is not created in this database"
        conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1").fetchone()
    except Exception as exc:  # not preloaded: "must be loaded via shared_preload_libraries"
        text = str(exc).strip().splitlines()
        return text[0] if text else type(exc).__name__
    return None


def statements(conn: Any, texts: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """``{kind: counters}`` for the statements whose text is ``texts[kind]`` (summed over
    users and top-level flags; a kind never seen is absent)."""
    if not texts:
        return {}
    cols = ", ".join(f"sum({c})::float8" for c in STATEMENT_COLUMNS)
    rows = conn.execute(
        f"SELECT query, {cols} FROM pg_stat_statements "
        f"WHERE dbid = (SELECT oid FROM pg_catalog.pg_database "
        f"WHERE datname = current_database()) AND query = ANY(%s) GROUP BY query",
        (sorted(set(texts.values())),)).fetchall()
    by_text = {r[0]: dict(zip(STATEMENT_COLUMNS, (float(v or 0) for v in r[1:]), strict=True))
               for r in rows}
    return {kind: by_text[text] for kind, text in texts.items() if text in by_text}


def table(conn: Any, quoted_name: str) -> dict[str, float]:
    """``pg_stat_user_tables`` counters of one table (``"schema"."name"``)."""
    conn.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
    row = conn.execute(
        f"SELECT {', '.join(TABLE_COLUMNS)} FROM pg_catalog.pg_stat_user_tables "
        f"WHERE relid = pg_catalog.to_regclass(%s)", (quoted_name,)).fetchone()
    return {} if row is None else {c: float(v or 0) for c, v in zip(TABLE_COLUMNS, row,
                                                                     strict=True)}


def database(conn: Any) -> dict[str, float]:
    """``pg_stat_database`` counters of the current database."""
    conn.execute("SELECT pg_catalog.pg_stat_clear_snapshot()")
    row = conn.execute(
        f"SELECT {', '.join(DATABASE_COLUMNS)} FROM pg_catalog.pg_stat_database "
        f"WHERE datname = current_database()").fetchone()
    return {} if row is None else {c: float(v or 0) for c, v in zip(DATABASE_COLUMNS, row,
                                                                     strict=True)}


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """``after − before`` per counter (a counter missing before counts from 0)."""
    return {k: after[k] - before.get(k, 0.0) for k in after}


def statement_figures(before: Mapping[str, Mapping[str, float]],
                      after: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, Any]]:
    """Per kind: calls, total/mean exec time (ms), rows, shared/temp blocks, over the window."""
    found: dict[str, dict[str, Any]] = {}
    for kind, now in after.items():
        d = delta(before.get(kind, {}), now)
        calls = int(d.get("calls", 0))
        total = d.get("total_exec_time", 0.0)
        found[kind] = {
            "calls": calls, "total_exec_ms": round(total, 3),
            "mean_exec_ms": round(total / calls, 4) if calls else 0.0,
            "rows": int(d.get("rows", 0)),
            "shared_blks_hit": int(d.get("shared_blks_hit", 0)),
            "shared_blks_read": int(d.get("shared_blks_read", 0)),
            "temp_blks_read": int(d.get("temp_blks_read", 0)),
            "temp_blks_written": int(d.get("temp_blks_written", 0)),
        }
    return found


def backends_left(conn: Any, app_name: str) -> int:
    """How many backends other than this one carry ``application_name`` = ``app_name``."""
    row = conn.execute("SELECT count(*) FROM pg_catalog.pg_stat_activity "
                       "WHERE application_name = %s AND pid <> pg_backend_pid()",
                       (app_name,)).fetchone()
    return int(row[0]) if row else 0


__all__ = [
    "ENABLE_HINT",
    "backends_left",
    "database",
    "delta",
    "pgss_missing",
    "statement_figures",
    "statements",
    "table",
]
