"""``flakebench upload``: send runs spooled while the results store was unreachable.

Each spool file records where its run was going (``spool.Destination``); by default the run
goes there, and nowhere else. ``--store`` sends every run to another store instead.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pytest_flakebench.cli.options import STORE_ENV, console, opened
from pytest_flakebench.errors import FlakebenchError, StoreError
from pytest_flakebench.judge.results import RunResult
from pytest_flakebench.stores import shown_url
from pytest_flakebench.stores.spool import Destination, destination_of, read_spooled

DEFAULT_SPOOL = Path(".flakebench") / "spool"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``upload``."""
    upload = sub.add_parser(
        "upload", help="store runs spooled when the results store was unreachable",
        description="Each spooled run (.flakebench/spool/RUN_ID.json) is saved in one "
                    "transaction in the store it was meant for (recorded in the file, without "
                    "its password: libpq's PGPASSWORD/~/.pgpass or $FLAKEBENCH_STORE supply "
                    "it) and its file removed; a run already stored is skipped and its file "
                    "removed too. Nothing measured is lost.",
    )
    upload.add_argument("--store", metavar="URL", default=None,
                        help="send every spooled run to this store instead of the one it "
                             "was meant for")
    upload.add_argument("--spool", metavar="DIR", type=Path, default=DEFAULT_SPOOL,
                        help=f"folder of spooled runs (default {DEFAULT_SPOOL})")
    upload.set_defaults(handler=run_upload)


def _url_for(destination: Destination | None, option: str | None) -> str | None:
    """Where a spooled run goes: ``--store``, else its recorded destination (with the
    password from ``$FLAKEBENCH_STORE`` when that names the same store)."""
    if option:
        return option
    if destination is None:
        return None
    env = os.environ.get(STORE_ENV)
    if destination.secret_removed and env:
        try:
            if destination_of(env).url == destination.url:
                return env
        except (FlakebenchError, ValueError):
            pass
    return destination.url


def run_upload(args: argparse.Namespace) -> int:
    """Save every spooled run; exit 2 if any could not be saved."""
    files = sorted(Path(args.spool).glob("*.json"))
    out = console()
    if not files:
        out.print(f"no spooled runs in {args.spool}", markup=False)
        return 0
    by_url: dict[str, list[tuple[Path, RunResult]]] = {}
    failed = 0
    for path in files:
        try:
            run, destination = read_spooled(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            failed += 1
            out.print(f"{path.name}: not a spooled run ({type(exc).__name__}: {exc}); left "
                      f"in place", markup=False, soft_wrap=True)
            continue
        url = _url_for(destination, args.store)
        if url is None:
            failed += 1
            out.print(f"{path.name}: spooled without its destination (an older version): "
                      f"give the store with --store URL", markup=False, soft_wrap=True)
            continue
        by_url.setdefault(url, []).append((path, run))
    for url, runs in by_url.items():
        try:
            failed += _upload_to(url, runs, out)
        except FlakebenchError as exc:
            failed += len(runs)
            out.print(f"{len(runs)} run(s) not uploaded: {exc}", markup=False, soft_wrap=True)
    return 2 if failed else 0


def _upload_to(url: str, runs: list[tuple[Path, RunResult]], out: object) -> int:
    from rich.console import Console

    assert isinstance(out, Console)
    failed = 0
    with opened(url) as store:
        store.check()
        for path, run in runs:
            try:
                store.save_run(run)
            except StoreError as exc:
                if "already stored" not in str(exc):
                    failed += 1
                    out.print(f"{path.name}: not uploaded: {exc}", markup=False, soft_wrap=True)
                    continue
            path.unlink()
            out.print(f"uploaded run {run.run_id[:8]} ({run.test}) to {shown_url(url)}",
                      markup=False, soft_wrap=True)
    return failed
