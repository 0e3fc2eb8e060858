"""The HTML report renders in headless Chromium, offline, with its charts drawn."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_flakebench.compare.simulate import Profile, synthetic_run
from pytest_flakebench.compare.thresholds import parse_spec
from pytest_flakebench.compare.verdict import compare_runs
from pytest_flakebench.report.html import MAX_SIDE_BY_SIDE, render_report, write_report

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--disable-extensions",
                  "--virtual-time-budget=15000", "--dump-dom")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium "
                "chromium-driver; .ci/run installs it)")


@pytest.fixture
def report(tmp_path: Path) -> tuple[Path, int]:
    rng = random.Random(4)
    base = synthetic_run(rng, run_id="a" * 32)
    slow = synthetic_run(rng, Profile(slowdown=1.5), run_id="b" * 32, started_at=1_700_000_100.0)
    comparison = compare_runs(base, slow, parse_spec("p95:+20%"))
    path = tmp_path / "report.html"
    write_report(path, render_report([("test_sim", [base, slow], [comparison])]))
    charts = 3 + 1 + len(base.kinds)  # qps, errors, latency; spectrum overall + per kind
    return path, charts


def test_report_is_self_contained(report: tuple[Path, int]) -> None:
    path, _ = report
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page), "every script must be inlined"
    assert not re.search(r"<link[^>]+href=\"?https?:", page)
    assert "REGRESSED" in page
    assert "percentile spectrum" in page
    assert "fingerprint" in page


def test_report_renders_in_headless_chromium(report: tuple[Path, int], tmp_path: Path) -> None:
    chromium = _chromium()
    path, charts = report
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", path.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    drawn = re.findall(r'<div[^>]+class="plot-container plotly"', dom)
    assert len(drawn) == charts, f"{len(drawn)} of {charts} charts drawn"
    assert dom.count('class="main-svg"') >= charts
    assert "scatterlayer" in dom  # traces were plotted, not just empty axes


def test_at_most_five_runs_side_by_side() -> None:
    rng = random.Random(1)
    runs = [synthetic_run(rng, Profile(seconds=2), run_id=f"{i}" * 32) for i in range(6)]
    with pytest.raises(ValueError, match=f"at most {MAX_SIDE_BY_SIDE} runs"):
        render_report([("too many", runs, [])])
