"""What every ``flakebench`` sub-command shares: the store URL, the console, the store and its
catalog opened for one command, and listings printed as tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from rich.console import Console

from pytest_flakebench.catalog import Catalog, open_catalog
from pytest_flakebench.rootdir import project_root
from pytest_flakebench.stores import DEFAULT_STORE_URL, ResultStore, open_store
from pytest_flakebench.urls import sqlite_path

STORE_ENV = "FLAKEBENCH_STORE"
# Rich falls back to 80 columns when stdout is not a terminal (CI logs, pipes, tests), which
# folds run tables into unreadable cells; logs are wide, so use a wider page there (at least
# _MIN_PIPE_WIDTH even if COLUMNS, often inherited from a narrow terminal, says less).
_PIPE_WIDTH = 160
_MIN_PIPE_WIDTH = 120


def store_url(option: str | None) -> str:
    """``--store``, else ``$FLAKEBENCH_STORE``, else the default SQLite file.

    ``--store`` is taken as typed (a relative SQLite path is relative to the current
    directory, as for any command-line path). The environment's and the default store's
    relative SQLite paths are anchored at the project's rootdir, as pytest anchors them, so
    ``flakebench runs`` finds what ``pytest --flakebench`` stored from anywhere in the project.
    """
    if option:
        return option
    url = os.environ.get(STORE_ENV) or DEFAULT_STORE_URL
    if url.lower().startswith("sqlite:///") and not url.startswith("sqlite:////"):
        query = url[url.index("?"):] if "?" in url else ""
        return f"sqlite:///{sqlite_path(url, base=project_root())}{query}"
    return url


def console() -> Console:
    """A console on the current ``sys.stdout`` (so pytest's capsys sees it)."""
    out = sys.stdout
    width = None
    if not out.isatty():
        try:
            width = max(int(os.environ.get("COLUMNS", _PIPE_WIDTH)), _MIN_PIPE_WIDTH)
        except ValueError:
            width = _PIPE_WIDTH
    return Console(file=out, width=width, highlight=False, soft_wrap=False)


@contextmanager
def opened(url: str) -> Iterator[ResultStore]:
    """The store at ``url``, closed on the way out."""
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def catalog_opened(url: str) -> Iterator[Catalog]:
    """The catalog (stored connections and templates) of the store at ``url``, closed on the
    way out."""
    catalog = open_catalog(url)
    try:
        yield catalog
    finally:
        catalog.close()


def print_listing(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], *,
                  none: str) -> None:
    """``rows`` as a table titled ``title``, or the line ``none`` when there are none."""
    from rich.table import Table

    out = console()
    if not rows:
        out.print(none, markup=False)
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def utc_text(epoch_s: float) -> str:
    """``2024-11-27 03:41:00Z``: stored times are UTC, and say so."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
