"""One benchmark with xdist workers on two hosts over ssh (tests/hosts.py), as the README's
multi-host section says to run it."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.hosts import NamespaceHosts
from tests.multihost.conftest import HostsDb

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

BENCH = """
import pytest

@pytest.mark.flakebench(target="{target}", table="{table}", mix={{"point_lookup": 100}},
                        concurrency=4, duration="{duration}", warmup="0.5s",
                        mode="qps", qps=2000, slo={{"max_late": "100%"}})
def test_point_lookups_from_two_hosts():
    pass
"""


def _args(hosts: NamespaceHosts, db: HostsDb, python: str, where: Path) -> list[str]:
    args = ["--flakebench", "-p", "no:cacheprovider", "--dist", "load",
            f"--flakebench-store={db.store}", "--flakebench-json=out.json"]
    for host in hosts.hosts:
        args += ["--tx", hosts.tx(host, python=python, chdir=where)]
    return args


def test_two_hosts_one_report_connections_split_histograms_exact(
        pytester: pytest.Pytester, hosts: NamespaceHosts, hosts_db: HostsDb,
        python: str) -> None:
    import psycopg

    from pytest_flakebench.histogram import LatencyHistogram

    pytester.makepyfile(test_hosts=BENCH.format(target=hosts_db.target, table=hosts_db.table,
                                                duration="5s"))
    result = pytester.runpytest_subprocess(*_args(hosts, hosts_db, python, pytester.path),
                                           timeout=180)
    result.assert_outcomes(passed=1)
    # one report: one test line, one JSON entry
    assert result.stdout.str().count("test_point_lookups_from_two_hosts PASSED") <= 1
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["status"] == "COMPLETED"
    workers = run["workers"]
    assert sorted(w["host"] for w in workers) == sorted(h.name for h in hosts.hosts)
    assert sum(w["connections"] for w in workers) == 4
    assert all(w["connections"] == 2 for w in workers)
    # The rate is split over the hosts by their connections (1,000/s each; lateness is not
    # judged here: CI once saw 1.5% late against the 1% default), so each host's
    # share of the operations is a product property, not the luck of the CPU scheduler (a
    # closed loop on this 2-core machine once gave 78% of one host's ops to the other).
    ops = [w["ops"] for w in workers]
    assert min(ops) >= 0.8 * max(ops), ops
    assert run["overall"]["dropped"] == 0, run["overall"]  # both hosts kept the rate
    windows = run["samples"]["workers"]
    assert len(windows) == 2, sorted(windows)
    for name, columns in windows.items():  # columns: {"t": [...], "ops": [...], ...}
        busy = [n for n in columns["ops"] if n > 0]
        assert len(columns["ops"]) >= 15, (name, columns)
        assert len(busy) >= 0.9 * len(columns["ops"]), (name, columns)
    assert sum(ops) == run["overall"]["ops"]
    merged = LatencyHistogram()
    for w in workers:
        merged.add(LatencyHistogram.decode(w["histogram"]))
    for q in (50.0, 95.0, 99.0):
        assert merged.percentile_us(q) == run["overall"][f"p{int(q)}_us"]
    # the store names the hosts too: one row per worker beside the parent
    with psycopg.connect(hosts_db.local_store) as conn:
        stored = conn.execute("SELECT host FROM flakebench.test_results "
                              "WHERE parent_run_id = %s", (run["run_id"],)).fetchall()
    assert sorted(h for (h,) in stored) == sorted(h.name for h in hosts.hosts)


CUT_BENCH = """
import pytest

@pytest.mark.flakebench(target="{target}", table="{table}", mix={{"logged_lookup": 100}},
                        queries={{"logged_lookup": {{"sql": "SELECT fb_logged_op(?)",
                                                    "operation": "write",
                                                    "params": [{{"key": True}}]}}}},
                        concurrency=4, duration="{duration}", warmup="0.5s")
def test_one_host_cut():
    pass
