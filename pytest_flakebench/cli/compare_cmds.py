"""``flakebench compare A B …``, ``export RUN``, ``report RUN… -o FILE`` and ``baseline``."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from rich.table import Table
from rich.text import Text

from pytest_flakebench.cli.options import console, opened, store_url, utc_text
from pytest_flakebench.errors import ConfigError, StoreError
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.stores.base import ResultStore
from pytest_flakebench.stores.rows import no_run

_STORE_HELP = "results store URL (default: $FLAKEBENCH_STORE, else the default SQLite file)"
MAX_RUNS = 5


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``compare``, ``export``, ``report`` and ``baseline``."""
    cmp = sub.add_parser("compare", help="compare runs with the first one (up to 5 runs)")
    cmp.add_argument("runs", metavar="RUN", nargs="+", help="run ids or unique prefixes; the "
                     "first is the baseline")
    cmp.add_argument("--fail", metavar="METRIC:CHANGE,...", default=None,
                     help="limits, e.g. p95:+10%%,qps:-5%%; exit 1 if a run regressed")
    cmp.add_argument("--store", metavar="URL", help=_STORE_HELP)
    cmp.set_defaults(handler=run_compare)

    export = sub.add_parser("export", help="export one run as CSV or JSON")
    export.add_argument("run_id", metavar="RUN")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--snapshots", action="store_true",
                        help="CSV: the per-second snapshots instead of the per-kind statistics")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    export.add_argument("--store", metavar="URL", help=_STORE_HELP)
    export.set_defaults(handler=run_export)

    report = sub.add_parser("report", help="write a self-contained HTML report of up to 5 runs")
    report.add_argument("runs", metavar="RUN", nargs="+")
    report.add_argument("-o", "--output", metavar="FILE", required=True)
    report.add_argument("--store", metavar="URL", help=_STORE_HELP)
    report.set_defaults(handler=run_report)

    base = sub.add_parser("baseline", help="named baselines (--flakebench-compare=baseline:NAME)")
    actions = base.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    set_ = actions.add_parser("set", help="name a stored run as a baseline")
    set_.add_argument("name", metavar="NAME")
    set_.add_argument("run_id", metavar="RUN_ID")
    list_ = actions.add_parser("list", help="list named baselines")
    remove = actions.add_parser("remove", help="forget a named baseline (the run stays)")
    remove.add_argument("name", metavar="NAME")
    for p in (set_, list_, remove):
        p.add_argument("--store", metavar="URL", help=_STORE_HELP)
    set_.set_defaults(handler=run_baseline_set)
    list_.set_defaults(handler=run_baseline_list)
    remove.set_defaults(handler=run_baseline_remove)


def _load(store: ResultStore, run_ids: list[str]) -> list[RunResult]:
    store.check()
    found = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None:
            raise StoreError(no_run(run_id, store.redacted_url))
        found.append(run)
    return found


def _count(runs: list[str]) -> None:
    if len(runs) > MAX_RUNS:
        raise ConfigError(f"at most {MAX_RUNS} runs side by side, got {len(runs)}")


def run_compare(args: argparse.Namespace) -> int:
    """Print every run against the first; exit 1 if ``--fail`` limits were exceeded."""
    from pytest_flakebench.compare.thresholds import ThresholdError, parse_spec
    from pytest_flakebench.compare.verdict import compare_runs
    from pytest_flakebench.report.compare_text import comparison_lines

    if len(args.runs) < 2:
        raise ConfigError("compare needs at least two runs: BASELINE RUN [RUN…]")
    _count(args.runs)
    try:
        thresholds = parse_spec(args.fail) if args.fail else {}
    except ThresholdError as exc:
        raise ConfigError(f"--fail: {exc}") from None
    from pytest_flakebench.compare.gate import history_besides, previous_runs
    from pytest_flakebench.compare.prior import store_priors

    with opened(store_url(args.store)) as store:
        runs = _load(store, args.runs)
        # Each run's own history of comparable runs says how much runs vary, moderated by the
        # spread of the other tests on its target (as the in-session gate does).
        histories = [history_besides(run, runs[0], previous_runs(store, run))
                     for run in runs[1:]]
        priors = [store_priors(store, run) for run in runs[1:]]
    out = console()
    regressed = False
    for run, history, prior in zip(runs[1:], histories, priors, strict=True):
        comparison = compare_runs(runs[0], run, thresholds, history=history, priors=prior)
        regressed |= comparison.regressed
        for line in comparison_lines(comparison, width=out.width):
            out.print(Text(line))
        out.print()
    return 1 if regressed else 0


