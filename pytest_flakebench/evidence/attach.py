"""The controller's side: a run's evidence, from its workers' reports, into the result (pure).

Every worker explains the statements in preflight; one worker (the lead: the first worker id of
the run) also samples wait events and takes the server snapshots. The lead's report wins; the
plans of any worker stand in when the lead has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pytest_flakebench.evidence.selfcheck import check
from pytest_flakebench.judge.results import KindStats, RunResult

DIFFERENCE_IS = "network, driver and harness (client p50 minus server mean execution time)"


def client_vs_server(k: KindStats, server: Mapping[str, Any]) -> dict[str, Any]:
    """Client p50 next to the server's mean execution time; the gap is outside the server."""
    mean_us = float(server.get("mean_exec_ms", 0.0)) * 1000.0
    return {"client_p50_us": k.latency.p50_us, "server_mean_us": round(mean_us, 1),
            "difference_us": round(k.latency.p50_us - mean_us, 1), "difference_is": DIFFERENCE_IS}


def evidence_of(payloads: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The lead worker's evidence (with another worker's plans if the lead has none)."""
    found = [p["meta"]["evidence"] for p in payloads
             if isinstance(p.get("meta"), dict) and p["meta"].get("evidence")]
    if not found:
        return None
    lead = dict(next((e for e in found if e.get("lead")), found[0]))
    if not lead.get("plans"):
        lead["plans"] = next((e["plans"] for e in found if e.get("plans")), {})
    return lead


def attach_evidence(result: RunResult, payloads: Sequence[Mapping[str, Any]]) -> RunResult:
    """``result`` with ``kinds.<kind>.plan``/``.server`` and ``server`` filled in."""
    evidence = evidence_of(payloads)
    if evidence is None:
        return result
    plans: Mapping[str, Any] = evidence.get("plans") or {}
    statements: Mapping[str, Any] = evidence.get("statements") or {}
    kinds: dict[str, KindStats] = {}
    for name, k in result.kinds.items():
        server = dict(statements.get(name) or {})
        if server:
            server["client_vs_server"] = client_vs_server(k, server)
        kinds[name] = replace(k, plan=dict(plans.get(name) or {}), server=server)
    verdict = check(kinds, evidence)
    server_part: dict[str, Any] = {
        "dialect": evidence.get("dialect", ""),
        "window": verdict["window"],
        "waits": evidence.get("waits") or {},
        "check": verdict,
        "table": evidence.get("table") or {},
        "database": evidence.get("database") or {},
        "notes": list(evidence.get("notes") or []),
    }
    for key in ("history", "session"):  # Snowflake: QUERY_HISTORY figures, session settings
        if evidence.get(key):
            server_part[key] = evidence[key]
    return replace(result, kinds=kinds, server=server_part,
                   messages=(*result.messages, *verdict["mismatches"]))


__all__ = ["DIFFERENCE_IS", "attach_evidence", "client_vs_server", "evidence_of"]