"""

OUTAGE_S, DRAIN_S, DEAD_S = 1.0, 5.0, 2.0  # drain: room for the survivor on a busy host


def _start_logged_run(pytester: pytest.Pytester, hosts: NamespaceHosts, db: HostsDb,
                      python: str, duration: str) -> subprocess.Popen[str]:
    """Start CUT_BENCH on both hosts, each operation logged by the target in ``fb_oplog``
    (client address, time), and return once the target sees both hosts' load."""
    import psycopg

    with psycopg.connect(db.local, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS fb_oplog (addr inet, at timestamptz)")
        conn.execute("TRUNCATE fb_oplog")
        conn.execute("CREATE OR REPLACE FUNCTION fb_logged_op(k bigint) RETURNS bigint "
                     "LANGUAGE sql VOLATILE AS $$ INSERT INTO fb_oplog "
                     "VALUES (inet_client_addr(), clock_timestamp()); SELECT k $$")
    pytester.makepyfile(test_cut=CUT_BENCH.format(target=db.target, table=db.table,
                                                  duration=duration))
    args = [*_args(hosts, db, python, pytester.path), "--max-worker-restart=0",
            f"--flakebench-dead-after={DEAD_S}", f"--flakebench-drain-timeout={DRAIN_S}",
            f"--flakebench-store-outage={OUTAGE_S}"]
    proc = subprocess.Popen([python, "-m", "pytest", *args], cwd=pytester.path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with psycopg.connect(db.local) as conn:
            seen = conn.execute("SELECT count(DISTINCT addr) FROM fb_oplog").fetchone()
        if seen == (2,):
            return proc
        time.sleep(0.2)
    proc.kill()
    proc.communicate()
    pytest.fail("the load never started on both hosts")


def test_a_cut_host_is_dead_the_run_partial_and_its_worker_stops_on_its_own(
        pytester: pytest.Pytester, hosts: NamespaceHosts, hosts_db: HostsDb,
        python: str) -> None:
    """Link down in one host's namespace 2 s into the measurement: that worker is declared
    dead, the run is PARTIAL with the other host's data, and the cut worker stops loading on
    its own: once the link is back, the target sees no operation from that host (every
    operation logs its client address and time through a function on the target)."""
    import psycopg

    from pytest_flakebench.drivers.pgnet import DEAD_LINK_S

    keep, cut = hosts.hosts
    proc = _start_logged_run(pytester, hosts, hosts_db, python, "8s")
    try:
        # cut 2 s into the measurement (the load on both hosts has begun)
        time.sleep(2.5)
        hosts.cut(cut)
        cut_at = time.time()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Whatever the cut worker does, it does by itself: give it the outage, the drain timeout
    # and a dead link's detection time, then bring the link back and watch.
    time.sleep(max(0.0, cut_at + OUTAGE_S + DRAIN_S + DEAD_LINK_S + 2 - time.time()))
    hosts.heal(cut)
    healed_at = time.time()
    time.sleep(4)
    with psycopg.connect(hosts_db.local) as conn:
        after_heal = conn.execute(
            "SELECT count(*) FROM fb_oplog WHERE addr = %s AND at > to_timestamp(%s)",
            (cut.address, healed_at)).fetchone()
        kept_after_cut = conn.execute(
            "SELECT count(*) FROM fb_oplog WHERE addr = %s AND at > to_timestamp(%s)",
            (keep.address, cut_at + 1)).fetchone()
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["status"] == "PARTIAL", out[-3000:]
    assert any(cut.name in m for m in run["messages"]), run["messages"]
    assert [w["host"] for w in run["workers"]] == [keep.name], run["messages"]
    assert run["overall"]["ops"] == run["workers"][0]["ops"] > 0
    assert kept_after_cut[0] > 0  # the other host went on measuring
    assert after_heal == (0,), f"the cut host went on loading the target: {after_heal}"


def test_a_worker_cut_off_from_the_control_plane_stops_loading_on_its_own(
        pytester: pytest.Pytester, hosts: NamespaceHosts, hosts_db: HostsDb,
        python: str) -> None:
    """One host loses the control plane alone (a blackhole route to the store's address) but
    still reaches the target: its worker must stop loading within the drain timeout once the
    outage it may ride out is over, not at the safety margin after the planned end. The
    target's own log of every operation (client address, time) says when it stopped."""
    import psycopg

    from pytest_flakebench.drivers.pgnet import DEAD_LINK_S

    keep, cut = hosts.hosts
    proc = _start_logged_run(pytester, hosts, hosts_db, python, "20s")
    try:
        time.sleep(1.5)
        hosts.block(cut, hosts.second)
        cut_at = time.time()
        out, _ = proc.communicate(timeout=120)
    finally:
        hosts.unblock(cut, hosts.second)
        if proc.poll() is None:
            proc.kill()
    with psycopg.connect(hosts_db.local) as conn:
        (last_cut,) = conn.execute("SELECT extract(epoch FROM max(at)) FROM fb_oplog "
                                   "WHERE addr = %s", (cut.address,)).fetchone()
        (last_kept,) = conn.execute("SELECT extract(epoch FROM max(at)) FROM fb_oplog "
                                    "WHERE addr = %s", (keep.address,)).fetchone()
    stopped_after = float(last_cut) - cut_at
    # lost = the outage it rides out; then the drain timeout; a blocked control-plane call
    # can add a dead link's detection time, and polling a little
    bound = OUTAGE_S + DRAIN_S + DEAD_LINK_S + 1.0
    assert stopped_after <= bound, (stopped_after, bound, out[-2000:])
    assert float(last_kept) - cut_at > bound  # the other host went on: the run was not over
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["status"] == "PARTIAL"
    assert any(cut.name in m for m in run["messages"]), run["messages"]
