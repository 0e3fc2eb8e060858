"""pytest entry point (``pytest11: flakebench``): options, the marker, fixtures and verdicts.

Imports only pytest and the options module at load time, so a plain ``pytest`` run on a suite
with benchmarks imports no database driver and no pydantic until a benchmark marker is seen.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_flakebench import options
from pytest_flakebench.session import BenchSession

if TYPE_CHECKING:
    from pytest_flakebench.results import RunResult
    from pytest_flakebench.template import Template

MARKER = "flakebench"
SESSION_KEY = pytest.StashKey[BenchSession]()
TEMPLATE_KEY = pytest.StashKey["Template"]()
RESULT_KEY = pytest.StashKey["RunResult"]()

SKIP_REASON = "flakebench benchmark: run with --flakebench (or FLAKEBENCH=1) to measure it"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--flakebench*`` options and ``flakebench_*`` ini keys."""
    options.addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and this process's benchmark session."""
    config.addinivalue_line(
        "markers",
        "flakebench(**template): a database benchmark; keywords are template fields "
        "(target, table, mix, concurrency, duration, warmup, slo, …) or template='file.toml'",
    )
    bench = BenchSession(config, options.resolve(config))
    config.stash[SESSION_KEY] = bench
    config.pluginmanager.register(bench, "flakebench-session")  # its own hooks: Ctrl-C
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_flakebench.distributed.xdist_hooks import XdistHooks

        config.pluginmanager.register(XdistHooks(config, bench), "flakebench-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the store if the session ended early."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.finish()



def _template_for(item: pytest.Function) -> Template:
    from pytest_flakebench.errors import FlakebenchError
    from pytest_flakebench.targets import resolve_target
    from pytest_flakebench.template_load import build_template

    markers = list(item.iter_markers(MARKER))
    kwargs: dict[str, Any] = {}
    for marker in reversed(markers):  # closest marker last: function overrides class/module
        if marker.args:
            raise pytest.Collector.CollectError(
                f"{item.nodeid}: @pytest.mark.flakebench takes keyword arguments only "
                f"(template fields such as target=..., table=...), got {marker.args!r}"
            )
        kwargs.update(marker.kwargs)
    search = [Path(item.path).parent, Path(item.config.rootpath)]
    try:
        template = build_template(kwargs, where=item.nodeid, search=search)
        resolve_target(template.target, rootdir=Path(item.config.rootpath),
                       ini_lines=item.config.getini("flakebench_targets"))
    except FlakebenchError as exc:
        message = str(exc)
        if not message.startswith(item.nodeid):
            message = f"{item.nodeid}: {message}"
        raise pytest.Collector.CollectError(message) from None
    return template


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str,
                              obj: object) -> Generator[None, Any, Any]:
    """Validate every benchmark's template at collection: a bad one is a collection error."""
    result = yield
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker(MARKER) is not None:
            item.stash[TEMPLATE_KEY] = _template_for(item)
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``--flakebench``, skip benchmarks with the reason and the flag to use."""
    if config.stash[SESSION_KEY].settings.enabled:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if TEMPLATE_KEY in item.stash:
            item.add_marker(skip)


@pytest.fixture
def flakebench_result(request: pytest.FixtureRequest) -> RunResult:
    """The merged result of this test's benchmark run (runs it if it has not run yet)."""
    item = request.node
    known: RunResult | None = item.stash.get(RESULT_KEY, None)
    if known is not None:
        return known
    template = item.stash.get(TEMPLATE_KEY, None)
    if template is None:
        raise pytest.UsageError(
            f"{item.nodeid}: the flakebench_result fixture needs @pytest.mark.flakebench(...)"
        )
    session = request.config.stash[SESSION_KEY]
    if not session.settings.enabled:
        pytest.skip(SKIP_REASON)
    from pytest_flakebench.errors import FlakebenchError

    problem: str | None = None
    try:
        result = session.run(item, template)
    except FlakebenchError as exc:
        # Raised in preflight (target, table, SQL, store): no load was sent. A short message
        # says more than the plugin's traceback; failing outside the handler drops the chain.
        problem = f"flakebench: {item.nodeid}: {exc}\n(no load was sent)"
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    item.stash[RESULT_KEY] = result
    o = result.overall
    item.user_properties.extend([
        ("flakebench_run_id", result.run_id),
        ("flakebench_verdict", result.verdict),
        ("flakebench_qps", f"{o.qps:.2f}"),
        ("flakebench_p50_us", o.latency.p50_us),
        ("flakebench_p95_us", o.latency.p95_us),
        ("flakebench_p99_us", o.latency.p99_us),
        ("flakebench_error_rate", f"{o.error_rate:.6f}"),
    ])
    return result


@pytest.fixture(autouse=True)
def _flakebench_autorun(request: pytest.FixtureRequest) -> None:
    """Run the benchmark of a marked test even when its body does not ask for the result."""
    if TEMPLATE_KEY in request.node.stash:
        request.getfixturevalue("flakebench_result")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After the test body, the SLO verdict decides the outcome."""
    yield
    result = item.stash.get(RESULT_KEY, None)
    if result is not None and result.verdict != "PASSED":
        from pytest_flakebench.report.text import failure_message

        width = getattr(item.config.get_terminal_writer(), "fullwidth", 120)
        pytest.fail(failure_message(result, width=min(width, 160)), pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The end-of-session results table."""
    terminalreporter.config.stash[SESSION_KEY].terminal_summary(terminalreporter)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Let runs in flight end (before xdist tears its workers down), then write the JSON."""
    bench = session.config.stash[SESSION_KEY]
    bench.wait_for_runs()
    bench.write_json()