def run_export(args: argparse.Namespace) -> int:
    """Write one run as JSON (everything) or CSV (kinds, or per-second snapshots)."""
    with opened(store_url(args.store)) as store:
        (run,) = _load(store, [args.run_id])
    handle = (open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
              if args.output else sys.stdout)
    try:
        if args.format == "json":
            json.dump(run.to_dict(), handle, indent=2)
            handle.write("\n")
        elif args.snapshots:
            writer = csv.writer(handle)
            fields = ["run_id", "worker_id", "seq", "ts", "elapsed_s", "phase", "ops", "errors",
                      "in_flight", "qps", "p50_us", "p95_us", "p99_us", "active_connections"]
            writer.writerow(fields)
            for s in run.snapshots:
                row = {"run_id": run.run_id, **s.to_dict()}
                writer.writerow([row[f] for f in fields])
        else:
            writer = csv.writer(handle)
            fields = ["run_id", "test", "kind", "operation", "ops", "errors", "error_rate", "qps",
                      "p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us"]
            writer.writerow(fields)
            for k in [*run.kinds.values(), run.overall]:
                d = {"run_id": run.run_id, "test": run.test, **k.to_dict()}
                writer.writerow([d[f] for f in fields])
    finally:
        if handle is not sys.stdout:
            handle.close()
    return 0


def run_report(args: argparse.Namespace) -> int:
    """Write the HTML report of the runs (side by side), with each run compared to the first."""
    from pytest_flakebench.compare.verdict import compare_runs
    from pytest_flakebench.report.html import render_report, write_report

    _count(args.runs)
    with opened(store_url(args.store)) as store:
        runs = _load(store, args.runs)
    comparisons = [compare_runs(runs[0], r) for r in runs[1:]]
    title = runs[0].test if len({r.test for r in runs}) == 1 else "runs"
    path = Path(args.output)
    write_report(path, render_report([(title, runs, comparisons)]))
    console().print(f"HTML report of {len(runs)} run(s) written to {path}", markup=False,
                    soft_wrap=True)
    return 0


def run_baseline_set(args: argparse.Namespace) -> int:
    """Name a run as a baseline."""
    with opened(store_url(args.store)) as store:
        store.check()
        full = store.set_baseline(args.name, args.run_id)
    console().print(f"baseline {args.name} = run {full}", markup=False, soft_wrap=True)
    return 0


def run_baseline_list(args: argparse.Namespace) -> int:
    """Print the named baselines."""
    with opened(store_url(args.store)) as store:
        store.check()
        found = store.list_baselines()
    out = console()
    if not found:
        out.print("no named baselines (flakebench baseline set NAME RUN_ID)", markup=False)
        return 0
    table = Table(title="baselines", title_justify="left")
    for column in ("name", "run", "test", "set (UTC)"):
        table.add_column(column, no_wrap=column != "test")
    for b in found:
        table.add_row(Text(b.name), Text(b.run_id[:12]), Text(b.test), utc_text(b.created_at))
    out.print(table)
    return 0


def run_baseline_remove(args: argparse.Namespace) -> int:
    """Forget a named baseline."""
    with opened(store_url(args.store)) as store:
        store.check()
        removed = store.remove_baseline(args.name)
    if not removed:
        raise StoreError(f"no baseline named {args.name!r}: see `flakebench baseline list`")
    console().print(f"baseline {args.name} removed", markup=False)
    return 0
