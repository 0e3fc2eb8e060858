"""What ``vs_pgbench.py`` measures with, apart from the clients it compares.

* ``ServerCounter``: the server's own count of the benchmark database's transactions
  (``pg_stat_database.xact_commit + xact_rollback``), sampled from another database every
  0.2 s, so every client's figure is checked against the server's: the total over a run, and
  the rate within a run's measurement window.
* ``CONFTEST``: loaded by every process of a ``pytest --flakebench`` subprocess; samples the
  process's CPU time, and each thread's, 20 times a second.
* ``PSYCOPG_LOOP``: the plain psycopg loop the issue compares with; ``PQ_LOOP``: the plain
  ``psycopg.pq`` loop in 1 or 2 threads.

Why the rate is a least-squares slope: a busy backend publishes its counters at most once a
second (PostgreSQL 15's ``PGSTAT_MIN_INTERVAL``), so the counter is a staircase with about one
step per connection per second; the slope over a window of several seconds averages the steps
out (a difference of two samples would be off by up to a second's worth of transactions). At
the end of a run every backend has exited, and exiting publishes everything: the total is exact.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psycopg

SAMPLE_S = 0.2
SETTLE_S = 5.0  # at most this long for the last backends' counters to arrive

# Loaded by every process of the pytest subprocess (controller and xdist workers): samples this
# process's CPU time, and each Python thread's (by name), 20 times a second, and writes the
# samples when pytest ends. Thread CPU is /proc/self/task/TID/stat utime + stime (10 ms ticks).
CONFTEST = '''
import json, os, resource, threading, time

_samples = []
_stop = threading.Event()
_TICK = os.sysconf("SC_CLK_TCK")


def _threads():
    out = {}
    for t in threading.enumerate():
        try:
            with open(f"/proc/self/task/{t.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[t.name] = out.get(t.name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError, TypeError):
            pass
    return out


def _sample():
    while True:
        r = resource.getrusage(resource.RUSAGE_SELF)
        _samples.append((time.time(), r.ru_utime + r.ru_stime, _threads()))
        if _stop.wait(0.05):
            return


def pytest_configure(config):
    threading.Thread(target=_sample, daemon=True, name="cpu-sampler").start()


def pytest_unconfigure(config):
    _stop.set()
    r = resource.getrusage(resource.RUSAGE_SELF)
    _samples.append((time.time(), r.ru_utime + r.ru_stime, _threads()))
    path = os.path.join(os.environ["FB_CPU_DIR"], f"cpu-{os.getpid()}.json")
    with open(path, "w") as f:
        json.dump(_samples, f)
'''

PSYCOPG_LOOP = '''
import json, random, sys, time
import psycopg
url, seconds, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
conn = psycopg.connect(url, autocommit=True)
cur = conn.cursor()
rng = random.Random(1)
sql = "SELECT abalance FROM pgbench_accounts WHERE aid = %s"
n_rows = conn.execute("SELECT count(*) FROM pgbench_accounts").fetchone()[0]
execute, fetchall, randint = cur.execute, cur.fetchall, rng.randint
end = time.perf_counter() + warmup
w = 0
while time.perf_counter() < end:
    execute(sql, (randint(1, n_rows),), prepare=True)
    fetchall()
    w += 1
n = 0
cpu0, t0, epoch0 = time.process_time(), time.perf_counter(), time.time()
end = t0 + seconds
while time.perf_counter() < end:
    execute(sql, (randint(1, n_rows),), prepare=True)
    fetchall()
    n += 1
elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
print(json.dumps({"ops": n, "qps": n / elapsed, "cpu_us": cpu * 1e6 / n, "sent": w + n,
                  "start": epoch0, "end": epoch0 + elapsed}))
'''


# The reference for threads in one process: psycopg's libpq layer, the statement prepared
# once, ``PGconn.exec_prepared`` (the whole round trip in one call that releases the
# interpreter), text parameters, one connection per thread.
PQ_LOOP = '''
import json, random, sys, threading, time
import psycopg
url, seconds, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
threads = int(sys.argv[4])
conns = [psycopg.connect(url, autocommit=True) for _ in range(threads)]
n_rows = conns[0].execute("SELECT count(*) FROM pgbench_accounts").fetchone()[0]
for c in conns:
    c.pgconn.prepare(b"s", b"SELECT abalance FROM pgbench_accounts WHERE aid = $1", None)
state = {"measure": False, "stop": False}
counts = [[0, 0] for _ in range(threads)]  # all, measured
def loop(i):
    pg, rng, mine = conns[i].pgconn, random.Random(i), counts[i]
    ep, rnd = pg.exec_prepared, rng.random
    while not state["stop"]:
        res = ep(b"s", [b"%d" % (1 + int(rnd() * n_rows))])
        res.ntuples
        mine[0] += 1
        if state["measure"]:
            mine[1] += 1
ts = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
for t in ts:
    t.start()
time.sleep(warmup)
cpu0, t0, epoch0 = time.process_time(), time.perf_counter(), time.time()
state["measure"] = True
time.sleep(seconds)
state["measure"] = False
elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
state["stop"] = True
for t in ts:
    t.join()
n = sum(c[1] for c in counts)
print(json.dumps({"ops": n, "qps": n / elapsed, "cpu_us": cpu * 1e6 / n,
                  "sent": sum(c[0] for c in counts), "start": epoch0, "end": epoch0 + elapsed}))
'''

_TICK = os.sysconf("SC_CLK_TCK")


def _machine_cpu() -> tuple[float, float, int]:
    """The machine's busy and total CPU seconds since boot, and its context switches
    (/proc/stat: every CPU, every process)."""
    text = Path("/proc/stat").read_text()
    values = [int(v) for v in text.split("\n", 1)[0].split()[1:]]
    total = sum(values[:8])  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    found = re.search(r"^ctxt (\d+)$", text, re.MULTILINE)
    return (total - idle) / _TICK, total / _TICK, int(found.group(1)) if found else 0


def slope(samples: list[tuple[float, int]], start: float, end: float) -> float | None:
    """Least-squares slope (per second) of the samples taken within ``[start, end]``."""
    inside = [(t, v) for t, v in samples if start <= t <= end]
    if len(inside) < 3:
        return None
    n = len(inside)
    mt = sum(t for t, _ in inside) / n
    mv = sum(v for _, v in inside) / n
    den = sum((t - mt) ** 2 for t, _ in inside)
    if den <= 0:
        return None
    return sum((t - mt) * (v - mv) for t, v in inside) / den


class ServerCounter:
    """Transactions the server counted in database ``db`` while the ``with`` block ran.

    Samples from ``admin_url`` (another database: the sampling queries are not counted in
    ``db``). ``total`` is exact once the block has ended (see the module docstring);
    ``rate(start, end)`` is the server's transactions per second within an interval of the run
    (epoch seconds).
    """

    def __init__(self, admin_url: str, db: str) -> None:
        self._url = admin_url
        self._db = db
        self.samples: list[tuple[float, int]] = []
        # (time, the machine's busy and total CPU seconds, the benchmark database's backends'
        # CPU seconds, the machine's context switches): where the 2 cores went, server side
        # included
        self.cpu: list[tuple[float, float, float, float, int]] = []
        self._backends: dict[int, float] = {}  # pid: CPU seconds last read (kept once exited)
        self.total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="server-counter", daemon=True)
        self._conn: psycopg.Connection[tuple[int]] | None = None

    def _read(self) -> int:
        assert self._conn is not None
        row = self._conn.execute(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database "
            "WHERE datname = %s", (self._db,)).fetchone()
        return int(row[0]) if row else 0

    def _settled(self) -> int:
        """The counter once it stops moving (exited backends' last counts have arrived)."""
        deadline = time.monotonic() + SETTLE_S
        value = self._read()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            again = self._read()
            if again == value:
                return value
            value = again
        return value

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.samples.append((time.time(), self._read()))
            busy, total, switches = _machine_cpu()
            self.cpu.append((time.time(), busy, total, self._backend_cpu(), switches))

    def _backend_cpu(self) -> float:
        """CPU seconds of the benchmark database's backends so far (/proc/PID/stat)."""
        assert self._conn is not None
        pids = [int(r[0]) for r in self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self._db,)).fetchall()]
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited since: its last reading stands
            self._backends[pid] = (int(fields[11]) + int(fields[12])) / _TICK
        return sum(self._backends.values())

    def machine(self, start: float, end: float, ops: float) -> Machine | None:
        """Within ``[start, end]`` (``ops`` operations in it): how busy every CPU was, what
        the benchmark database's backends spent per operation, and how often the machine
        switched between threads per operation."""
        inside = [c for c in self.cpu if start <= c[0] <= end]
        if len(inside) < 2 or ops <= 0:
            return None
        (t0, b0, n0, s0, x0), (t1, b1, n1, s1, x1) = inside[0], inside[-1]
        if n1 <= n0 or t1 <= t0:
            return None
        sampled_ops = ops * (t1 - t0) / (end - start)  # the samples span part of the window
        return Machine(busy=(b1 - b0) / (n1 - n0), server_cpu_us=(s1 - s0) * 1e6 / sampled_ops,
                       switches_per_op=(x1 - x0) / sampled_ops)

    def __enter__(self) -> ServerCounter:
        self._conn = psycopg.connect(self._url, autocommit=True)
        self._base = self._settled()
        self.samples.append((time.time(), self._base))
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        try:
            if kind is None:
                self.total = self._settled() - self._base
        finally:
            assert self._conn is not None
            self._conn.close()

    def rate(self, start: float, end: float) -> float | None:
        """Server transactions per second within ``[start, end]`` (None: too few samples)."""
        return slope(self.samples, start, end)


