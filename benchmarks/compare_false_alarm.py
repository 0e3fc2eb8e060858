"""False alarms and power of the regression verdict, on synthetic 3 s runs.

Each trial draws ``history`` earlier runs (the newest is the baseline) and a candidate from one
distribution: log-normal latencies, 0.25 s windows drifting 5% from one to the next, 240
operations a second, and a run level drawn uniformly within a band of width SPREAD (0.20: runs'
levels spread over ±10%). Every REGRESSED among unchanged candidates is a false alarm; then the
candidate is made 1.5x slower to measure the power. The between-run variance of 3 runs is
shrunk toward the default prior (runs vary by 6%, worth 4 runs: ``compare/history.py``). A last
block draws run levels from a log-normal (sigma = SPREAD / 2) instead, whose tails are heavier
than the band's, first with the default prior, then with the prior pooled from 4 other tests of
5 runs drawn alike (as a results store holding other tests would give it: ``compare/prior.py``).

Run: ``python benchmarks/compare_false_alarm.py [TRIALS] [SPEC]`` (defaults 400, p95:+10%);
power lines use half as many trials.
"""

from __future__ import annotations

import sys
import time

from pytest_flakebench.compare.simulate import Profile, false_alarm_rate

SPREADS = (0.0, 0.05, 0.10, 0.20)


def _line(label: str, found: tuple[int, int, dict[str, int]]) -> str:
    regressed, n, counts = found
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"{label:58} REGRESSED {regressed:4}/{n} ({regressed / n:5.1%})  [{shown}]"


def main() -> int:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    spec = sys.argv[2] if len(sys.argv) > 2 else "p95:+10%"
    started = time.monotonic()
    print(f"{trials} trials per line, limit {spec}, synthetic 3 s runs (0.25 s windows)")
    for spread in SPREADS:
        base = Profile(run_spread=spread)
        print(_line(f"unchanged, spread {spread:.0%}, 3 runs of history",
                    false_alarm_rate(trials, spec=spec, profile=base, history=3, seed=1)))
        slow = Profile(run_spread=spread, slowdown=1.5)
        for history in (3, 5):
            print(_line(f"x1.5 slower, spread {spread:.0%}, {history} runs of history",
                        false_alarm_rate(trials // 2, spec=spec, profile=base, candidate=slow,
                                         history=history, seed=2)), flush=True)
    for others in (0, 4):
        for spread in SPREADS[1:]:
            base = Profile(run_sigma=spread / 2)
            prior = f", prior of {others} tests" if others else ""
            print(_line(f"unchanged, log-normal sigma {spread / 2:.1%}, 3 runs{prior}",
                        false_alarm_rate(trials, spec=spec, profile=base, history=3,
                                         seed=3 + others, other_tests=others)), flush=True)
    print(_line("one baseline only, unchanged, spread 20%",
                false_alarm_rate(trials, spec=spec, profile=Profile(run_spread=0.2),
                                 history=1, seed=4)))
    print(_line("one baseline only, x10 slower (gross change)",
                false_alarm_rate(trials // 4, spec=spec, candidate=Profile(slowdown=10.0),
                                 history=1, seed=5)))
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
