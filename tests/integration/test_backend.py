"""stores.backend on the tests' own PostgreSQL cluster: a call rides out a restart (and the
outage is measured), gives up with one clear line after the stated time, and never retries
the first connection (an unreachable store at start is an error at once)."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_flakebench.errors import StoreError
from pytest_flakebench.stores.backend import PostgresBackend
from pytest_flakebench.stores.connections import Backoff, Connections
from tests.pgcluster import PgCluster

pytestmark = pytest.mark.postgres


def _select_one(conn: object) -> int:
    row = conn.execute("SELECT 1").fetchone()  # type: ignore[attr-defined]
    return int(row[0])


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    delays = Backoff(initial_s=0.1, factor=2.0, jitter=0.1, max_delay_s=1.0).delays()
    seen = [next(delays) for _ in range(8)]
    assert 0.09 <= seen[0] <= 0.11
    assert 0.18 <= seen[1] <= 0.22
    assert all(d <= 1.1 for d in seen)
    assert seen[-1] >= 0.9


def test_a_call_rides_out_a_restart(owned_pg_ctl: PgCluster) -> None:
    conns = Connections(PostgresBackend(owned_pg_ctl.dsn()), role="results store",
                        backoff=Backoff(give_up_s=30))
    try:
        started = time.time()
        assert conns.call("probe", _select_one) == 1
        blip = threading.Thread(target=owned_pg_ctl.restart, kwargs={"down_s": 1.0})
        blip.start()
        time.sleep(0.3)  # the server is going down or down
        assert conns.call("probe", _select_one) == 1  # reconnected, no error
        blip.join()
        assert conns.outage_s(started) > 0.5
    finally:
        conns.close()


def test_gives_up_after_the_stated_outage_with_one_line(owned_pg_ctl: PgCluster) -> None:
    conns = Connections(PostgresBackend(owned_pg_ctl.dsn()), role="control plane",
                        backoff=Backoff(give_up_s=1.0))
    try:
        assert conns.call("read", _select_one) == 1
        owned_pg_ctl.stop()
        t0 = time.monotonic()
        with pytest.raises(StoreError) as caught:
            conns.call("read", _select_one)
        waited = time.monotonic() - t0
        assert 0.9 <= waited < 10
        message = str(caught.value)
        assert "\n" not in message
        assert "(gave up after 1s)" in message
        with pytest.raises(StoreError):  # retry=False: at once
            conns.call("read", _select_one, retry=False)
    finally:
        conns.close()
        owned_pg_ctl.start()


def test_first_connection_is_not_retried() -> None:
    conns = Connections(PostgresBackend("postgresql://x@127.0.0.1:9/x?connect_timeout=2"),
                        role="results store", backoff=Backoff(give_up_s=30))
    t0 = time.monotonic()
    with pytest.raises(StoreError, match=r"results store postgresql://x@127\.0\.0\.1:9/x.* is "
                                         r"unreachable: .*is the server running\?"):
        conns.call("check", _select_one)
    assert time.monotonic() - t0 < 5
