"""Command-line options, ini keys and environment variables, resolved CLI > env > ini > default.

One name family per setting: ``--flakebench-store`` / ini ``flakebench_store`` / env
``FLAKEBENCH_STORE``. Imports nothing heavy: plain ``pytest`` runs pay for this module only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

MAX_OPTION_SECONDS = 86_400.0
"""The longest timeout an option takes (join, dead-after, drain)."""
MAX_DURATION_SCALE = 1000.0
"""The largest ``--flakebench-duration-scale``."""

DEFAULT_STORE_URL = "sqlite:///.flakebench/flakebench.db"
NO_STORE = "none"


def _option(dest: str, help_text: str) -> tuple[str, str, str, str]:
    """(option dest, ini key, env var, help): the ini key is the dest, the env var its upper
    case (``flakebench_store``, ``FLAKEBENCH_STORE``)."""
    return dest, dest, dest.upper(), help_text


ENABLE = _option("flakebench",
                 "run benchmark tests (marked @pytest.mark.flakebench); without it they are "
                 "skipped")
STORE = _option("flakebench_store",
                f"results store URL: sqlite:///path.db (default {DEFAULT_STORE_URL}), "
                f"postgresql://..., or '{NO_STORE}' to keep nothing")
JSON = _option("flakebench_json",
               "write every run of the session as JSON ({\"version\": 1, \"runs\": [...]}) to PATH")
SCALE = _option("flakebench_duration_scale",
                "multiply every benchmark's duration and warmup by FACTOR (e.g. 0.1 for a quick CI "
                "run)")
JOIN = _option("flakebench_join_timeout",
               "seconds to wait for every worker to join a run before it fails naming the missing "
               "ones (default 120)")
DEAD = _option("flakebench_dead_after",
               "seconds without a heartbeat after which a worker is dead and the run PARTIAL "
               "(default 5; stale after 2)")
DRAIN = _option("flakebench_drain_timeout",
                "seconds workers get to finish in-flight operations after STOP (default 10)")
OUTAGE = _option("flakebench_store_outage",
                 "seconds a run rides out an unreachable results store (its control plane): "
                 "workers keep measuring and the lag is reported; beyond it the run is finished "
                 "from what the controller holds and spooled (default 30)")
RECOVER = _option("flakebench_recover_after",
                  "at the start of a session, runs left unfinished in the store with no change for "
                  "this many seconds (their controller died) are stored ABANDONED with what the "
                  "workers measured (default 60)")
PARTIAL = _option("flakebench_partial",
                  "what a PARTIAL run (a worker died) does to its test: fail (default) or warn")
COMPARE = _option("flakebench_compare",
                  "compare every run with a baseline: last (default: the last comparable run of "
                  "the same test on the same target), a RUN id, or baseline:NAME")
COMPARE_FAIL = _option("flakebench_compare_fail",
                       "fail a test whose run regressed beyond these limits against its baseline, "
                       "e.g. p95:+10%,qps:-5% (noise-aware: the change must also be significant)")
AB = _option("flakebench_ab",
             "A/B mode: run every benchmark as short trials interleaved A B B A A B B A against "
             "its own target (A) and this one (B, a URL or a named target); one verdict per test "
             "(B against A, with the regression limits)")
HTML = _option("flakebench_html",
               "write a self-contained HTML report of the session's runs (charts, comparisons) to "
               "PATH")
QUERY_SAMPLE = _option("flakebench_query_sample",
                       "keep this fraction of operations (0..1, e.g. 0.01) as QUERY_EXECUTIONS "
                       "records in the store (default 0: none)")
CONTROL = _option("flakebench_control",
                  "control-plane URL (sqlite:///path.db, postgresql://..., snowflake://...); "
                  "default: the results store, except a Snowflake store with local workers, which "
                  "gets a private SQLite file (every Snowflake poll is a billed query)")
CREDIT_PRICE = _option("flakebench_credit_price",
                       "price of one Snowflake credit in your currency (e.g. 3.00): each Snowflake "
                       "run's cost is shown in credits and in that currency")
TARGETS_INI = ("flakebench_targets",
               "named targets, one per line: NAME = URL (also [tool.flakebench.targets.NAME] in "
               "pyproject.toml and env FLAKEBENCH_TARGET_<NAME>)")


def addoption(parser: pytest.Parser) -> None:
    """Register the options and ini keys in a ``flakebench`` group of ``pytest --help``."""
    group = parser.getgroup("flakebench", "database benchmarks (pytest-flakebench)")
    group.addoption("--flakebench", action="store_true", default=None, dest=ENABLE[0],
                    help=f"{ENABLE[3]}. Env {ENABLE[2]}=1, ini {ENABLE[1]}=true.")
    group.addoption("--flakebench-store", metavar="URL", default=None, dest=STORE[0],
                    help=f"{STORE[3]}. Env {STORE[2]}, ini {STORE[1]}.")
    group.addoption("--flakebench-json", metavar="PATH", default=None, dest=JSON[0],
                    help=f"{JSON[3]}. Env {JSON[2]}, ini {JSON[1]}.")
    group.addoption("--flakebench-duration-scale", metavar="FACTOR", default=None, dest=SCALE[0],
                    help=f"{SCALE[3]}. Env {SCALE[2]}, ini {SCALE[1]}.")
    group.addoption("--flakebench-compare", metavar="last|RUN|baseline:NAME", nargs="?",
                    const="last", default=None, dest=COMPARE[0],
                    help=f"{COMPARE[3]}. Env {COMPARE[2]}, ini {COMPARE[1]}.")
    for spec, metavar in ((COMPARE_FAIL, "METRIC:CHANGE,..."), (HTML, "PATH"),
                          (AB, "OTHER_TARGET")):
        text = spec[3].replace("%", "%%")  # argparse %-formats help
        group.addoption(f"--{spec[0].replace('_', '-')}", metavar=metavar, default=None,
                        dest=spec[0], help=f"{text}. Env {spec[2]}, ini {spec[1]}.")
    for spec in (COMPARE, COMPARE_FAIL, HTML, AB):
        parser.addini(spec[1], help=spec[3], default=None)
    for spec, metavar in ((JOIN, "SECONDS"), (DEAD, "SECONDS"), (DRAIN, "SECONDS"),
                          (OUTAGE, "SECONDS"), (RECOVER, "SECONDS"),
                          (PARTIAL, "fail|warn"), (QUERY_SAMPLE, "RATE"), (CONTROL, "URL"),
                          (CREDIT_PRICE, "PRICE")):
        group.addoption(f"--{spec[0].replace('_', '-')}", metavar=metavar, default=None,
                        dest=spec[0], help=f"{spec[3]}. Env {spec[2]}, ini {spec[1]}.")
        parser.addini(spec[1], help=spec[3], default=None)
    parser.addini(ENABLE[1], help=ENABLE[3], type="bool", default=False)
    parser.addini(STORE[1], help=STORE[3], default=None)
    parser.addini(JSON[1], help=JSON[3], default=None)
    parser.addini(SCALE[1], help=SCALE[3], default=None)
    parser.addini(TARGETS_INI[0], help=TARGETS_INI[1], type="linelist", default=[])


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved session settings."""

    enabled: bool
    store_url: str | None  # None: keep nothing
    json_path: Path | None
    duration_scale: float
    rootdir: Path
    join_timeout_s: float = 120.0
    dead_after_s: float = 5.0
    drain_timeout_s: float = 10.0
    store_outage_s: float = 30.0
    recover_after_s: float = 60.0
    partial_fails: bool = True
    query_sample: float = 0.0
    compare: str | None = None  # last | RUN | baseline:NAME; None: not asked
    compare_fail: str | None = None  # "p95:+10%,qps:-5%"
    html_path: Path | None = None
    ab: str | None = None  # A/B mode: the other target (B)
    control_url: str | None = None  # --flakebench-control; None: see control/location.py
    credit_price: float | None = None  # Snowflake: currency per credit


