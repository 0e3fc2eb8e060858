"""Whether two runs may be compared: their fingerprints must agree on what changes results.

A difference is named by its field (``connections``, ``server_settings.work_mem``,
``template.mix``…) with both values, so a run is reported "not comparable: connections 4 → 8"
instead of being silently compared. The data size may drift (benchmarks insert rows), so row
counts are compared with a tolerance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_flakebench.judge.fingerprint import template_material

ROW_COUNT_TOLERANCE = 0.25  # relative drift of the table's row count still comparable

# Compared exactly, in this order; nested dicts are compared key by key.
EXACT_FIELDS: tuple[str, ...] = (
    "version", "target_kind", "server_version", "server_settings", "connections", "workers",
    "client", "user",  # "user": fields added by pytest_flakebench_fingerprint hooks
)


@dataclass(frozen=True, slots=True)
class Difference:
    """One field on which two fingerprints disagree."""

    field: str
    baseline: Any
    candidate: Any

    def describe(self) -> str:
        """``connections 4 → 8``."""
        return f"{self.field} {_shown(self.baseline)} → {_shown(self.candidate)}"


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _nested(name: str, base: Any, cand: Any) -> list[Difference]:
    if isinstance(base, Mapping) and isinstance(cand, Mapping):
        found: list[Difference] = []
        for key in sorted(set(base) | set(cand)):
            found.extend(_nested(f"{name}.{key}", base.get(key), cand.get(key)))
        return found
    return [] if base == cand else [Difference(name, base, cand)]


def differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any], *,
                baseline_template: Mapping[str, Any] | None = None,
                candidate_template: Mapping[str, Any] | None = None) -> list[Difference]:
    """Every result-changing field on which the fingerprints differ (empty: comparable).

    With both resolved templates, a template difference is named field by field
    (``template.duration``) instead of as a hash.
    """
    found: list[Difference] = []
    for name in EXACT_FIELDS:
        found.extend(_nested(name, baseline.get(name), candidate.get(name)))
    base_rows, cand_rows = baseline.get("row_count"), candidate.get("row_count")
    if not _rows_close(base_rows, cand_rows):
        found.append(Difference("row_count", base_rows, cand_rows))
    if baseline.get("template_hash") != candidate.get("template_hash"):
        named: list[Difference] = []
        if baseline_template is not None and candidate_template is not None:
            named = _nested("template", template_material(dict(baseline_template)),
                            template_material(dict(candidate_template)))
        found.extend(named or [Difference("template_hash", baseline.get("template_hash"),
                                          candidate.get("template_hash"))])
    return found


def _rows_close(base: Any, cand: Any) -> bool:
    if not isinstance(base, int) or not isinstance(cand, int):
        return bool(base == cand)
    if base == cand:
        return True
    largest = max(abs(base), abs(cand), 1)
    return abs(base - cand) / largest <= ROW_COUNT_TOLERANCE
