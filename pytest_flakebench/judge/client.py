"""Did the client cap the figures? The workers' own CPU, merged into ``client`` and a note (pure).

CPython runs one thread of a process at a time: a worker process whose threads keep ~one core
busy cannot send more, whatever the database could take. Locust warns at 90 % CPU; here the note
also says which figure is capped and how many processes (``-n N``) to spread the connections
over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CLIENT_BOUND_CPU = 0.9  # share of one core, per worker process


def percentile_of_counts(counts: dict[int, int], q: float) -> int:
    """The ``q`` quantile of a ``{value: count}`` distribution (0 when empty)."""
    total = sum(counts.values())
    if not total:
        return 0
    rank = q * total
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)


def judge_client(parts: Sequence[dict[str, Any]], *, mode: str, connections: int,
                 qps: float) -> tuple[dict[str, Any], str]:
    """``parts``: each worker's ``client`` figures (with ``worker_id``). Returns the run's
    ``client`` figures and a ``CLIENT_BOUND`` note ("" when the client had room)."""
    parts = [p for p in parts if p]
    if not parts:
        return {}, ""
    schedule: dict[int, int] = {}
    for part in parts:
        for value, count in part.get("schedule_error", {}).items():
            schedule[int(value)] = schedule.get(int(value), 0) + int(count)

    def demand(part: dict[str, Any]) -> float:
        # on a CPU, or ready to run and waiting for one: what the process asked of the machine
        if part.get("demand") is not None:
            return float(part["demand"])
        return float(part.get("cpu", 0.0)) + float(part.get("cpu_wait") or 0.0)

    busiest = max(parts, key=demand)
    cpu = float(busiest.get("cpu", 0.0))
    cpu_wait = float(busiest.get("cpu_wait") or 0.0)
    client: dict[str, Any] = {
        "bound": demand(busiest) >= CLIENT_BOUND_CPU,
        "cpu": round(cpu, 3),
        "cpu_wait": round(cpu_wait, 3),
        "demand": round(demand(busiest), 3),  # the share of a core asked for: bound from 0.9
        # connections that sent at least one operation, over every worker
        "connections_sent": sum(int(p.get("connections_sent", 0)) for p in parts),
        "interpreter_wait_p50_us": max(int(p.get("interpreter_wait_p50_us", 0)) for p in parts),
        "interpreter_wait_p99_us": max(int(p.get("interpreter_wait_p99_us", 0)) for p in parts),
        "workers": [{"worker_id": str(p.get("worker_id", "?")), "cpu": p.get("cpu", 0.0),
                     "cpu_wait": float(p.get("cpu_wait") or 0.0),
                     "rss_mb": p.get("rss_mb", 0.0),
                     "connections_sent": int(p.get("connections_sent", 0)),
                     "interpreter_wait_p50_us": p.get("interpreter_wait_p50_us", 0)}
                    for p in parts],
    }
    if mode == "qps" and schedule:
        client["schedule_error_p50_us"] = percentile_of_counts(schedule, 0.50)
        client["schedule_error_p99_us"] = percentile_of_counts(schedule, 0.99)
    if not client["bound"]:
        return client, ""
    processes = len(parts)
    cpus = max(int(p.get("cpus", 1) or 1) for p in parts)
    suggest = max(min(connections, max(2 * processes, cpus)), processes + 1)
    if mode == "qps":
        capped = ("the latencies include waits for the client's interpreter, and the rate held "
                  "is capped by the client")
    else:
        capped = (f"qps ({qps:,.0f}/s) is the client's ceiling, not the database's, and the "
                  f"latencies include waits for the client's interpreter")
    waited = f", and waited {cpu_wait:.0%} of the time for a CPU" if cpu_wait >= 0.05 else ""
    note = (f"CLIENT_BOUND: worker {busiest.get('worker_id', '?')} kept {cpu:.0%} of a CPU core "
            f"busy{waited} (one Python process runs one thread at a time): {capped}. "
            f"Spread the {connections} "
            f"connection(s) over processes: -n {suggest} "
            f"(~{max(1, connections // suggest)} each).")
    return client, note


__all__ = ["CLIENT_BOUND_CPU", "judge_client", "percentile_of_counts"]