@dataclass(frozen=True, slots=True)
class Machine:
    """Where the CPUs went within one run's window (``ServerCounter.machine``)."""

    busy: float  # share of every CPU that was busy
    server_cpu_us: float  # the benchmark database's backends' CPU per operation
    # Context switches on the whole machine per operation: a client and its backend take turns
    # (about 2 per round trip); threads of one process meeting at the interpreter add more.
    switches_per_op: float


@dataclass(slots=True)
class Figure:
    """One run of one configuration, with the server's count of the same run."""

    qps: float  # the client's own figure (pgbench's tps, the plugin's measured qps)
    cpu_us: float  # client CPU per operation over the measurement window
    cpu_us_whole: float | None = None  # whole subprocess, start-up included
    p50_us: int | None = None
    p99_us: int | None = None
    errors: int = 0
    # The cross-check: the server's rate within the same window, and the transactions the
    # server counted over the whole run against those the client says it sent.
    server_qps: float | None = None
    server_total: int = 0
    client_total: int = 0
    threads: dict[str, float] = field(default_factory=dict)  # plugin: CPU µs/op by thread
    machine: Machine | None = None  # within the window, server side included


@dataclass(slots=True)
class Series:
    """Every round of one configuration."""

    name: str
    label: str
    runs: list[Figure] = field(default_factory=list)

    def best(self) -> Figure:
        return max(self.runs, key=lambda f: f.qps)


