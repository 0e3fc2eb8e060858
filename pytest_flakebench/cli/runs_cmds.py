"""``flakebench runs`` (stored runs, newest first) and ``flakebench show RUN`` (one run)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC

from rich.table import Table
from rich.text import Text

from pytest_flakebench.cli.options import console, opened, store_url, utc_text
from pytest_flakebench.errors import StoreError
from pytest_flakebench.judge.results import KindStats, RunResult, SLOCheck
from pytest_flakebench.stores import shown_url
from pytest_flakebench.stores.rows import no_run
from pytest_flakebench.units import format_duration_s, format_us
from pytest_flakebench.urls import scheme_of, sqlite_path

SHORT_ID = 12
_STORE_HELP = ("results store URL (default: $FLAKEBENCH_STORE, else "
               "sqlite:///.flakebench/flakebench.db in the current directory)")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``runs`` and ``show``."""
    runs = sub.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--store", metavar="URL", help=_STORE_HELP)
    runs.add_argument("--test", metavar="SUBSTR", help="only tests whose id or name contains this")
    runs.add_argument("--limit", metavar="N", type=_positive, default=50,
                      help="at most N runs (default 50)")
    runs.add_argument("--target", metavar="SUBSTR", help="only targets whose URL contains this")
    runs.add_argument("--status", metavar="STATUS",
                      help="only runs with this status or verdict (COMPLETED, PARTIAL, "
                           "CANCELLED, ABANDONED, FAILED…)")
    runs.add_argument("--since", metavar="WHEN", type=_since,
                      help="only runs started since WHEN: 2026-11-27, 2026-11-27T10:00 (UTC), "
                           "or an age such as 2h, 3d")
    runs.set_defaults(handler=run_runs)

    show = sub.add_parser("show", help="show one stored run")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id or a unique prefix of one")
    show.add_argument("--store", metavar="URL", help=_STORE_HELP)
    show.add_argument("--json", action="store_true", help="print the run as JSON")
    show.set_defaults(handler=run_show)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _since(text: str) -> float:
    """``2h``/``3d``/``45m`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    import time
    from datetime import datetime

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    raw = text.strip()
    if raw[:-1].replace(".", "", 1).isdigit() and raw[-1:] in units:
        return time.time() - float(raw[:-1]) * units[raw[-1]]
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an age (2h, 3d) or a date/time (2026-11-27T10:00), got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _missing_sqlite(url: str) -> bool:
    """True when the default embedded store was never created: reading must not create it."""
    return scheme_of(url) == "sqlite" and not sqlite_path(url).exists()


def run_runs(args: argparse.Namespace) -> int:
    """Print the runs table."""
    url = store_url(args.store)
    out = console()
    if _missing_sqlite(url):
        out.print(f"no runs stored in {shown_url(url)} yet "
                  f"(the first `pytest --flakebench` run creates it)", markup=False, soft_wrap=True)
        return 0
    with opened(url) as store:
        store.check()
        found = store.list_runs(limit=args.limit, test=args.test, target=args.target,
                                status=args.status, since=args.since)
    if not found:
        out.print(f"no runs in {shown_url(url)}"
                  + (f" matching {args.test!r}" if args.test else ""), markup=False, soft_wrap=True)
        return 0
    table = Table(title=Text(f"runs in {shown_url(url)}"), title_justify="left")
    table.add_column("run", no_wrap=True)  # ids are what users copy: never fold them
    table.add_column("test", overflow="fold")
    table.add_column("started (UTC)", no_wrap=True)
    for name in ("status", "verdict"):
        table.add_column(name)
    for name in ("qps", "p95", "errors"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in found:
        table.add_row(Text(r.run_id[:SHORT_ID]), Text(r.test), utc_text(r.started_at),
                      r.status, _verdict(r.verdict), f"{r.qps:,.1f}", format_us(r.p95_us),
                      str(r.errors))
    out.print(table)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print one run, as tables or as JSON."""
    url = store_url(args.store)
    if _missing_sqlite(url):
        raise StoreError(f"no results store at {shown_url(url)}: no run {args.run_id!r}")
    with opened(url) as store:
        store.check()
        run = store.get_run(args.run_id)
    if run is None:
        raise StoreError(no_run(args.run_id, shown_url(url)))
    if args.json:
        # Plain print: rich would re-wrap and highlight JSON that scripts will parse.
        sys.stdout.write(json.dumps(run.to_dict(), indent=2) + "\n")
        return 0
    _print_run(run)
    return 0


