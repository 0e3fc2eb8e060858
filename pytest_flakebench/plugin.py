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
from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.session import BenchSession

if TYPE_CHECKING:
    from pytest_flakebench.judge.results import RunResult
    from pytest_flakebench.template.model import Template

MARKER = "flakebench"
SESSION_KEY = pytest.StashKey[BenchSession]()
TEMPLATE_KEY = pytest.StashKey["Template"]()
RESULT_KEY = pytest.StashKey["RunResult"]()
BAD_TEMPLATE_KEY = pytest.StashKey[str]()

SKIP_REASON = "flakebench benchmark: run with --flakebench (or FLAKEBENCH=1) to measure it"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register the hooks users implement (``pytest_flakebench_*``; see ``hookspecs``)."""
    from pytest_flakebench import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


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
    if bench.settings.enabled and not bench.is_worker:
        from pytest_flakebench.distributed.signals import SigtermAsInterrupt

        sigterm = SigtermAsInterrupt()  # SIGTERM cancels like Ctrl-C: nothing measured is lost
        sigterm.install()
        config.add_cleanup(sigterm.restore)
    elif bench.settings.enabled:
        from pytest_flakebench.distributed.signals import let_controller_loss_interrupt

        let_controller_loss_interrupt()  # a dead controller's workers still post what they measured
    config.pluginmanager.register(bench, "flakebench-session")  # its own hooks: Ctrl-C
    if config.pluginmanager.hasplugin("xdist"):
        from pytest_flakebench.distributed.xdist_hooks import XdistHooks

        config.pluginmanager.register(XdistHooks(config, bench), "flakebench-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the store if the session ended early."""
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.finish()



def _template_for(item: pytest.Function) -> Template | None:
    """The item's validated template; ``None`` when it cannot be checked without --flakebench
    (a stored template). Raises ``BadTemplate`` with the message the test errors with."""
    from pytest_flakebench.errors import FlakebenchError
    from pytest_flakebench.template.load import TEMPLATE_KEY as FILE_KEY
    from pytest_flakebench.template.load import build_template
    from pytest_flakebench.template.targets import resolve_target

    markers = list(item.iter_markers(MARKER))
    kwargs: dict[str, Any] = {}
    for marker in reversed(markers):  # closest marker last: function overrides class/module
        if marker.args:
            raise BadTemplate(
                f"{item.nodeid}: @pytest.mark.flakebench takes keyword arguments only "
                f"(template fields such as target=..., table=...), got {excerpt(marker.args)}"
            )
        kwargs.update(marker.kwargs)
    search = [Path(item.path).parent, Path(item.config.rootpath)]
    settings = item.config.stash[SESSION_KEY].settings
    # Without --flakebench nothing is measured: no store is opened (stored templates and
    # connections stay unread, so nothing is decrypted) and a named target is not resolved.
    store_url = settings.store_url if settings.enabled else None
    ref = kwargs.get(FILE_KEY)
    if not settings.enabled and isinstance(ref, str) and ref.startswith("store:"):
        return None
    try:
        template = build_template(kwargs, where=item.nodeid, search=search, store_url=store_url,
                                  store_base=Path(item.config.rootpath))
        if settings.enabled:
            resolve_target(template.target, rootdir=Path(item.config.rootpath),
                           ini_lines=item.config.getini("flakebench_targets"),
                           store_url=store_url)
    except FlakebenchError as exc:
        message = str(exc)
        if not message.startswith(item.nodeid):
            message = f"{item.nodeid}: {message}"
        raise BadTemplate(message) from None
    return template


