"""Every statement the Snowflake code sends parses with sqlglot's Snowflake dialect; binds (``?``)
appear only where Snowflake takes them (never in SHOW, DESCRIBE, USE or ALTER SESSION)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.sql import ddl

sqlglot = pytest.importorskip("sqlglot")
exp = sqlglot.exp

ROOT = Path(__file__).resolve().parents[2] / "pytest_flakebench"
# Rendered slots: always a quoted identifier, a column list or a string literal.
SLOTS = {"pattern": "'BENCH_WH'", "database": '"BENCHDB"', "table": '"BENCHDB"."APP"."ORDERS"',
         "column": '"ID"', "limit": "400", "schema": "FLAKEBENCH", "tag": "'flakebench:run=ab12'",
         "columns": "RUN_ID, TEST_ID", "picks": "f.value[0]::VARCHAR, f.value[1]::VARCHAR",
         "filters": "".join(S.LIST_RUNS_FILTERS), "sets": "STATUS = ?, UPDATED_AT = ?"}
NO_BINDS = (exp.Show, exp.Describe, exp.Use, exp.Alter)


def parse(sql: str) -> Any:
    tree = sqlglot.parse_one(sql, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
    assert not isinstance(tree, exp.Command), f"sqlglot fell back to a raw command: {sql}"
    return tree


@pytest.mark.parametrize("stmt", S.all_statements(), ids=lambda s: s.name)
def test_statement_parses_and_binds_only_values(stmt: S.Statement) -> None:
    slots = {k: v for k, v in SLOTS.items() if "{" + k + "}" in stmt.sql}
    sql = stmt.render(**slots)
    tree = parse(sql)
    binds = list(tree.find_all(exp.Placeholder))
    if isinstance(tree, NO_BINDS):
        assert not binds, f"a bind in {type(tree).__name__}: {sql}"
    assert len(binds) == sql.count("?")
    assert stmt.needs


def test_the_old_show_with_a_bind_is_caught() -> None:
    """The check that guards the list: ``SHOW WAREHOUSES LIKE ?`` has a bind in a SHOW."""
    tree = parse("SHOW WAREHOUSES LIKE ?")
    assert isinstance(tree, exp.Show)
    assert list(tree.find_all(exp.Placeholder))


def ddl_statements() -> list[str]:
    text = "\n".join(line.split("--", 1)[0] for line in ddl("snowflake").splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def test_ddl_parses() -> None:
    found = ddl_statements()
    assert len(found) >= 10
    for sql in found:
        # sqlglot does not know HYBRID: the rest of the CREATE must parse as a table.
        tree = parse(sql.replace("CREATE HYBRID TABLE", "CREATE TABLE"))
        assert not list(tree.find_all(exp.Placeholder))


def test_bulk_inserts_bind_one_json_array() -> None:
    from pytest_flakebench.stores import snowflake as store

    for sql in (store._INSERT_RESULT, store._INSERT_KIND, store._INSERT_SNAPSHOT,
                store._INSERT_QUERY):
        tree = parse(sql)
        assert isinstance(tree, exp.Insert)
        assert len(list(tree.find_all(exp.Placeholder))) == 1


def _template_re(sql: str) -> re.Pattern[str]:
    assign = r"[A-Z_]+ = (?:\?|[A-Z_]+ \+ 1)"
    pattern = re.escape(sql).replace(re.escape("{sets}"), f"{assign}(?:, {assign})*")
    return re.compile(pattern + r"\Z")


class _Cursor:
    rowcount = 0

    def __init__(self, sent: list[str]) -> None:
        self.sent = sent

    def execute(self, sql: str, params: Any = ()) -> None:
        self.sent.append(sql)

    def fetchall(self) -> list[Any]:
        return []


class _Conn:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self.sent)

    def close(self) -> None:
        pass


def test_control_plane_sends_only_listed_statements() -> None:
    """Drive every ControlPlane call through the Snowflake adaptation and match what is sent."""
    from pytest_flakebench.control.plane import ControlPlane, PoolCache
    from pytest_flakebench.stores.backend import Backend
    from pytest_flakebench.stores.connections import Connections
    from pytest_flakebench.stores.snowflake_control import ControlConnection

    raw = _Conn()

    class Recording(Backend):
        dialect = "snowflake"

        def connect(self) -> Any:
            return ControlConnection(raw)

    plane = ControlPlane(Connections(Recording("snowflake://u@acct/DB/SC"), role="control"))
    plane.publish_benchmarks("s", ["t"])
    plane.benchmarks("s")
    plane.create_run(run_id="r", session_id="s", test_id="t", participants=["gw0"])
    plane.find_run("s", "t")
    plane.get_run("r")
    plane.claim_leader("r", "gw0")
    plane.set_status("r", "RUNNING", phase="MEASUREMENT", start_time=1.0)
    plane.append_event("r", 1, "START", {})
    plane.events_after("r", 0, "gw0")
    plane.mark_applied("r", 1, "gw0", 1.0, 2.0)
    plane.lags_ms("r")
    plane.join("r", "gw0", "host", "READY", template_json="{}")
    plane.heartbeat("r", "gw0", status="RUNNING", ops=3, snapshot_json="{}")
    plane.heartbeats("r")
    pools = PoolCache(plane)
    pools.get("id", "KEY", "c", 1, 1)
    pools.put("id", "KEY", "c", 1, 1, [1])
    listed = [_template_re(s.sql) for s in S.CONTROL]
    assert raw.sent
    unlisted = [sql for sql in raw.sent if not any(p.match(sql) for p in listed)]
    assert not unlisted, "\n".join(unlisted)


@pytest.mark.parametrize("module", ["drivers/snowflake.py", "drivers/snowflake_context.py",
                                    "drivers/snowflake_connect.py", "stores/snowflake.py",
                                    "stores/snowflake_control.py"])
def test_no_inline_sql_in_snowflake_modules(module: str) -> None:
    """SQL reaches ``execute`` only from the named statements (or the user's own workload)."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    inline = [
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("execute", "describe", "execute_string") and node.args
        and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
    ]
    assert not inline, f"{module}: SQL literal passed to execute at lines {inline}"


class _Refusing(_Cursor):
    def execute(self, sql: str, params: Any = ()) -> None:
        self.sent.append(sql)
        raise RuntimeError("Duplicate key value violates unique constraint on RUN_EVENT_APPLIED")


def test_insert_if_absent_ignores_a_racing_duplicate_on_hybrid_tables() -> None:
    """Two MERGEs racing on a hybrid table: the loser's duplicate-key error means the row is
    there, which is what ON CONFLICT DO NOTHING asks for; other statements still raise."""
    from pytest_flakebench.stores.snowflake_control import ControlConnection

    raw = _Conn()
    raw.cursor = lambda: _Refusing(raw.sent)  # type: ignore[method-assign]
    conn = ControlConnection(raw)
    conn.execute("INSERT INTO RUN_EVENT_APPLIED (RUN_ID, SEQUENCE_ID, WORKER_ID, APPLIED_AT, "
                 "LAG_MS) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", ("r", 1, "gw0", 1, 2))
    assert raw.sent[-1].startswith("MERGE INTO RUN_EVENT_APPLIED")
    with pytest.raises(RuntimeError, match="Duplicate key"):
        conn.execute("INSERT INTO RUN_CONTROL_EVENTS (RUN_ID) VALUES (?)", ("r",))
