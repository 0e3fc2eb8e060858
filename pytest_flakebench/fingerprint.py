"""A run's fingerprint: what must match for two runs to be comparable."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from typing import Any


def template_hash(template: dict[str, Any]) -> str:
    """A stable hash of the resolved template, ignoring its name (a label, not a setting)."""
    material = {k: v for k, v in template.items() if k != "name"}
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def make_fingerprint(*, template: dict[str, Any], target_kind: str, server_version: str,
                     row_count: int, connections: int, workers: int,
                     plugin_version: str) -> dict[str, Any]:
    """Everything that changes results beyond the code under test."""
    return {
        "template_hash": template_hash(template),
        "target_kind": target_kind,
        "server_version": server_version,
        "row_count": row_count,
        "connections": connections,
        "workers": workers,
        "client": {
            "cpu_count": os.cpu_count() or 0,
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "plugin_version": plugin_version,
    }
