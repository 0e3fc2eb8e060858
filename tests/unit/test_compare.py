"""The comparison core: Mann-Whitney U, thresholds, comparability, verdicts, false alarms."""

from __future__ import annotations

import random

import pytest

from pytest_flakebench.compare.baseline import parse_request, pick_last_comparable
from pytest_flakebench.compare.comparable import differences
from pytest_flakebench.compare.simulate import Profile, false_alarm_rate, synthetic_run
from pytest_flakebench.compare.stats import mann_whitney
from pytest_flakebench.compare.thresholds import ThresholdError, parse_spec
from pytest_flakebench.compare.verdict import compare_runs
from pytest_flakebench.fingerprint import make_fingerprint


def test_mann_whitney_exact_matches_known_values() -> None:
    # Fully separated samples of 5 and 5: p = 1 / C(10, 5) = 1/252, one-sided.
    r = mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert r.exact
    assert r.u == 25
    assert r.p_greater == pytest.approx(1 / 252)
    assert r.p_less == 1.0
    # Interleaved: no evidence either way.
    r = mann_whitney([1, 3, 5, 7], [2, 4, 6, 8])
    assert 0.2 < r.p_greater < 0.5


def test_mann_whitney_with_ties_uses_the_normal_approximation() -> None:
    r = mann_whitney([1, 1, 2, 2, 3, 3] * 3, [3, 3, 4, 4, 5, 5] * 3)
    assert not r.exact
    assert r.p_greater < 0.001
    assert mann_whitney([1.0] * 6, [1.0] * 6).p_greater == 1.0


def test_thresholds_parse_and_refuse_the_wrong_direction() -> None:
    found = parse_spec("p95:+10%, qps:-5%, error_rate:+0.5%")
    assert found["p95"].limit == pytest.approx(0.10)
    assert found["qps"].direction == -1
    assert found["error_rate"].limit == pytest.approx(0.005)
    with pytest.raises(ThresholdError, match=r"qps regresses when it falls.*-5%"):
        parse_spec("qps:+5%")
    with pytest.raises(ThresholdError, match="unknown regression metric 'p97'"):
        parse_spec("p97:+5%")
    with pytest.raises(ThresholdError, match="percentage"):
        parse_spec("p95:10ms")


def _fp(**changes: object) -> dict[str, object]:
    base = make_fingerprint(template={"target": "x", "table": "t", "mix": {"a": 100},
                                      "concurrency": 4, "slo": {}},
                            target_kind="postgresql", server_version="PostgreSQL 16.1",
                            row_count=10_000, connections=4, workers=1, plugin_version="0.1.0",
                            server_settings={"work_mem": "4MB", "synchronous_commit": "on"})
    base.update(changes)
    return base


def test_differences_name_the_fields() -> None:
    assert differences(_fp(), _fp()) == []
    assert differences(_fp(), _fp(row_count=11_000)) == []  # inserts make tables grow a bit
    (d,) = differences(_fp(), _fp(connections=8))
    assert d.field == "connections"
    assert d.describe() == "connections 4 → 8"
    settings = {"work_mem": "64MB", "synchronous_commit": "on"}
    (d,) = differences(_fp(), _fp(server_settings=settings))
    assert d.field == "server_settings.work_mem"
    assert [x.field for x in differences(_fp(), _fp(row_count=100_000))] == ["row_count"]


def test_template_differences_are_named_field_by_field() -> None:
    t1 = {"target": "x", "table": "t", "mix": {"a": 100}, "duration": 10.0, "slo": {}}
    t2 = {**t1, "duration": 20.0, "slo": {"p95": 5}}  # the SLO is a verdict rule, not an input
    fp1 = make_fingerprint(template=t1, target_kind="sqlite", server_version="3", row_count=1,
                           connections=1, workers=1, plugin_version="0.1.0")
    fp2 = make_fingerprint(template=t2, target_kind="sqlite", server_version="3", row_count=1,
                           connections=1, workers=1, plugin_version="0.1.0")
    found = differences(fp1, fp2, baseline_template=t1, candidate_template=t2)
    assert [d.field for d in found] == ["template.duration"]


def test_regression_is_detected_with_its_delta() -> None:
    rng = random.Random(7)
    base = synthetic_run(rng, run_id="base")
    slow = synthetic_run(rng, Profile(slowdown=1.6), run_id="slow", started_at=1_700_000_100.0)
    c = compare_runs(base, slow, parse_spec("p95:+20%"))
    assert c.verdict == "REGRESSED"
    assert c.regressed
    p95 = next(m for m in c.metrics if m.metric == "p95")
    assert p95.change > 0.2
    assert p95.p_value is not None
    assert p95.p_value < 0.01
    fast = compare_runs(slow, base, parse_spec("p95:+20%"))
    assert fast.verdict == "IMPROVED"
    assert not fast.regressed


def test_too_few_seconds_is_inconclusive() -> None:
    rng = random.Random(3)
    base = synthetic_run(rng, Profile(seconds=3), run_id="a")
    slow = synthetic_run(rng, Profile(seconds=3, slowdown=2.0), run_id="b")
    c = compare_runs(base, slow, parse_spec("p95:+20%"))
    assert c.verdict == "INCONCLUSIVE"
    assert not c.regressed
    assert "too few per-second samples" in next(m.reason for m in c.metrics if m.metric == "p95")


def test_not_comparable_is_never_compared() -> None:
    rng = random.Random(5)
    base = synthetic_run(rng, run_id="a")
    other = synthetic_run(rng, Profile(connections=8, slowdown=3.0), run_id="b",
                          fingerprint={**base.fingerprint, "connections": 8})
    c = compare_runs(base, other, parse_spec("p95:+10%"))
    assert c.verdict == "NOT COMPARABLE"
    assert not c.regressed
    assert not c.metrics
    assert [d.field for d in c.differences] == ["connections"]


def test_last_comparable_skips_other_fingerprints() -> None:
    rng = random.Random(9)
    cand = synthetic_run(rng, run_id="cand", started_at=1_700_000_900.0)
    older = synthetic_run(rng, run_id="older", started_at=1_700_000_100.0)
    newer_other = synthetic_run(rng, run_id="newer", started_at=1_700_000_500.0,
                                fingerprint={**cand.fingerprint, "workers": 2})
    found, diffs = pick_last_comparable(cand, [newer_other, older])
    assert found is not None
    assert found.run_id == "older"
    assert diffs == []
    found, diffs = pick_last_comparable(cand, [newer_other])
    assert found is not None
    assert found.run_id == "newer"
    assert [d.field for d in diffs] == ["workers"]


def test_compare_requests() -> None:
    assert parse_request(None).kind == "last"
    assert parse_request("baseline:nightly").value == "nightly"
    assert parse_request("1a2b3c").kind == "run"
    with pytest.raises(ValueError, match="baseline:NAME"):
        parse_request("baseline:")


def test_false_alarm_rate_of_unchanged_runs() -> None:
    """Pairs of runs from one distribution (with second-to-second and run-to-run drift):
    none may be REGRESSED under a 20% p95 gate. ``python benchmarks/compare_false_alarm.py``
    measures it over more pairs and thresholds."""
    regressed, _pairs, counts = false_alarm_rate(40, spec="p95:+20%", seed=11)
    assert regressed == 0, counts


def test_power_against_a_real_slowdown() -> None:
    regressed, _pairs, counts = false_alarm_rate(20, spec="p95:+20%", seed=12,
                                                candidate=Profile(slowdown=1.5))
    assert regressed >= 18, counts
