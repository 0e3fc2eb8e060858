"""Drivers for the database under test, opened from a target URL.

``open_driver`` imports the driver module for the URL's scheme only when it is called, so that
importing this package (which the plugin does on every pytest run) never imports psycopg or any
other database client.
"""

from __future__ import annotations

from pathlib import Path

from pytest_flakebench.drivers.base import Dialect, Driver, DriverConnection, ErrorClass
from pytest_flakebench.errors import ConfigError
from pytest_flakebench.urls import redact_url, scheme_of

__all__ = ["Dialect", "Driver", "DriverConnection", "ErrorClass", "open_driver"]


def open_driver(url: str, *, base_dir: Path | None = None, password: str | None = None,
                table_type: str = "standard", client_path: str | None = None,
                run_tag: str | None = None) -> Driver:
    """Open the driver for ``url``; raise ``TargetError`` if the target cannot be reached.

    ``base_dir`` resolves relative ``sqlite:///`` paths (default: the current directory);
    ``password`` is used by PostgreSQL and Snowflake when the URL carries none (e.g. from a
    stored connection); ``table_type`` is the template's Snowflake table type; ``client_path``
    the template's PostgreSQL execution path (``lean``/``cursor``; None: the env switch);
    ``run_tag`` (the run id) labels every query of the driver's own connections, preflight
    included (Snowflake ``QUERY_TAG``).
    """
    scheme = scheme_of(url)
    if scheme == "postgresql":
        from pytest_flakebench.drivers.postgres import PostgresDriver

        return PostgresDriver(url, password=password, client_path=client_path)
    if scheme == "sqlite":
        from pytest_flakebench.drivers.sqlite import SqliteDriver

        return SqliteDriver(url, base_dir=base_dir)
    if scheme == "snowflake":
        from pytest_flakebench.drivers.snowflake import SnowflakeDriver

        return SnowflakeDriver(url, password=password, table_type=table_type, run_tag=run_tag)
    raise ConfigError(f"unsupported target {redact_url(url)}")
