"""Which run a run is compared with: ``--flakebench-compare[=last|RUN|baseline:NAME]``.

``last`` (the default) is the newest earlier run of the same test on the same target whose
fingerprint matches; when no earlier run matches, the newest one is returned with the fields
that differ, so it can be reported as not comparable. ``RUN`` is a run id (or unique prefix) and
``baseline:NAME`` a named baseline (``flakebench baseline set NAME RUN``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pytest_flakebench.compare.comparable import Difference, differences
from pytest_flakebench.judge.results import RunResult

LAST = "last"
NAMED_PREFIX = "baseline:"


@dataclass(frozen=True, slots=True)
class BaselineRequest:
    """What ``--flakebench-compare`` asked for."""

    kind: Literal["last", "run", "named"]
    value: str = ""

    def label(self) -> str:
        """How the baseline is named in reports."""
        if self.kind == "last":
            return "last comparable run"
        if self.kind == "named":
            return f"baseline {self.value}"
        return f"run {self.value[:8]}"


def parse_request(text: str | None) -> BaselineRequest:
    """``None``/``""``/``last`` → last comparable; ``baseline:NAME``; anything else: a run id."""
    raw = (text or "").strip()
    if not raw or raw.lower() == LAST:
        return BaselineRequest("last")
    if raw.lower().startswith(NAMED_PREFIX):
        name = raw[len(NAMED_PREFIX):].strip()
        if not name:
            raise ValueError("--flakebench-compare=baseline:NAME needs a name, "
                             "e.g. baseline:nightly (see `flakebench baseline list`)")
        return BaselineRequest("named", name)
    if not all(ch.isalnum() or ch in "-_" for ch in raw):
        raise ValueError(f"--flakebench-compare={raw!r}: expected last, a run id, or "
                         f"baseline:NAME")
    return BaselineRequest("run", raw)


def target_identity(url: str) -> str:
    """A target as baselines see it: its redacted URL without the query string.

    Connection options (``?options=-c work_mem=…``) are settings, compared through the
    fingerprint; they do not make another target.
    """
    return url.split("?", 1)[0]


def same_series(candidate: RunResult, other: RunResult) -> bool:
    """Same test on the same target, and another run."""
    return (other.run_id != candidate.run_id and other.test == candidate.test
            and target_identity(other.target) == target_identity(candidate.target))


def pick_last_comparable(candidate: RunResult, previous: Iterable[RunResult],
                         ) -> tuple[RunResult | None, list[Difference]]:
    """The newest comparable earlier run; else the newest earlier one with its differences.

    ``previous`` is newest first; only COMPLETED runs of the same test on the same target that
    started before the candidate are considered.
    """
    first: tuple[RunResult, list[Difference]] | None = None
    for run in previous:
        if (not same_series(candidate, run) or run.status != "COMPLETED"
                or run.started_at > candidate.started_at):
            continue
        diffs = differences(run.fingerprint, candidate.fingerprint,
                            baseline_template=run.template, candidate_template=candidate.template)
        if not diffs:
            return run, []
        if first is None:
            first = (run, diffs)
    if first is None:
        return None, []
    return first


def comparable_history(candidate: RunResult, previous: Iterable[RunResult], *,
                       limit: int) -> list[RunResult]:
    """Up to ``limit`` newest earlier runs comparable with ``candidate`` (newest first)."""
    found: list[RunResult] = []
    for run in previous:
        if len(found) >= limit:
            break
        if (same_series(candidate, run) and run.status == "COMPLETED"
                and run.started_at <= candidate.started_at
                and not differences(run.fingerprint, candidate.fingerprint,
                                    baseline_template=run.template,
                                    candidate_template=candidate.template)):
            found.append(run)
    return found