def _verdict(verdict: str) -> Text:
    style = {"PASSED": "green", "FAILED": "bold red", "ERROR": "red"}.get(verdict, "")
    return Text(verdict or "-", style=style)


def _print_run(run: RunResult) -> None:
    out = console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    for key, value in [
        ("run", run.run_id), ("test", run.test), ("status", run.status),
        ("target", f"{run.target} ({run.target_kind})"), ("table", run.table),
        ("mode", f"{run.mode}, {run.connections} connections"),
        ("started", utc_text(run.started_at)),
        ("measured", f"{format_duration_s(run.measurement_s)} "
                     f"after {format_duration_s(run.warmup_s)} warmup"),
        ("plugin", run.plugin_version or "-"),
    ]:
        head.add_row(key, Text(value))
    head.add_row("verdict", _verdict(run.verdict))
    out.print(head)

    template = Table(title="template", title_justify="left", show_header=False)
    template.add_column(style="bold")
    template.add_column()
    for key, value in run.template.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        template.add_row(Text(str(key)), Text(shown))
    out.print(template)

    kinds = Table(title="kinds (measurement phase)", title_justify="left")
    kinds.add_column("kind")
    for name in ("ops", "errors", "misses", "rows", "qps", "p50", "p95", "p99", "max",
                 "error p99"):
        kinds.add_column(name, justify="right")
    for k in run.kinds.values():
        kinds.add_row(*_kind_cells(k))
    kinds.add_row(*_kind_cells(run.overall, "overall"), style="bold", end_section=True)
    out.print(kinds)
    from pytest_flakebench.evidence.report import run_lines, server_table

    server = server_table(run)
    if server is not None:
        out.print(server)
        for line in [*run_lines(run), *(run.server.get("notes") or [])]:
            out.print(Text(line))

    if run.slo:
        slo = Table(title="SLO", title_justify="left")
        for name in ("scope", "metric", "limit", "measured", "ok"):
            slo.add_column(name, justify="right" if name in ("limit", "measured") else "left")
        for c in run.slo:
            slo.add_row(Text(c.scope), c.metric, _slo_value(c, c.limit),
                        _slo_value(c, c.measured),
                        Text("ok", style="green") if c.ok else Text("BREACHED", style="bold red"))
        out.print(slo)

    if len(run.workers) > 1:
        workers = Table(title="workers", title_justify="left")
        for name in ("worker", "host", "connections", "status", "ops", "errors", "qps", "p95"):
            workers.add_column(name)
        for w in run.workers:
            workers.add_row(Text(w.worker_id), Text(w.host), str(w.connections), w.status,
                            str(w.ops), str(w.errors), f"{w.qps:,.1f}", format_us(w.p95_us))
        out.print(workers)

    for message in run.messages:
        out.print(Text(f"note: {message}"))


def _kind_cells(k: KindStats, label: str | None = None) -> list[Text | str]:
    lat = k.latency
    return [Text(label or k.kind), f"{k.ops:,}", f"{k.errors:,}",
            f"{k.misses:,} ({k.miss_rate:.2%})" if k.misses else "0", f"{k.rows:,}",
            f"{k.qps:,.1f}", format_us(lat.p50_us), format_us(lat.p95_us), format_us(lat.p99_us),
            format_us(lat.max_us), format_us(k.error_p99_us) if k.errors else "-"]


def _slo_value(check: SLOCheck, value: float) -> str:
    if check.metric in ("error_rate", "max_late", "max_miss"):
        return f"{value * 100:.3g}%"
    if check.metric == "min_qps":
        return f"{value:,.1f}"
    return format_us(value)