class BadTemplate(Exception):
    """A benchmark's template is invalid: that test errors at setup with this message."""


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str,
                              obj: object) -> Generator[None, Any, Any]:
    """Validate every benchmark's template at collection. A bad one makes THAT test error at
    setup (with or without --flakebench); every other test of the session runs."""
    result = yield
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker(MARKER) is not None:
            try:
                template = _template_for(item)
            except BadTemplate as exc:
                item.stash[BAD_TEMPLATE_KEY] = str(exc)
                continue
            if template is not None:
                item.stash[TEMPLATE_KEY] = template
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A benchmark with a bad template errors here, before any fixture and any load."""
    problem = item.stash.get(BAD_TEMPLATE_KEY, None)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``--flakebench``, skip benchmarks with the reason and the flag to use."""
    if config.stash[SESSION_KEY].settings.enabled:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if item.get_closest_marker(MARKER) is not None and BAD_TEMPLATE_KEY not in item.stash:
            item.add_marker(skip)


def _run_and_record(request: pytest.FixtureRequest,
                    python_ops: dict[str, Any] | None = None) -> RunResult:
    """Run this item's benchmark (once), record the figures as JUnit properties."""
    item = request.node
    known: RunResult | None = item.stash.get(RESULT_KEY, None)
    if known is not None:
        return known
    template = item.stash.get(TEMPLATE_KEY, None)
    if template is None:
        raise pytest.UsageError(
            f"{item.nodeid}: flakebench fixtures need @pytest.mark.flakebench(...)"
        )
    session = request.config.stash[SESSION_KEY]
    if not session.settings.enabled:
        pytest.skip(SKIP_REASON)
    from pytest_flakebench.errors import FlakebenchError

    problem: str | None = None
    other = template.ab or session.settings.ab
    try:
        if other:
            result = _run_ab(item, session, template, other, python_ops)
        else:
            result = session.run(item, template, python_ops)
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


def _run_ab(item: pytest.Item, session: Any, template: Any, other: str,
            python_ops: dict[str, Any] | None) -> RunResult:
    """A/B mode: short trials A B B A … on the two targets; one verdict for the test."""
    from pytest_flakebench.compare.ab import compare_ab, order, trial_seconds

    if session.is_worker:
        pytest.fail(f"flakebench: {item.nodeid}: A/B mode (ab= / --flakebench-ab) interleaves "
                    f"its trials in one process: run it with -n 0", pytrace=False)
    seconds = trial_seconds(template.duration)
    sides = {"A": template.model_copy(update={"duration": seconds, "ab": None}),
             "B": template.model_copy(update={"duration": seconds, "ab": None, "target": other})}
    runs: dict[str, list[RunResult]] = {"A": [], "B": []}
    for side in order():
        trial = f"{item.nodeid}[ab:{side}{len(runs[side]) + 1}]"  # kept apart from its history
        runs[side].append(session.run(item, sides[side], python_ops, test_id=trial))
    last = runs["B"][-1]
    gate = session.gate()
    comparison = compare_ab(runs["A"], runs["B"], gate.thresholds_for(last), test=item.nodeid)
    for done in (*runs["A"], *runs["B"][:-1]):
        gate.remember_none(done.run_id)  # the trials are judged together, not one by one
    gate.remember(comparison)
    failed = [r for r in (*runs["A"], *runs["B"]) if r.verdict != "PASSED"]
    return failed[0] if failed else last


@pytest.fixture
def flakebench_result(request: pytest.FixtureRequest) -> RunResult:
    """The merged result of this test's benchmark run (runs it if it has not run yet)."""
    template = request.node.stash.get(TEMPLATE_KEY, None)
    if template is not None and template.python:
        raise pytest.UsageError(
            f"{request.node.nodeid}: a benchmark with python operations runs from the test body: "
            f"use the flakebench fixture and call flakebench.run()"
        )
    return _run_and_record(request)