def cpu_at(samples: list[tuple[float, float]], when: float) -> float:
    """CPU seconds at ``when``, interpolated between ``(time, cpu)`` samples."""
    prev = samples[0]
    for ts, cpu in samples:
        if ts >= when:
            if ts == prev[0]:
                return cpu
            return prev[1] + (cpu - prev[1]) * (when - prev[0]) / (ts - prev[0])
        prev = (ts, cpu)
    return prev[1]


def thread_group(name: str) -> str:
    """Group thread names: 'flakebench-main-0' and '-1' are both load threads."""
    if name.startswith("flakebench-") and name.rsplit("-", 1)[-1].isdigit():
        return "load threads"
    return re.sub(r"[-_ ]?\d+$", "", name) or name


COUNT_SLACK = 200  # server transactions beyond the client's own: connection set-up, preflight
# The client's rate over its whole window and the server's over the window less 1 s at each
# end: a load that varies within the run (a shared machine), and each backend publishing its
# counts about once a second, make them differ by up to ~15% in a 10 s run (measured); a wrong
# time base (a 10x figure) differs by far more. The count check above is the exact one.
RATE_TOLERANCE = 0.20


def cross_check(fig: Figure) -> list[str]:
    """What disagrees between a run's client figures and the server's count (empty: none)."""
    problems = []
    excess = fig.server_total - fig.client_total
    if not 0 <= excess <= COUNT_SLACK + fig.client_total // 1000:
        problems.append(f"server counted {fig.server_total:,} transactions, the client "
                        f"{fig.client_total:,} ({excess:+,})")
    if fig.server_qps is None:
        problems.append("too few server samples in the window")
    elif abs(fig.server_qps / fig.qps - 1) > RATE_TOLERANCE:
        problems.append(f"server rate {fig.server_qps:,.0f}/s in the window against the "
                        f"client's {fig.qps:,.0f}/s")
    return problems


def run_plain_loop(admin: str, db: str, script: str, url: str, seconds: int,
                   *extra: int, processes: int = 1) -> Figure:
    """``PSYCOPG_LOOP`` or ``PQ_LOOP`` (``extra``: its thread count), in ``processes`` processes
    side by side (as ``-n 2`` runs two): their operations and CPU summed, over the span all of
    them measured."""
    with ServerCounter(admin, db) as server:
        procs = [subprocess.Popen([sys.executable, "-c", script, url, str(seconds), "1",
                                   *map(str, extra)], stdout=subprocess.PIPE, text=True)
                 for _ in range(processes)]
        outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a plain loop failed: {[p.returncode for p in procs]}")
    data = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    ops = sum(int(d["ops"]) for d in data)
    qps = sum(float(d["qps"]) for d in data)
    cpu_us = sum(float(d["cpu_us"]) * int(d["ops"]) for d in data) / max(ops, 1)
    start = max(float(d["start"]) for d in data) + 1.0
    end = min(float(d["end"]) for d in data) - 1.0
    return Figure(qps=qps, cpu_us=cpu_us, server_qps=server.rate(start, end),
                  server_total=server.total, client_total=sum(int(d["sent"]) for d in data),
                  machine=server.machine(start, end, qps * (end - start)))
