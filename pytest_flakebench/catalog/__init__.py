"""Connections and templates kept in a results store (``CONNECTIONS``, ``TEST_TEMPLATES``).

One small interface, :class:`Catalog`, implemented once over a DB-API cursor
(:mod:`pytest_flakebench.catalog.sql`) for SQLite, PostgreSQL and Snowflake: each store's own
connection, placeholder style and transactions are reused. Nothing here decrypts: records carry
the sealed credentials and :mod:`pytest_flakebench.credentials` opens them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pytest_flakebench.errors import ConfigError

_TEMPLATE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One row of ``CONNECTIONS``: a redacted URL and the sealed password (if any)."""

    name: str
    kind: str
    url: str
    credentials: str | None = field(default=None, repr=False)
    key_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def has_password(self) -> bool:
        """Whether a sealed password is stored."""
        return bool(self.credentials)


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """One stored version of a template: its fields as JSON text."""

    name: str
    version: int
    config: str
    created_at: float


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    """One line of ``flakebench templates list``."""

    name: str
    latest: int
    versions: int
    updated_at: float


class Catalog(Protocol):
    """Stored connections and templates of one results store."""

    redacted_url: str

    def put_connection(self, record: ConnectionRecord, *, replace: bool = False) -> None:
        """Store ``record``; ``StoreError`` if the name exists and ``replace`` is False."""
        ...

    def get_connection(self, name: str) -> ConnectionRecord | None:
        """The connection called ``name``, or None."""
        ...

    def list_connections(self) -> list[ConnectionRecord]:
        """Every stored connection, by name."""
        ...

    def remove_connection(self, name: str) -> bool:
        """Forget connection ``name``; False if there was none."""
        ...

    def reseal_connections(self, reseal: Reseal) -> int:
        """Rewrite every record through ``reseal`` in one transaction (all or nothing)."""
        ...

    def push_template(self, name: str, config: str) -> int:
        """Store ``config`` (JSON text) as the next version of ``name``; return that version."""
        ...

    def get_template(self, name: str, version: int | None = None) -> TemplateVersion | None:
        """Version ``version`` of ``name`` (default: the latest), or None."""
        ...

    def list_templates(self) -> list[TemplateSummary]:
        """Every stored template with its latest version, by name."""
        ...

    def close(self) -> None:
        """Release the store's connections; never raises."""
        ...


class Reseal(Protocol):
    """A function from a stored record to its re-encrypted form."""

    def __call__(self, record: ConnectionRecord) -> ConnectionRecord:
        """The record sealed under another key."""
        ...


def check_template_name(name: str) -> str:
    """A template name: letters, digits, ``_ . -`` (up to 128 characters)."""
    if not _TEMPLATE_NAME_RE.fullmatch(name):
        raise ConfigError(f"template name {name!r} is not valid: use letters, digits, '_', '.' "
                          "and '-' (starting with a letter or digit)")
    return name


def open_catalog(url: str, *, base_dir: Path | None = None) -> Catalog:
    """The catalog of the results store at ``url`` (nothing is connected yet)."""
    from pytest_flakebench.catalog.sql import SqlCatalog
    from pytest_flakebench.stores import open_store

    return SqlCatalog(open_store(url, base_dir=base_dir))


__all__ = ["Catalog", "ConnectionRecord", "Reseal", "TemplateSummary", "TemplateVersion",
           "check_template_name", "open_catalog"]