def _raw(config: pytest.Config, spec: tuple[str, str, str, str]) -> tuple[object, str] | None:
    dest, ini, env, _ = spec
    cli = config.getoption(dest, default=None)
    if cli is not None:
        return cli, f"--{dest.replace('_', '-')}"
    if os.environ.get(env):
        return os.environ[env], f"env {env}"
    value = config.getini(ini)
    if value not in (None, "", []):
        return value, f"ini {ini}"
    return None


def _truthy(value: object, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise pytest.UsageError(f"{source}={value!r}: expected true/false (1/0)")


def _seconds(config: pytest.Config, spec: tuple[str, str, str, str], default: float) -> float:
    raw = _raw(config, spec)
    if raw is None:
        return default
    value, source = raw
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= MAX_OPTION_SECONDS:  # NaN fails too
        raise pytest.UsageError(f"{source}={value!r}: expected a positive number of seconds, "
                                f"at most {MAX_OPTION_SECONDS:.0f} (24 h)")
    return seconds


def _fraction(config: pytest.Config, spec: tuple[str, str, str, str]) -> float:
    raw = _raw(config, spec)
    if raw is None:
        return 0.0
    value, source = raw
    try:
        fraction = float(str(value).strip().rstrip("%")) / (100 if "%" in str(value) else 1)
    except ValueError:
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        raise pytest.UsageError(f"{source}={value!r}: expected a fraction between 0 and 1, "
                                f"e.g. 0.01 (or 1%)")
    return fraction


def resolve(config: pytest.Config) -> Settings:
    """Resolve every setting; bad values are a usage error naming their source and the fix."""
    enabled_raw = _raw(config, ENABLE)
    enabled = _truthy(*enabled_raw) if enabled_raw else False
    store_raw = _raw(config, STORE)
    store_url: str | None = str(store_raw[0]) if store_raw else DEFAULT_STORE_URL
    if store_url is not None and store_url.strip().lower() == NO_STORE:
        store_url = None
    json_raw = _raw(config, JSON)
    json_path = Path(str(json_raw[0])) if json_raw else None
    scale = 1.0
    scale_raw = _raw(config, SCALE)
    if scale_raw:
        value, source = scale_raw
        try:
            scale = float(str(value))
        except ValueError:
            scale = -1.0
        if not 0 < scale <= MAX_DURATION_SCALE:  # NaN and infinity fail too
            raise pytest.UsageError(
                f"{source}={value!r}: expected a positive number up to {MAX_DURATION_SCALE:g}, "
                f"e.g. 0.1 to run every benchmark for a tenth of its duration"
            )
    partial_raw = _raw(config, PARTIAL)
    partial = str(partial_raw[0]).strip().lower() if partial_raw else "fail"
    if partial_raw is not None and partial not in ("fail", "warn"):
        raise pytest.UsageError(f"{partial_raw[1]}={partial_raw[0]!r}: expected 'fail' or 'warn'"
                                + _did_you_mean(partial, ("fail", "warn")))
    compare_raw, fail_raw, html_raw = _raw(config, COMPARE), _raw(config, COMPARE_FAIL), \
        _raw(config, HTML)
    compare = str(compare_raw[0]).strip() if compare_raw else None
    compare_fail = str(fail_raw[0]).strip() if fail_raw else None
    _check_compare(compare_raw, fail_raw)
    return Settings(enabled=enabled, store_url=store_url, json_path=json_path,
                    duration_scale=scale, rootdir=Path(config.rootpath),
                    join_timeout_s=_seconds(config, JOIN, 120.0),
                    dead_after_s=_seconds(config, DEAD, 5.0),
                    drain_timeout_s=_seconds(config, DRAIN, 10.0),
                    store_outage_s=_seconds(config, OUTAGE, 30.0),
                    recover_after_s=_seconds(config, RECOVER, 60.0),
                    partial_fails=partial == "fail",
                    query_sample=_fraction(config, QUERY_SAMPLE), compare=compare,
                    compare_fail=compare_fail,
                    html_path=Path(str(html_raw[0])) if html_raw else None,
                    ab=_ab_target(config), control_url=_control(config),
                    credit_price=_price(config))


def _ab_target(config: pytest.Config) -> str | None:
    raw = _raw(config, AB)
    if raw is None:
        return None
    value = str(raw[0]).strip()
    if not value:
        raise pytest.UsageError(f"{raw[1]}: expected the other target, a URL or a named "
                                f"target, e.g. --flakebench-ab=postgresql://host/db_b")
    return value


def _control(config: pytest.Config) -> str | None:
    raw = _raw(config, CONTROL)
    if raw is None:
        return None
    url = str(raw[0]).strip()
    from pytest_flakebench.errors import ConfigError
    from pytest_flakebench.urls import scheme_of

    try:
        scheme_of(url)
    except ConfigError as exc:
        raise pytest.UsageError(f"{raw[1]}: {exc}") from None
    return url


def _price(config: pytest.Config) -> float | None:
    raw = _raw(config, CREDIT_PRICE)
    if raw is None:
        return None
    value, source = raw
    try:
        price = float(str(value).strip())
    except ValueError:
        price = -1.0
    if not price >= 0:
        raise pytest.UsageError(f"{source}={value!r}: expected the price of one credit, a "
                                "number >= 0 (e.g. 3.00)")
    return price


def _check_compare(compare: tuple[object, str] | None, fail: tuple[object, str] | None) -> None:
    """Bad comparison options are usage errors now, not surprises after the load."""
    if compare is None and fail is None:
        return  # a plain run imports nothing more
    from pytest_flakebench.compare.baseline import parse_request
    from pytest_flakebench.compare.thresholds import parse_spec

    for raw, parse in ((compare, parse_request), (fail, parse_spec)):
        if raw is None:
            continue
        try:
            parse(str(raw[0]))
        except ValueError as exc:  # ThresholdError is a ValueError
            raise pytest.UsageError(f"{raw[1]}={raw[0]!r}: {exc}") from None


def _did_you_mean(name: str, choices: tuple[str, ...] | set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name[:200], sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
