"""What changed server side between two runs (pure): plan shapes, exec time, blocks, waits.

A plan change is a finding, not a reason to refuse a comparison: it is never part of the
fingerprint, and it is listed whatever the verdict. Exec time, blocks read and top waits are
listed when the run REGRESSED or IMPROVED (``full``), to say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_flakebench.judge.results import RunResult

EXEC_CHANGE = 0.10  # exec time / blocks per call: a change below this is not listed


def _summary(plan: Mapping[str, Any]) -> str:
    return str((plan.get("shape") or {}).get("summary") or "-")


def plan_changes(baseline: RunResult, candidate: RunResult) -> list[str]:
    """``point_lookup plan: Index Scan using t_pkey on t → Seq Scan on t`` per changed kind."""
    found = []
    for name, k in candidate.kinds.items():
        old = baseline.kinds.get(name)
        if old is None or not old.plan.get("hash") or not k.plan.get("hash"):
            continue
        if old.plan["hash"] != k.plan["hash"]:
            found.append(f"{name} plan: {_summary(old.plan)} → {_summary(k.plan)}")
    return found


def _per_call(server: Mapping[str, Any], key: str) -> float | None:
    calls = server.get("calls") or 0
    return float(server.get(key, 0)) / calls if calls else None


def _changed(old: float, new: float) -> bool:
    if old == 0:
        return new != 0
    return abs(new - old) / old >= EXEC_CHANGE


def _pct(old: float, new: float) -> str:
    return f"{(new - old) / old * 100:+.0f}%" if old else "new"


def _top_wait(run: RunResult, kind: str | None = None) -> str:
    waits = run.server.get("waits") or {}
    if kind is not None:
        waits = (waits.get("kinds") or {}).get(kind) or {}
    top = waits.get("top") or []
    if not top:
        return "-"
    return f"{top[0]['event']} {top[0]['share'] * 100:.0f}%"


def server_changes(baseline: RunResult, candidate: RunResult, *, full: bool) -> list[str]:
    """Lines for a comparison: plan changes always; exec time, blocks, waits when ``full``."""
    lines = plan_changes(baseline, candidate)
    if not full:
        return lines
    for name, k in candidate.kinds.items():
        old = baseline.kinds.get(name)
        if old is None or not old.server or not k.server:
            continue
        a, b = float(old.server.get("mean_exec_ms", 0)), float(k.server.get("mean_exec_ms", 0))
        if _changed(a, b):
            lines.append(f"{name} server mean exec {a:.3f}ms → {b:.3f}ms ({_pct(a, b)})")
        for key, label in (("shared_blks_read", "blocks read"),
                           ("shared_blks_hit", "blocks hit")):
            pa, pb = _per_call(old.server, key), _per_call(k.server, key)
            if pa is not None and pb is not None and _changed(pa, pb):
                lines.append(f"{name} {label}/call {pa:.1f} → {pb:.1f} ({_pct(pa, pb)})")
    wa, wb = _top_wait(baseline), _top_wait(candidate)
    if wb != "-" and wa.split(" ")[0] != wb.split(" ")[0]:
        lines.append(f"top wait {wa} → {wb}")
    return lines


__all__ = ["plan_changes", "server_changes"]
