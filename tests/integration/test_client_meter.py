"""engine.client.ClientMeter's interpreter probe, against an idle interpreter and a held one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pytest_flakebench.engine.client import ClientMeter


def _probe_for(seconds: float, beside: Callable[[threading.Event], None] | None = None
               ) -> tuple[int, int, int]:
    """Run the probe for ``seconds`` (with ``beside`` in another thread); its samples and
    interpreter wait p50 / p99 in µs."""
    meter = ClientMeter(time.perf_counter_ns, lambda: 0)
    meter.measuring = True
    stop = threading.Event()
    other = threading.Thread(target=beside, args=(stop,)) if beside is not None else None
    meter.start()
    if other is not None:
        other.start()
    try:
        time.sleep(seconds)
    finally:
        stop.set()
        if other is not None:
            other.join()
        meter.close()
    figures = meter.summary({})
    return (len(meter.waits_us), figures["interpreter_wait_p50_us"],
            figures["interpreter_wait_p99_us"])


def test_an_idle_interpreter_shows_no_contention() -> None:
    # Nothing else wants the interpreter: what is left is the kernel's timer slack and wake-up
    # time (p50 91-96 µs on an idle 2-core VM), far below a forced switch's 5 ms.
    samples, p50, p99 = _probe_for(0.6)
    assert samples >= 20, samples
    assert p50 < 1000, (p50, p99)


def test_a_thread_holding_the_interpreter_shows_in_the_wait() -> None:
    # A pure-Python loop keeps the interpreter until the forced switch (5 ms): a thread back
    # from a system call waits for it, and so does the probe (5.2 ms at p50 measured).
    def spin(stop: threading.Event) -> None:
        while not stop.is_set():
            pass

    samples, p50, p99 = _probe_for(0.6, spin)
    assert samples >= 10, samples
    assert p50 >= 1000, (p50, p99)
