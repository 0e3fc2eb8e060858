"""Results stores: ``open_store(url)`` picks the implementation from the URL's scheme.

Implementations are imported inside :func:`open_store` so that importing this package (which the
pytest plugin does for every session) never imports a database driver such as psycopg.
"""

from __future__ import annotations

from pathlib import Path

from pytest_flakebench.errors import ConfigError
from pytest_flakebench.stores.base import ResultStore, RunRow
from pytest_flakebench.urls import redact_url, scheme_of

DEFAULT_STORE_URL = "sqlite:///.flakebench/flakebench.db"

__all__ = ["DEFAULT_STORE_URL", "ResultStore", "RunRow", "open_store", "shown_url"]


def shown_url(url: str) -> str:
    """The form of a store URL that may be printed: redacted, SQLite paths kept intact.

    ``urls.redact_url`` rebuilds URLs with ``urlunsplit``, which turns ``sqlite:///rel.db`` into
    ``sqlite:/rel.db`` (and ``sqlite:////abs.db`` into ``sqlite://abs.db``); a SQLite URL has no
    credentials, so only its query string (which could carry anything) is dropped.
    """
    if url.lower().startswith("sqlite:"):
        return url.split("?", 1)[0]
    return redact_url(url)


def open_store(url: str, *, base_dir: Path | None = None,
               give_up_s: float | None = None) -> ResultStore:
    """The store at ``url``; nothing is connected yet.

    ``base_dir`` anchors relative SQLite paths (default: the current directory); ``give_up_s``
    is how long a server store's outage is ridden out (default ``stores.connections.GIVE_UP_S``).
    Raises ``ConfigError`` for an unsupported URL.
    """
    scheme = scheme_of(url)
    if scheme == "sqlite":
        from pytest_flakebench.stores.sqlite import SQLiteStore

        return SQLiteStore(url, base_dir=base_dir)
    if scheme == "postgresql":
        from pytest_flakebench.stores.postgres import PostgresStore

        if give_up_s is None:
            return PostgresStore(url)
        return PostgresStore(url, give_up_s=give_up_s)
    if scheme == "snowflake":
        from pytest_flakebench.stores.snowflake import SnowflakeStore

        return SnowflakeStore(url)
    raise ConfigError(f"results store {shown_url(url)}: unsupported scheme {scheme}")
