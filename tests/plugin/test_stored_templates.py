"""``flakebench templates push|list|pull`` and ``template="store:NAME[@VERSION]"`` in a marker."""

from __future__ import annotations

import json

import pytest

from pytest_flakebench.cli.main import main
from pytest_flakebench.template.load import load_template_file
from tests.conftest import stored_run
from tests.plugin.test_sqlite_benchmarks import make_orders_db

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

TEMPLATE = """
target = "sqlite:///demo.db"
table = "orders"
concurrency = {concurrency}
seed = {concurrency}
duration = "1s"
warmup = "0s"
mix = {{point_lookup = 80, range_scan = 20}}
slo = {{p95 = "5s"}}
"""

BENCH = """
import pytest

@pytest.mark.flakebench(template="{ref}", concurrency=1)
def test_stored(flakebench_result):
    assert flakebench_result.kinds["point_lookup"].ops > 0
"""


@pytest.fixture
def store(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store in the pytester folder, with versions 1 and 2 of ``oltp-simple``."""
    monkeypatch.delenv("FLAKEBENCH_STORE", raising=False)
    url = f"sqlite:///{pytester.path / 'results.db'}"
    for concurrency in (2, 3):
        path = pytester.path / f"oltp{concurrency}.toml"
        path.write_text(TEMPLATE.format(concurrency=concurrency), encoding="utf-8")
        assert main(["templates", "push", str(path), "--name", "oltp-simple",
                     "--store", url]) == 0
    make_orders_db(pytester.path / "demo.db", rows=2000)
    return url


def test_push_list_pull(store: str, pytester: pytest.Pytester,
                        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["templates", "list", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "oltp-simple" in out
    assert " 2 " in out
    assert main(["templates", "pull", "oltp-simple", "--version", "1", "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["concurrency"] == 2
    for suffix in (".toml", ".yaml", ".json"):
        target = pytester.path / f"pulled{suffix}"
        assert main(["templates", "pull", "oltp-simple", "-o", str(target), "--store", store]) == 0
        data = load_template_file(target)
        assert data["concurrency"] == 3
        assert data["mix"] == {"point_lookup": 80, "range_scan": 20}
    assert main(["templates", "pull", "oltp-simple", "--version", "7", "--store", store]) == 2
    assert "no version 7 of stored template 'oltp-simple'" in capsys.readouterr().err


def test_a_bad_template_is_refused_before_anything_is_written(
        store: str, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    bad = pytester.path / "bad.toml"
    bad.write_text('table = "orders"\nconcurency = 3\n', encoding="utf-8")
    assert main(["templates", "push", str(bad), "--name", "broken", "--store", store]) == 2
    assert "did you mean 'concurrency'" in capsys.readouterr().err
    assert main(["templates", "pull", "broken", "--store", store]) == 2
    capsys.readouterr()
    assert main(["templates", "list", "--store", store]) == 0
    assert "broken" not in capsys.readouterr().out


@pytest.mark.parametrize(("ref", "source", "concurrency"), [
    ("store:oltp-simple", "store:oltp-simple@2", 3),
    ("store:oltp-simple@1", "store:oltp-simple@1", 2),
])
def test_marker_uses_a_stored_template_and_records_which(
        store: str, pytester: pytest.Pytester, ref: str, source: str, concurrency: int) -> None:
    pytester.makepyfile(BENCH.format(ref=ref))
    result = pytester.runpytest("--flakebench", f"--flakebench-store={store}",
                                "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["template"]["template_source"] == source
    assert run["template"]["concurrency"] == 1  # the marker keyword overrides the template
    assert run["template"]["table"] == "orders"
    assert run["template"]["seed"] == concurrency  # the version asked for
    assert stored_run(store, run["run_id"]).template["template_source"] == source


def test_a_file_template_records_its_path(pytester: pytest.Pytester, store: str) -> None:
    pytester.makepyfile(BENCH.format(ref="oltp2.toml"))
    result = pytester.runpytest("--flakebench", f"--flakebench-store={store}",
                                "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    (run,) = json.loads((pytester.path / "out.json").read_text())["runs"]
    assert run["template"]["template_source"] == "oltp2.toml"  # relative to the rootdir


@pytest.mark.parametrize("ref", ["store:nope", "store:oltp-simple@9"])
def test_a_missing_stored_template_errors_that_test(
        store: str, pytester: pytest.Pytester, ref: str) -> None:
    pytester.makepyfile(BENCH.format(ref=ref))
    result = pytester.runpytest("--flakebench", f"--flakebench-store={store}")
    result.assert_outcomes(errors=1)
    text = result.stdout.str()
    name = "oltp-simple@9" if "@" in ref else "nope"
    assert "test_stored" in text
    assert name in text
    assert "no stored template" in text
    assert "results.db" in text
