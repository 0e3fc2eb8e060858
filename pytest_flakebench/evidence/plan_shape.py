"""Plan shapes: a statement's plan reduced to what changes its cost class (pure).

A shape keeps node types, relations, indexes and their nesting (so the join order), and drops
estimates, costs and parameter values: two plans with the same shape are the same plan for a
reviewer. The short hash names the shape; ``text`` is one indented line per node for humans.
Inputs: PostgreSQL ``EXPLAIN (FORMAT JSON)``, SQLite ``EXPLAIN QUERY PLAN`` rows, Snowflake
``EXPLAIN USING JSON``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One node of a plan shape, in pre-order; ``depth`` 0 is the root."""

    node: str
    depth: int = 0
    relation: str = ""
    index: str = ""

    def label(self) -> str:
        """``Index Scan using orders_pkey on orders``."""
        text = self.node
        if self.index:
            text += f" using {self.index}"
        if self.relation:
            text += f" on {self.relation}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Builtins only (empty fields left out)."""
        data: dict[str, Any] = {"node": self.node, "depth": self.depth}
        if self.relation:
            data["relation"] = self.relation
        if self.index:
            data["index"] = self.index
        return data


def shape_of(nodes: Sequence[PlanNode], source: str) -> dict[str, Any]:
    """The stored form: ``{"source", "nodes", "relations", "indexes", "join_order", "summary"}``.

    ``summary`` is the one-line form used in messages (``Limit > Index Scan using t_pkey on t``);
    ``join_order`` lists the relations in the order their scans appear.
    """
    join_order: list[str] = []
    for n in nodes:
        if n.relation and n.relation not in join_order:
            join_order.append(n.relation)
    return {
        "source": source,
        "nodes": [n.to_dict() for n in nodes],
        "relations": sorted({n.relation for n in nodes if n.relation}),
        "indexes": sorted({n.index for n in nodes if n.index}),
        "join_order": join_order,
        "summary": summary_of(nodes),
    }


def summary_of(nodes: Sequence[PlanNode]) -> str:
    """Every node's label, root first, joined by `` > `` (``-`` for an empty plan)."""
    return " > ".join(n.label() for n in nodes) or "-"


def plan_entry(nodes: Sequence[PlanNode], source: str, *, raw: str = "") -> dict[str, Any]:
    """What a run stores per kind: ``{"shape", "hash", "text", "raw"}``."""
    shape = shape_of(nodes, source)
    return {"shape": shape, "hash": shape_hash(shape), "text": text_of(nodes),
            "raw": raw[:4000]}


def shape_hash(shape: Mapping[str, Any]) -> str:
    """12 hex characters over the nodes (type, depth, relation, index) only."""
    canonical = json.dumps(shape.get("nodes", []), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def text_of(nodes: Sequence[PlanNode]) -> str:
    """One line per node, indented by depth."""
    return "\n".join("  " * n.depth + n.label() for n in nodes)


# -- PostgreSQL ------------------------------------------------------------------------------

def postgres_nodes(explain: Any) -> list[PlanNode]:
    """Nodes of ``EXPLAIN (FORMAT JSON)`` output (the list psycopg returns, or its JSON text)."""
    data = json.loads(explain) if isinstance(explain, str | bytes) else explain
    if isinstance(data, list):
        data = data[0] if data else {}
    root = data.get("Plan", {}) if isinstance(data, dict) else {}
    found: list[PlanNode] = []

    def walk(node: Mapping[str, Any], depth: int) -> None:
        kind = str(node.get("Node Type", "?"))
        if kind == "ModifyTable" and node.get("Operation"):
            kind = str(node["Operation"])  # Insert, Update, Delete, Merge
        found.append(PlanNode(node=kind, depth=depth,
                              relation=str(node.get("Relation Name") or ""),
                              index=str(node.get("Index Name") or "")))
        for child in node.get("Plans", ()) or ():
            walk(child, depth + 1)

    if root:
        walk(root, 0)
    return found


# -- SQLite ----------------------------------------------------------------------------------

_SQLITE_DETAIL = re.compile(
    r"^(?P<op>SEARCH|SCAN)\s+(?:TABLE\s+)?(?P<rel>\"[^\"]+\"|\S+)"
    r"(?:\s+AS\s+\S+)?"
    r"(?:\s+USING\s+(?P<using>COVERING INDEX\s+\S+|INDEX\s+\S+|INTEGER PRIMARY KEY|"
    r"PRIMARY KEY|AUTOMATIC\s+\S*\s*INDEX))?", re.IGNORECASE)


def sqlite_nodes(rows: Iterable[Sequence[Any]]) -> list[PlanNode]:
    """Nodes of ``EXPLAIN QUERY PLAN`` rows ``(id, parent, notused, detail)``."""
    depth_of: dict[int, int] = {0: -1}
    found: list[PlanNode] = []
    for row in rows:
        node_id, parent, detail = int(row[0]), int(row[1]), str(row[-1])
        depth = depth_of.get(parent, -1) + 1
        depth_of[node_id] = depth
        m = _SQLITE_DETAIL.match(detail.strip())
        if m is None:
            found.append(PlanNode(node=detail.strip(), depth=depth))
            continue
        using = (m.group("using") or "").strip()
        index = ""
        if using:
            parts = using.split()
            index = (parts[-1] if parts[0].upper() in ("COVERING", "INDEX")
                     else using.upper())
        op = m.group("op").upper()
        if op == "SEARCH" and "COVERING" in using.upper():
            op = "SEARCH (covering)"
        found.append(PlanNode(node=op, depth=depth, relation=m.group("rel").strip('"'),
                              index=index))
    return found


# -- Snowflake -------------------------------------------------------------------------------

def snowflake_nodes(explain: Any) -> list[PlanNode]:
    """Nodes of ``EXPLAIN USING JSON`` (``{"Operations": [[{operation, objects, parent…}]]}``).

    Operations carry ``id`` and ``parentOperators``; depth follows those links.
    """
    data = json.loads(explain) if isinstance(explain, str | bytes) else explain
    ops: list[Mapping[str, Any]] = []
    for group in (data or {}).get("Operations", []) or []:
        ops.extend(group if isinstance(group, list) else [group])
    depth_of: dict[Any, int] = {}
    found: list[PlanNode] = []
    for op in ops:
        parents = op.get("parentOperators") or op.get("parents") or []
        depth = (max((depth_of.get(p, 0) for p in parents), default=-1) + 1) if parents else 0
        depth_of[op.get("id")] = depth
        objects = op.get("objects") or []
        found.append(PlanNode(node=str(op.get("operation", "?")), depth=depth,
                              relation=str(objects[0]) if objects else ""))
    return found


__all__ = [
    "PlanNode",
    "plan_entry",
    "postgres_nodes",
    "shape_hash",
    "shape_of",
    "snowflake_nodes",
    "sqlite_nodes",
    "summary_of",
    "text_of",
]
