"""False-alarm rate (and power) of the regression verdict, on synthetic runs.

Pairs of 10-second runs are drawn from the same distribution (log-normal latencies, 5% drift
from second to second, 2% from run to run) and compared; every REGRESSED is a false alarm.
Then the candidate is made slower to show the power.
Run: ``python benchmarks/compare_false_alarm.py [PAIRS]``.
"""

from __future__ import annotations

import sys

from pytest_flakebench.compare.simulate import Profile, false_alarm_rate


def main() -> int:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"{pairs} pairs of synthetic 10 s runs per line")
    for spec in ("p95:+20%", "p95:+10%", "p95:+10%,qps:-5%", "p95:+0%"):
        regressed, n, counts = false_alarm_rate(pairs, spec=spec)
        print(f"same distribution, {spec:18} REGRESSED {regressed}/{n} "
              f"({regressed / n:.1%})  {counts}")
    for slowdown in (1.1, 1.3, 1.5):
        regressed, n, counts = false_alarm_rate(pairs // 2, spec="p95:+20%",
                                                candidate=Profile(slowdown=slowdown))
        print(f"candidate x{slowdown} slower, p95:+20%   REGRESSED {regressed}/{n} "
              f"({regressed / n:.1%})  {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
