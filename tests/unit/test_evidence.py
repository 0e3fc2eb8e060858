"""Evidence, pure parts: plan shapes, wait summaries, the self-check, server-side changes."""

from __future__ import annotations

from dataclasses import replace

from pytest_flakebench.evidence.compare import server_changes
from pytest_flakebench.evidence.plan_shape import (
    plan_entry,
    postgres_nodes,
    snowflake_nodes,
    sqlite_nodes,
)
from pytest_flakebench.evidence.selfcheck import check
from pytest_flakebench.evidence.snowflake_history import summarize as history_summary
from pytest_flakebench.evidence.waits import event_of, kind_of, summarize
from pytest_flakebench.histogram import LatencyHistogram
from pytest_flakebench.judge.results import KindStats, RunResult

PG_INDEX = [{"Plan": {"Node Type": "Index Scan", "Relation Name": "orders",
                      "Index Name": "orders_pkey", "Total Cost": 8.3, "Plan Rows": 1}}]
PG_SEQ = [{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders", "Total Cost": 1693.0}}]
PG_JOIN = [{"Plan": {"Node Type": "Hash Join", "Plans": [
    {"Node Type": "Seq Scan", "Relation Name": "lines"},
    {"Node Type": "Hash", "Plans": [{"Node Type": "Index Scan", "Relation Name": "orders",
                                     "Index Name": "orders_pkey"}]}]}}]


def test_postgres_shape_keeps_nodes_relations_indexes_and_join_order() -> None:
    entry = plan_entry(postgres_nodes(PG_JOIN), "EXPLAIN (FORMAT JSON)")
    shape = entry["shape"]
    assert [n["node"] for n in shape["nodes"]] == ["Hash Join", "Seq Scan", "Hash", "Index Scan"]
    assert shape["join_order"] == ["lines", "orders"]
    assert shape["indexes"] == ["orders_pkey"]
    assert entry["text"].splitlines()[-1] == "    Index Scan using orders_pkey on orders"
    assert len(entry["hash"]) == 12


def test_postgres_shape_hash_ignores_costs_and_tells_plans_apart() -> None:
    cheaper = [{"Plan": {**PG_INDEX[0]["Plan"], "Total Cost": 1.0}}]
    index = plan_entry(postgres_nodes(PG_INDEX), "x")
    assert plan_entry(postgres_nodes(cheaper), "x")["hash"] == index["hash"]
    seq = plan_entry(postgres_nodes(PG_SEQ), "x")
    assert seq["hash"] != index["hash"]
    assert index["shape"]["summary"] == "Index Scan using orders_pkey on orders"
    assert seq["shape"]["summary"] == "Seq Scan on orders"


def test_postgres_modify_table_is_named_by_its_operation() -> None:
    plan = [{"Plan": {"Node Type": "ModifyTable", "Operation": "Insert", "Relation Name": "t",
                      "Plans": [{"Node Type": "Result"}]}}]
    assert plan_entry(postgres_nodes(plan), "x")["shape"]["summary"] == "Insert on t > Result"


def test_sqlite_query_plan_rows() -> None:
    rows = [(2, 0, 0, "SEARCH orders USING INTEGER PRIMARY KEY (rowid=?)")]
    assert plan_entry(sqlite_nodes(rows), "x")["shape"]["summary"] == (
        "SEARCH using INTEGER PRIMARY KEY on orders")
    rows = [(3, 0, 0, "SCAN o"), (5, 0, 0, "SEARCH l USING INDEX l_order (order_id=?)")]
    shape = plan_entry(sqlite_nodes(rows), "x")["shape"]
    assert shape["join_order"] == ["o", "l"]
    assert shape["indexes"] == ["l_order"]
    covering = sqlite_nodes([(2, 0, 0, "SEARCH t USING COVERING INDEX t_k (k>? AND k<?)")])
    assert covering[0].node == "SEARCH (covering)"
    assert covering[0].index == "t_k"


def test_snowflake_explain_json() -> None:
    raw = {"GlobalStats": {"partitionsTotal": 4},
           "Operations": [[{"id": 0, "operation": "Result"},
                           {"id": 1, "operation": "Filter", "parentOperators": [0]},
                           {"id": 2, "operation": "TableScan", "objects": ["DB.PUBLIC.ORDERS"],
                            "parentOperators": [1]}]]}
    nodes = snowflake_nodes(raw)
    assert [(n.node, n.depth) for n in nodes] == [("Result", 0), ("Filter", 1),
                                                  ("TableScan", 2)]
    assert nodes[2].relation == "DB.PUBLIC.ORDERS"


def test_wait_events_are_shares_of_active_samples_per_kind() -> None:
    assert event_of("active", "Lock", "relation") == "Lock:relation"
    assert event_of("active", None, None) == "CPU"
    assert event_of("idle", "Client", "ClientRead") is None
    assert event_of("active", "Client", "ClientRead") is None  # waiting on the client
    assert kind_of("/* flakebench:point_lookup */ SELECT 1") == "point_lookup"
    assert kind_of("SELECT 1") == "other"
    found = summarize({"point_lookup": {"Lock:relation": 8, "CPU": 2}}, {"point_lookup": 30},
                      rounds=20, interval_ms=100.0)
    top = found["kinds"]["point_lookup"]["top"]
    assert top[0] == {"event": "Lock:relation", "samples": 8, "share": 0.8}
    assert found["idle_samples"] == 30
    assert found["top"][0]["event"] == "Lock:relation"


def _kind(name: str, ops: int, warmup: int = 0, errors: int = 0,
          operation: str = "read", **extra: object) -> KindStats:
    hist = LatencyHistogram()
    hist.record(100)
    base = KindStats(kind=name, operation=operation, ops=ops,  # type: ignore[arg-type]
                     errors=errors, qps=ops / 10.0, latency=hist.summary(),
                     histogram=hist.encode(), warmup_ops=warmup)
    return replace(base, **extra)  # type: ignore[arg-type]


def test_self_check_passes_when_counts_agree_and_names_a_mismatch() -> None:
    plan = {"hash": "abc"}
    kinds = {"point_lookup": _kind("point_lookup", 1000, 100, plan=plan),
             "insert": _kind("insert", 200, 20, operation="write", plan=plan)}
    evidence = {"statements": {"point_lookup": {"calls": 1100}, "insert": {"calls": 220}},
                "table": {"n_tup_ins": 220, "n_tup_upd": 0}}
    verdict = check(kinds, evidence)
    assert verdict["ok"], verdict
    assert {i["what"] for i in verdict["items"]} == {"point_lookup calls", "insert calls",
                                                     "inserts", "updates"}
    evidence["statements"]["point_lookup"]["calls"] = 1050  # ~4.5% short
    evidence["table"]["n_tup_ins"] = 219
    verdict = check(kinds, evidence)
    assert not verdict["ok"]
    assert any("point_lookup calls: harness 1,100, server 1,050" in m
               for m in verdict["mismatches"])
    assert any(m.startswith("self-check: inserts: harness 220, server 219")
               for m in verdict["mismatches"])


def test_self_check_skips_writes_it_cannot_attribute() -> None:
    kinds = {"checkout": _kind("checkout", 10, operation="write")}
    verdict = check(kinds, {"table": {"n_tup_ins": 3}})
    assert verdict["ok"]
    assert "checkout" in verdict["skipped"][0]


def _run(kinds: dict[str, KindStats], server: dict[str, object] | None = None) -> RunResult:
    overall = _kind("overall", 1)
    return RunResult(run_id="r" * 32, test="t", status="COMPLETED", verdict="PASSED",
                     template={}, fingerprint={}, target_kind="postgresql", target="",
                     table="orders", mode="concurrency", connections=1, started_at=0.0,
                     ended_at=1.0, measurement_s=1.0, warmup_s=0.0, overall=overall,
                     kinds=kinds, slo=(), workers=(), server=server or {})


def test_server_changes_name_the_plan_change_and_why() -> None:
    index = plan_entry(postgres_nodes(PG_INDEX), "x")
    seq = plan_entry(postgres_nodes(PG_SEQ), "x")
    old = _run({"point_lookup": _kind("point_lookup", 100, plan=index, server={
        "calls": 100, "mean_exec_ms": 0.02, "shared_blks_hit": 300, "shared_blks_read": 0})},
        {"waits": {"top": [{"event": "CPU", "share": 1.0}]}})
    new = _run({"point_lookup": _kind("point_lookup", 100, plan=seq, server={
        "calls": 100, "mean_exec_ms": 2.5, "shared_blks_hit": 55000, "shared_blks_read": 10})},
        {"waits": {"top": [{"event": "IO:DataFileRead", "share": 0.6}]}})
    assert server_changes(old, new, full=False) == [
        "point_lookup plan: Index Scan using orders_pkey on orders → Seq Scan on orders"]
    lines = server_changes(old, new, full=True)
    assert "point_lookup server mean exec 0.020ms → 2.500ms (+12400%)" in lines
    assert "point_lookup blocks hit/call 3.0 → 550.0 (+18233%)" in lines
    assert "top wait CPU 100% → IO:DataFileRead 60%" in lines
    assert server_changes(new, new, full=True) == []


def test_query_history_summary_per_kind() -> None:
    rows = [{"QUERY_TAG": "flakebench:run=abc;kind=point_lookup", "EXECUTION_STATUS": "SUCCESS",
             "QUERY_TYPE": "SELECT", "EXECUTION_TIME": 4, "COMPILATION_TIME": 10,
             "QUEUED_OVERLOAD_TIME": 2, "BYTES_SCANNED": 1024, "WAREHOUSE_SIZE": "X-Small"},
            {"QUERY_TAG": "flakebench:run=abc;kind=point_lookup", "EXECUTION_STATUS": "SUCCESS",
             "QUERY_TYPE": "SELECT", "EXECUTION_TIME": 0, "COMPILATION_TIME": 2,
             "BYTES_SCANNED": 0, "WAREHOUSE_SIZE": None},
            {"QUERY_TAG": "flakebench:run=abc;kind=point_lookup", "EXECUTION_STATUS": "FAIL"}]
    found = history_summary(rows)["point_lookup"]
    assert found["queries"] == 2
    assert found["mean_execution_ms"] == 2.0
    assert found["mean_compilation_ms"] == 6.0
    assert found["mean_queued_ms"] == 1.0
    assert found["result_cache_share"] == 0.5
