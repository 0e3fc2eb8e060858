"""``flakebench store init URL``: create a results store's tables."""

from __future__ import annotations

import argparse

from pytest_flakebench.cli.options import console, opened
from pytest_flakebench.stores import shown_url
from pytest_flakebench.urls import scheme_of, sqlite_path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``store`` and its sub-commands."""
    store = sub.add_parser("store", help="manage a results store")
    actions = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init", help="create the results tables (idempotent)",
        description="Apply the DDL in sql/ to the store: schema flakebench on PostgreSQL, the "
                    "file (and its directory) for SQLite. Safe to run again.",
    )
    init.add_argument("url", metavar="URL", help="postgresql://user@host:port/db, "
                      "snowflake://user@account/DATABASE/SCHEMA?warehouse=WH or sqlite:///path.db")
    init.add_argument("--no-hybrid", action="store_true",
                      help="Snowflake: create the control tables as standard tables (accounts "
                           "or emulators without hybrid tables)")
    init.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace) -> int:
    """Apply the DDL and say what was done."""
    url: str = args.url
    scheme = scheme_of(url)
    with opened(url) as store:
        if scheme == "snowflake":
            from pytest_flakebench.stores.snowflake import SnowflakeStore

            assert isinstance(store, SnowflakeStore)
            store.init_schema(hybrid=not args.no_hybrid)
        else:
            store.init_schema()
        store.check()
    where = (f"file {sqlite_path(url)}" if scheme == "sqlite"
             else "schema flakebench" if scheme == "postgresql"
             else "standard control tables" if args.no_hybrid else "hybrid control tables")
    console().print(f"initialised results store {shown_url(url)} ({where}): tables "
                    "TEST_RESULTS, TEST_KIND_STATISTICS, WORKER_METRICS_SNAPSHOTS, STORE_META",
                    markup=False, soft_wrap=True)
    return 0
