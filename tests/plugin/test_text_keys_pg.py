"""Text keys on a real PostgreSQL table: the whole key set is drawn from, ``latest`` reads the
keys the run inserted, and one seed inserts the same keys."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.postgres

ROWS = 100_000


@pytest.fixture
def text_dsn(owned_pg: object) -> str:
    """The tests' own cluster (fsync and synchronous_commit off: updates are CPU-bound)."""
    return str(owned_pg.dsn("text_keys"))  # type: ignore[attr-defined]


@pytest.fixture
def users(text_dsn: str) -> Iterator[str]:
    """``users(id text primary key, field0..2 varchar(100))`` with 100,000 rows k000001…"""
    import psycopg

    name = f"fb_users_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(text_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id text PRIMARY KEY, field0 varchar(100), "
                     f"field1 varchar(100), field2 varchar(100))")
        conn.execute(f"INSERT INTO {name} SELECT 'k' || lpad(g::text, 6, '0'), 'init', 'init', "
                     f"'init' FROM generate_series(1, {ROWS}) g")
        conn.execute(f"ANALYZE {name}")
        try:
            yield name
        finally:
            conn.execute(f"DROP TABLE IF EXISTS {name}")


def _run(pytester: pytest.Pytester, dsn: str, table: str, name: str, **fields: object) -> dict:
    keywords = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    pytester.makepyfile(**{f"test_{name}": f"""
import pytest

@pytest.mark.flakebench(target={dsn!r}, table={table!r}, {keywords})
def test_{name}():
    pass
"""})
    result = pytester.runpytest_subprocess(f"test_{name}.py", "--flakebench", "-p",
                                           "no:cacheprovider", f"--flakebench-json={name}.json")
    result.assert_outcomes(passed=1)
    run: dict = json.loads((pytester.path / f"{name}.json").read_text())["runs"][0]
    return run


def test_updates_reach_the_whole_key_set(pytester: pytest.Pytester, text_dsn: str,
                                         users: str) -> None:
    import psycopg

    run = _run(pytester, text_dsn, users, "updates", mix={"update": 100}, concurrency=2,
               duration="3s", warmup="0.5s", update_columns=["field0"], value_size=100)
    update = run["kinds"]["update"]
    ops = update["ops"] + update["warmup_ops"]
    assert ops >= 5_000, ops
    with psycopg.connect(text_dsn) as conn:
        touched = conn.execute(f"SELECT count(*) FROM {users} WHERE field0 <> 'init'"
                               ).fetchone()[0]
        width = conn.execute(f"SELECT max(length(field0)) FROM {users}").fetchone()[0]
    # uniform draws over all 100,000 keys touch 100k·(1 − e^(−ops/100k)) distinct keys;
    # a 10,000-key sample (as before) could touch 10,000 at most
    expected = ROWS * (1 - math.exp(-ops / ROWS))
    print(f"updates {ops}, distinct keys touched {touched}, expected {expected:.0f}")
    assert touched >= 0.95 * expected, (touched, expected, ops)
    if ops >= 20_000:
        assert touched >= 15_000
    assert width == 100
    assert update["misses"] == 0


def test_latest_reads_inserted_text_keys_and_one_seed_inserts_the_same(
        pytester: pytest.Pytester, text_dsn: str, users: str) -> None:
    import psycopg

    fields = {"mix": {"point_lookup": 50, "insert": 50}, "keys": "latest", "concurrency": 1,
                  "duration": "1s", "warmup": "0s", "seed": 7, "new_key": "user{n:012d}"}
    inserted = []
    for attempt in ("one", "two"):
        run = _run(pytester, text_dsn, users, attempt, **fields)
        assert run["kinds"]["point_lookup"]["misses"] == 0
        with psycopg.connect(text_dsn, autocommit=True) as conn:
            rows = conn.execute(f"SELECT id FROM {users} WHERE id LIKE 'user%' ORDER BY id"
                                ).fetchall()
            conn.execute(f"DELETE FROM {users} WHERE id LIKE 'user%'")
        inserted.append([r[0] for r in rows])
    one, two = inserted
    assert one
    assert two
    short, long_ = sorted((one, two), key=len)
    assert long_[:len(short)] == short  # one thread, one seed: the same keys, in order
    assert all(k == f"user{i:012d}" for i, k in enumerate(long_))
