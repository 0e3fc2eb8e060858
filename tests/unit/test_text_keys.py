"""Non-integer keys: the whole key set drawn from, ``latest`` over new keys, seeded new keys."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from pytest_flakebench.identifiers import TableName
from pytest_flakebench.profile import Column, TableInfo, TableProfile
from pytest_flakebench.template.model import Template
from pytest_flakebench.workload.context import ThreadContext
from pytest_flakebench.workload.plans import build_plans

KEY = Column("id", "text", "text", nullable=False, has_default=False)
FIELDS = tuple(Column(f"field{i}", "character varying(100)", "text", nullable=True,
                      has_default=False, max_length=100) for i in range(3))
INFO = TableInfo(table=TableName.parse("users"), columns=(KEY, *FIELDS), primary_key=("id",))
PROFILE = TableProfile(info=INFO, key_column=KEY, key_min=None, key_max=None, row_count=1000)
POOL: list[object] = [f"k{i:05d}" for i in range(1000)]


def _template(**fields: object) -> Template:
    base: dict[str, object] = {"target": "sqlite:///x.db", "table": "users",
                               "mix": {"point_lookup": 50, "insert": 50}}
    base.update(fields)
    return Template.model_validate(base)


def _plans(template: Template) -> dict:  # type: ignore[type-arg]
    return build_plans(template, PROFILE, dialect="postgresql", paramstyle="format",
                       key_pool=list(POOL))


def test_uniform_lookups_cover_the_whole_pool() -> None:
    plans = _plans(_template())
    ctx = ThreadContext(seed=1, global_index=0, stride=1)
    drawn = {plans["point_lookup"].make_params(ctx)[0] for _ in range(20_000)}
    assert len(drawn) >= 990  # 1000 keys, 20 draws each on average


def test_latest_reads_the_keys_this_run_inserted() -> None:
    plans = _plans(_template(keys="latest", new_key="u{n:06d}"))
    insert, lookup = plans["insert"], plans["point_lookup"]
    ctx = ThreadContext(seed=1, global_index=0, stride=1)
    new = []
    for _ in range(200):
        new.append(insert.make_params(ctx)[0])
        assert insert.after_ok is not None
        insert.after_ok(ctx)  # the insert succeeded: its key now exists
    drawn = Counter(lookup.make_params(ctx)[0] for _ in range(5_000))
    inserted_share = sum(n for key, n in drawn.items() if key in set(new)) / 5_000
    assert inserted_share > 0.5, inserted_share  # the newest keys are the hottest
    assert drawn.most_common(1)[0][0] == new[-1]
    assert set(drawn) <= set(POOL) | set(new)  # never a key that was not written


def test_new_keys_are_seeded_and_follow_the_pattern() -> None:
    def first_keys(seed: int, **fields: object) -> list[object]:
        plans = _plans(_template(seed=seed, **fields))
        ctx = ThreadContext(seed=seed, global_index=3, stride=4)
        return [plans["insert"].make_params(ctx)[0] for _ in range(5)]

    assert first_keys(7) == first_keys(7)
    assert first_keys(7) != first_keys(8)
    shaped = first_keys(7, new_key="user{n:012d}")
    # the stripe: thread 3 of 4 takes ordinals 3, 7, 11…, never another thread's
    assert shaped == [f"user{n:012d}" for n in (3, 7, 11, 15, 19)]


def test_value_size_and_update_columns() -> None:
    plans = _plans(_template(mix={"insert": 50, "update": 50}, value_size=100,
                             update_columns=["field0", "field2"]))
    ctx = ThreadContext(seed=1, global_index=0, stride=1)
    params = plans["insert"].make_params(ctx)
    assert [len(str(v)) for v in params[1:]] == [100, 100, 100]
    assert re.search(r'SET "field0" = %s, "field2" = %s WHERE', plans["update"].sql)
    default = _plans(_template(mix={"update": 100}))["update"]
    # by default one column per operation, chosen among the non-key columns
    assert default.sql.count("CASE WHEN") == 3
    chosen = Counter(default.make_params(ctx)[0] for _ in range(3_000))
    assert set(chosen) == {0, 1, 2}
    assert min(chosen.values()) > 800


@pytest.mark.parametrize(("fields", "needle"), [
    ({"new_key": "user{}"}, "one field {n}"),
    ({"new_key": "user{n:zz}"}, "does not format an integer"),
    ({"update_columns": []}, "at least one column"),
    ({"update_columns": ["a", "A"]}, "twice"),
    ({"value_size": 0}, "value_size"),
])
def test_bad_write_fields_are_refused(fields: dict[str, object], needle: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=re.escape(needle)):
        _template(**fields)
