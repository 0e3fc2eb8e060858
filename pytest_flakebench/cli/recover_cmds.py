"""``flakebench recover``: store runs whose controlling process died as ABANDONED."""

from __future__ import annotations

import argparse

from pytest_flakebench.cli.options import console, opened, store_url
from pytest_flakebench.stores import shown_url


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``recover``."""
    from pytest_flakebench.distributed.recover import RECOVER_AFTER_S

    recover = sub.add_parser(
        "recover", help="store runs left RUNNING by a controller that died, as ABANDONED",
        description="A run whose controlling pytest process was killed (SIGKILL, power loss) "
                    "stays RUNNING in the store while its workers post their final "
                    "measurements. This merges those measurements, stores the run ABANDONED "
                    "(verdict FAILED, figures kept) and closes it. The next pytest --flakebench "
                    "session on the same store does the same on its own.",
    )
    recover.add_argument("--store", metavar="URL", default=None,
                         help="results store (default: $FLAKEBENCH_STORE, else the SQLite file "
                              ".flakebench/flakebench.db)")
    recover.add_argument("--quiet-for", metavar="SECONDS", type=float, default=RECOVER_AFTER_S,
                         help=f"a run counts as abandoned once nothing about it changed for "
                              f"this long (default {RECOVER_AFTER_S:g}; live runs' workers "
                              f"beat every second)")
    recover.set_defaults(handler=run_recover)


def run_recover(args: argparse.Namespace) -> int:
    """Recover every abandoned run of the store; exit 0 (nothing to do is not an error)."""
    from pytest_flakebench.control.plane import open_control_plane
    from pytest_flakebench.distributed.recover import recover_runs

    url = store_url(args.store)
    out = console()
    with opened(url) as store:
        store.check()
        plane = open_control_plane(url)
        try:
            found = recover_runs(plane, store, quiet_for_s=max(0.0, args.quiet_for))
        finally:
            plane.close()
    if not found:
        out.print(f"no abandoned runs in {shown_url(url)}", markup=False)
    for item in found:
        out.print(f"recovered {item.line()}", markup=False, soft_wrap=True)
    return 0
