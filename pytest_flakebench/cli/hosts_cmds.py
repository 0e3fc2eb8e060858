"""``flakebench hosts check --tx SPEC …``: verify every worker host before a multi-host run."""

from __future__ import annotations

import argparse

from rich.table import Table

from pytest_flakebench import __version__
from pytest_flakebench.cli.options import console, store_url
from pytest_flakebench.errors import ConfigError

EXIT_PROBLEMS = 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hosts check``."""
    hosts = sub.add_parser("hosts", help="check the hosts of a multi-host run")
    hosts_sub = hosts.add_subparsers(dest="hosts_command", metavar="COMMAND", required=True)
    check = hosts_sub.add_parser(
        "check", help="verify each --tx host before load",
        description="Open a worker gateway on each host exactly as `pytest --tx` would, and "
                    "check that the host imports the same pytest-flakebench version and "
                    "reaches the target and the control plane. Exit 1 if any host cannot "
                    "take part, naming the host, what failed and the fix.")
    check.add_argument("--tx", dest="specs", action="append", required=True, metavar="SPEC",
                       help="an xdist gateway spec, e.g. ssh=bench@loadgen1//python=/opt/venv/"
                            "bin/python (repeat for every host)")
    check.add_argument("--target", required=True, metavar="URL_OR_NAME",
                       help="the benchmark's target: a URL or a named target")
    check.add_argument("--store", metavar="URL",
                       help="the results store / control plane every host must reach "
                            "(default: $FLAKEBENCH_STORE)")
    check.set_defaults(handler=run_check)


def _target_url(target: str) -> str:
    from pytest_flakebench.rootdir import project_root
    from pytest_flakebench.template.targets import is_url, resolve_target

    if is_url(target):
        return target
    return resolve_target(target, rootdir=project_root(), ini_lines=[], store_url=None).url


def run_check(args: argparse.Namespace) -> int:
    """Check every host; print one row per host and every problem in full."""
    from pytest_flakebench.distributed.hosts_check import check_hosts, endpoint_of

    control = store_url(args.store)
    if control.lower().startswith("sqlite:"):
        raise ConfigError(
            "hosts over ssh cannot reach a SQLite control plane on this machine: give "
            "--store postgresql://… (the same URL as --flakebench-store)")
    endpoints = [endpoint_of("target", _target_url(args.target)),
                 endpoint_of("control plane", control)]
    reports = check_hosts(args.specs, endpoints, expected_version=__version__)
    table = Table(title=f"hosts (plugin {__version__} here)", title_justify="left")
    for column in ("spec", "hostname", "python", "plugin", "target", "control plane", "ok"):
        table.add_column(column, overflow="fold")
    for r in reports:
        table.add_row(r.spec, r.hostname or "-", r.python or "-", r.version or "-",
                      *("reached" if r.reach.get(e.name) == "" else "NO" if e.name in r.reach
                        else "-" for e in endpoints),
                      "yes" if r.ok else "NO")
    out = console()
    out.print(table)
    for r in reports:
        for problem in r.problems:
            out.print(f"problem: {problem}", markup=False, soft_wrap=True)
    return 0 if all(r.ok for r in reports) else EXIT_PROBLEMS


__all__ = ["add_parsers", "run_check"]
