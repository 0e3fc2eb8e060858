"""Preflight plans: each kind's statement explained with a representative parameter.

PostgreSQL: ``EXPLAIN (FORMAT JSON)`` of the statement with the parameters the first benchmark
thread would draw (bound server side, so the planner sees typed values: the plan a custom plan of
the prepared statement gets). SQLite: ``EXPLAIN QUERY PLAN``. Snowflake: ``EXPLAIN USING JSON``
(a compile, never executed). None of them runs the statement, so a write kind changes nothing.
A statement the server cannot explain gets ``{"error": ...}`` and the run goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_flakebench.evidence.plan_shape import (
    plan_entry,
    postgres_nodes,
    snowflake_nodes,
    sqlite_nodes,
)

Statement = tuple[str, Sequence[object]]  # SQL in the driver's paramstyle, its parameters


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def explain_postgres(conn: Any, statements: Mapping[str, Statement]) -> dict[str, Any]:
    """``{kind: plan entry}`` from a psycopg connection (autocommit)."""
    found: dict[str, Any] = {}
    for kind, (sql, params) in statements.items():
        try:
            with conn.cursor() as cur:
                cur.execute("EXPLAIN (FORMAT JSON) " + sql, tuple(params))
                row = cur.fetchone()
            raw = row[0] if row else []
            found[kind] = plan_entry(postgres_nodes(raw), "EXPLAIN (FORMAT JSON)",
                                     raw=json.dumps(raw))
        except Exception as exc:  # a plan is evidence, never a reason to stop the run
            found[kind] = {"error": _first_line(exc)}
    return found


def explain_sqlite(conn: Any, statements: Mapping[str, Statement]) -> dict[str, Any]:
    """``{kind: plan entry}`` from a ``sqlite3`` connection."""
    found: dict[str, Any] = {}
    for kind, (sql, params) in statements.items():
        try:
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, tuple(params)).fetchall()
            found[kind] = plan_entry(sqlite_nodes(rows), "EXPLAIN QUERY PLAN",
                                     raw="\n".join(str(r[-1]) for r in rows))
        except Exception as exc:
            found[kind] = {"error": _first_line(exc)}
    return found


def explain_snowflake(conn: Any, statements: Mapping[str, Statement]) -> dict[str, Any]:
    """``{kind: plan entry}`` from a Snowflake connection (``EXPLAIN USING JSON``)."""
    found: dict[str, Any] = {}
    for kind, (sql, params) in statements.items():
        cur = conn.cursor()
        try:
            cur.execute("EXPLAIN USING JSON " + sql, tuple(params))
            row = cur.fetchone()
            raw = row[0] if row else "{}"
            found[kind] = plan_entry(snowflake_nodes(raw), "EXPLAIN USING JSON",
                                     raw=raw if isinstance(raw, str) else json.dumps(raw))
        except Exception as exc:
            found[kind] = {"error": _first_line(exc)}
        finally:
            cur.close()
    return found


__all__ = ["Statement", "explain_postgres", "explain_snowflake", "explain_sqlite"]
