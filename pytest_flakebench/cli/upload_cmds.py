"""``flakebench upload``: send runs spooled while the results store was unreachable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pytest_flakebench.cli.options import console, opened, store_url
from pytest_flakebench.errors import StoreError
from pytest_flakebench.results import RunResult
from pytest_flakebench.stores import shown_url

DEFAULT_SPOOL = Path(".flakebench") / "spool"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``upload``."""
    upload = sub.add_parser(
        "upload", help="store runs spooled when the results store was unreachable",
        description="Each spooled run (.flakebench/spool/RUN_ID.json) is saved in one "
                    "transaction and its file removed; a run already stored is skipped and "
                    "its file removed too. Nothing measured is lost.",
    )
    upload.add_argument("--store", metavar="URL", default=None,
                        help="results store (default: $FLAKEBENCH_STORE, else the SQLite "
                             "file .flakebench/flakebench.db)")
    upload.add_argument("--spool", metavar="DIR", type=Path, default=DEFAULT_SPOOL,
                        help=f"folder of spooled runs (default {DEFAULT_SPOOL})")
    upload.set_defaults(handler=run_upload)


def run_upload(args: argparse.Namespace) -> int:
    """Save every spooled run; exit 2 if any could not be saved."""
    files = sorted(Path(args.spool).glob("*.json"))
    out = console()
    if not files:
        out.print(f"no spooled runs in {args.spool}", markup=False)
        return 0
    url = store_url(args.store)
    failed = 0
    with opened(url) as store:
        store.check()
        for path in files:
            run = RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
            try:
                store.save_run(run)
            except StoreError as exc:
                if "already stored" not in str(exc):
                    failed += 1
                    out.print(f"{path.name}: not uploaded: {exc}", markup=False)
                    continue
            path.unlink()
            out.print(f"uploaded run {run.run_id[:8]} ({run.test}) to {shown_url(url)}",
                      markup=False, soft_wrap=True)
    return 2 if failed else 0
