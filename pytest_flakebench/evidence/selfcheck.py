"""The harness's own counts against the server's (pure).

Server counters span the whole load (warmup + measurement: the snapshots are taken before the
first worker starts and after the last benchmark connection has gone), so the harness side is
``ops + warmup_ops`` too. Checks:

- calls: per kind, successful statements vs ``pg_stat_statements.calls`` (within 1 %; a failed
  statement is not counted by the server either);
- inserts: successful built-in inserts vs tuples inserted in the table (``n_tup_ins``; a
  statement that failed after its heap insert is counted by the server, so up to ``errors`` more
  is allowed); SQLite: vs rows added to the table;
- updates: tuples updated never exceed successful built-in updates (a key drawn between gaps
  updates nothing).

Write checks run only when every write kind of the mix is a built-in ``insert``/``update``: the
server cannot say which statement wrote a custom query's rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_flakebench.judge.results import KindStats

CALLS_TOLERANCE = 0.01
WINDOW = ("warmup + measurement (server snapshots before the first worker starts and after the "
          "last benchmark connection closed)")


def _item(what: str, harness: int, server: int, ok: bool, rule: str) -> dict[str, Any]:
    return {"what": what, "harness": harness, "server": server, "ok": ok, "rule": rule}


def check(kinds: Mapping[str, KindStats], evidence: Mapping[str, Any]) -> dict[str, Any]:
    """``server.check``: ``{"ok", "window", "items", "mismatches", "skipped"}``."""
    items: list[dict[str, Any]] = []
    skipped: list[str] = []
    stmts: Mapping[str, Any] = evidence.get("statements") or {}
    if evidence.get("statements") is not None:
        for name, k in kinds.items():
            if not k.plan and not stmts.get(name):
                continue  # Python operations: no statement of ours to count
            harness = k.ops + k.warmup_ops
            server = int((stmts.get(name) or {}).get("calls", 0))
            ok = abs(server - harness) <= max(1.0, CALLS_TOLERANCE * harness)
            items.append(_item(f"{name} calls", harness, server, ok,
                               "successful statements vs pg_stat_statements calls, within 1%"))
    writes = {n: k for n, k in kinds.items() if k.operation != "read"}
    table: Mapping[str, Any] = evidence.get("table") or {}
    if writes and not set(writes) <= {"insert", "update"}:
        skipped.append("writes: the mix has write kinds other than the built-in insert/update "
                       f"({', '.join(sorted(set(writes) - {'insert', 'update'}))})")
    elif table:
        ins = writes.get("insert")
        upd = writes.get("update")
        if "n_tup_ins" in table:
            ok_ops = (ins.ops + ins.warmup_ops) if ins else 0
            tried = ok_ops + ((ins.errors + ins.warmup_errors) if ins else 0)
            server = int(table["n_tup_ins"])
            items.append(_item("inserts", ok_ops, server, ok_ops <= server <= tried,
                               "successful inserts vs tuples inserted (n_tup_ins)"))
        elif "rows_added" in table and not upd:
            ok_ops = (ins.ops + ins.warmup_ops) if ins else 0
            server = int(table["rows_added"])
            items.append(_item("inserts", ok_ops, server, server == ok_ops,
                               "successful inserts vs rows added to the table"))
        if "n_tup_upd" in table:
            ok_ops = (upd.ops + upd.warmup_ops) if upd else 0
            server = int(table["n_tup_upd"])
            items.append(_item("updates", ok_ops, server, server <= ok_ops,
                               "tuples updated (n_tup_upd) never exceed successful updates"))
    mismatches = [describe(i) for i in items if not i["ok"]]
    return {"ok": not mismatches, "window": WINDOW, "items": items, "mismatches": mismatches,
            "skipped": skipped}


def describe(item: Mapping[str, Any]) -> str:
    """``self-check: point_lookup calls: harness 1,000, server 990 (-1.0%; rule …)``."""
    harness, server = int(item["harness"]), int(item["server"])
    change = f"{(server - harness) / harness * 100:+.1f}%" if harness else "n/a"
    return (f"self-check: {item['what']}: harness {harness:,}, server {server:,} ({change}; "
            f"{item['rule']})")


__all__ = ["CALLS_TOLERANCE", "WINDOW", "check", "describe"]