class Flakebench:
    """The ``flakebench`` fixture: Python operations run by the same engine.

    Declare the operations in the marker (``python={"checkout": "write"}`` plus their weights in
    ``mix``), register a function for each, then ``run()``::

        @flakebench.operation("checkout")
        def checkout(conn, params):      # conn: the driver's connection, params: OpParams
            conn.execute("...", (params.key(),))

        result = flakebench.run()        # same modes, measurements and verdicts as SQL kinds
    """

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._ops: dict[str, Any] = {}

    def operation(self, name: str) -> Any:
        """Register the function of the Python operation ``name`` (a decorator)."""
        template = self._request.node.stash.get(TEMPLATE_KEY, None)
        declared = template.python if template is not None else {}
        if name not in declared:
            raise pytest.UsageError(
                f"{self._request.node.nodeid}: python operation {name!r} is not declared: add "
                f"python={{{name!r}: 'read'}} (or 'write') and its weight in mix to the marker"
            )

        def register(fn: Any) -> Any:
            self._ops[name] = fn
            return fn

        return register

    def run(self) -> RunResult:
        """Run the benchmark with the registered operations; return the merged result."""
        return _run_and_record(self._request, self._ops)


@pytest.fixture
def flakebench(request: pytest.FixtureRequest) -> Flakebench:
    """Python operations for workloads that SQL templates cannot express."""
    return Flakebench(request)


@pytest.fixture(autouse=True)
def _flakebench_autorun(request: pytest.FixtureRequest) -> None:
    """Run the benchmark of a marked test even when its body does not ask for the result."""
    template = request.node.stash.get(TEMPLATE_KEY, None)
    if template is not None and not template.python:
        request.getfixturevalue("flakebench_result")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After the test body, the SLO verdict decides the outcome."""
    yield
    template = item.stash.get(TEMPLATE_KEY, None)
    if (template is not None and template.python and RESULT_KEY not in item.stash
            and item.config.stash[SESSION_KEY].settings.enabled):
        pytest.fail(f"{item.nodeid}: declares python operations but never called "
                    f"flakebench.run()", pytrace=False)
    result = item.stash.get(RESULT_KEY, None)
    width = min(getattr(item.config.get_terminal_writer(), "fullwidth", 120), 160)
    regression = _regression_message(item, result, width) if result is not None else None
    if result is not None and result.verdict != "PASSED":
        from pytest_flakebench.report.text import failure_message

        text = failure_message(result, width=width)
        pytest.fail(f"{text}\n\n{regression}" if regression else text, pytrace=False)
    if regression:
        pytest.fail(regression, pytrace=False)
    if result is not None and result.status == "PARTIAL":
        # --flakebench-partial=warn: the run passes on the survivors' figures, loudly
        import warnings

        dead = "; ".join(m for m in result.messages if "PARTIAL" in m) or "a worker was lost"
        warnings.warn(FlakebenchPartialWarning(
            f"{item.nodeid}: run {result.run_id[:8]} is PARTIAL ({dead}); it passes because "
            f"--flakebench-partial=warn"), stacklevel=1)


class FlakebenchPartialWarning(pytest.PytestWarning):
    """A benchmark run lost a worker and passed on the others' figures (``--flakebench-partial
    warn``); filter it like any warning (``-W error::…`` makes it fail)."""


def _regression_message(item: pytest.Item, result: RunResult, width: int) -> str | None:
    """After the SLO verdict, the regression verdict: the comparison table if it regressed."""
    comparison = item.config.stash[SESSION_KEY].comparison(result)
    if comparison is None:
        return None
    item.user_properties.append(("flakebench_compare", comparison.verdict))
    item.user_properties.append(("flakebench_compare_why", comparison.reason))
    if not comparison.regressed:
        return None
    from pytest_flakebench.report.compare_text import comparison_message

    return comparison_message(comparison, width=width)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The end-of-session results table."""
    terminalreporter.config.stash[SESSION_KEY].terminal_summary(terminalreporter)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Let runs in flight end (before xdist tears its workers down), then write the JSON."""
    bench = session.config.stash[SESSION_KEY]
    bench.wait_for_runs()
    bench.write_json()
    bench.write_html()

