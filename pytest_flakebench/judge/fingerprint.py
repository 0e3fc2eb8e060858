"""A run's fingerprint: what must match for two runs to be comparable.

The fingerprint is a flat-ish JSON object stored with every run. Two runs are comparable when the
fields that change results are equal (see :mod:`pytest_flakebench.compare.comparable` for the
rules, e.g. the data size may drift a little because benchmarks insert rows). Labels that do not
change what is measured (the template's ``name``, its SLO and regression limits) are left out of
the template hash, and the load shape (connections, workers) is recorded as its own fields so a
difference can be named precisely. The driver's execution path (PostgreSQL ``lean`` or
``cursor``) is part of the client class (``client.path``): the same query costs the client
twice as much CPU on the cursor path.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from typing import Any

FINGERPRINT_VERSION = 2

# Template fields that are verdict rules or labels, not inputs of the measurement; the load
# shape (concurrency, workers) is fingerprinted separately as connections/workers.
_NOT_HASHED = frozenset({"name", "slo", "regression", "concurrency", "workers", "target",
                         "template_source", "client_path", "ab"})


def template_material(template: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved template that changes what is measured."""
    return {k: v for k, v in template.items() if k not in _NOT_HASHED}


def template_hash(template: dict[str, Any]) -> str:
    """A stable hash of the template fields that change what is measured."""
    canonical = json.dumps(template_material(template), sort_keys=True, separators=(",", ":"),
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _minor(version: str) -> str:
    """``3.11.9`` -> ``3.11``: patch releases do not change the client's speed class."""
    return ".".join(version.split(".")[:2])


def client_class(plugin_version: str, client_path: str | None = None) -> dict[str, Any]:
    """The load generator's class: cores, architecture, Python, plugin version, driver path."""
    found: dict[str, Any] = {
        "cpu_count": os.cpu_count() or 0,
        "machine": platform.machine(),
        "python": _minor(platform.python_version()),
        "plugin": _minor(plugin_version),
    }
    if client_path:
        found["path"] = client_path
    return found


def make_fingerprint(*, template: dict[str, Any], target_kind: str, server_version: str,
                     row_count: int, connections: int, workers: int,
                     plugin_version: str,
                     server_settings: dict[str, str] | None = None,
                     client_path: str | None = None) -> dict[str, Any]:
    """Everything that changes results beyond the code (and schema) under test.

    ``server_settings`` are the target's result-changing settings (PostgreSQL ``shared_buffers``,
    ``work_mem``, ``synchronous_commit``…; SQLite PRAGMAs), as the driver reported them.
    """
    return {
        "version": FINGERPRINT_VERSION,
        "template_hash": template_hash(template),
        "target_kind": target_kind,
        "server_version": server_version,
        "server_settings": dict(sorted((server_settings or {}).items())),
        "row_count": row_count,
        "connections": connections,
        "workers": workers,
        "client": client_class(plugin_version, client_path),
        "plugin_version": plugin_version,
    }
