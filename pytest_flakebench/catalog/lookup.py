"""What a test run looks up in the catalog: a stored connection for a target name, and a
stored template for ``template="store:NAME[@VERSION]"``.

A SQLite store file that does not exist yet is not created by a lookup: it holds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flakebench.catalog import Catalog, open_catalog
from pytest_flakebench.errors import TemplateError
from pytest_flakebench.stores import shown_url
from pytest_flakebench.urls import scheme_of, sqlite_path

STORE_PREFIX = "store:"


@dataclass(frozen=True, slots=True)
class StoredTarget:
    """A stored connection, decrypted: its URL and password (never shown)."""

    name: str
    url: str
    password: str | None = field(default=None, repr=False)


def _catalog(store_url: str, base_dir: Path | None) -> Catalog | None:
    if scheme_of(store_url) == "sqlite" and not sqlite_path(store_url, base=base_dir).is_file():
        return None
    return open_catalog(store_url, base_dir=base_dir)


def stored_target(name: str, *, store_url: str, base_dir: Path | None = None
                  ) -> StoredTarget | None:
    """Connection ``name`` from the store, its password decrypted; None if not stored."""
    from pytest_flakebench.credentials import key_from_env, open_sealed

    catalog = _catalog(store_url, base_dir)
    if catalog is None:
        return None
    try:
        record = catalog.get_connection(name)
    finally:
        catalog.close()
    if record is None:
        return None
    password = None
    if record.credentials:
        key = key_from_env(purpose=f"decrypt the credentials of connection {name!r}")
        password = open_sealed(key, name, record.credentials, record_key_id=record.key_id or "")
    return StoredTarget(name=name, url=record.url, password=password)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``store:NAME`` or ``store:NAME@VERSION`` → ``(NAME, VERSION or None)``."""
    from pytest_flakebench.catalog import check_template_name

    body = ref[len(STORE_PREFIX):] if ref.startswith(STORE_PREFIX) else ref
    name, sep, raw = body.partition("@")
    version: int | None = None
    if sep:
        if not raw.isdigit() or int(raw) < 1:
            raise TemplateError(f"template={ref!r}: the version after '@' must be a positive "
                                "integer, e.g. store:NAME@3")
        version = int(raw)
    try:
        check_template_name(name)
    except ValueError as exc:
        raise TemplateError(f"template={ref!r}: {exc}") from None
    return name, version


def stored_template(ref: str, *, store_url: str | None, base_dir: Path | None = None
                    ) -> tuple[dict[str, Any], str]:
    """The fields of ``store:NAME[@VERSION]`` and its source, ``store:NAME@VERSION``."""
    name, version = parse_ref(ref)
    wanted = f"{name}@{version}" if version is not None else f"{name} (latest version)"
    if store_url is None:
        raise TemplateError(f"template={ref!r}: no results store is configured "
                            "(--flakebench-store=none): stored templates need one")
    shown = shown_url(store_url)
    catalog = _catalog(store_url, base_dir)
    found = None
    if catalog is not None:
        try:
            found = catalog.get_template(name, version)
        finally:
            catalog.close()
    if found is None:
        raise TemplateError(f"template={ref!r}: no stored template {wanted} in results store "
                            f"{shown}: push it with `flakebench templates push FILE --name "
                            f"{name} --store {shown}`")
    try:
        data = json.loads(found.config)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise TemplateError(f"template={ref!r}: stored template {name}@{found.version} in "
                            f"{shown} is not a JSON object of template fields")
    return data, f"{STORE_PREFIX}{name}@{found.version}"
