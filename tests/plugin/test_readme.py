"""The README, checked against the code: every option, template field, command and JSON key it
should document is there, and every command and code block it shows is valid."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.plugin.test_sqlite_benchmarks import make_orders_db

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.DOTALL)

# Placeholders the README uses in commands, and a value each parses with.
PLACEHOLDERS = {"RUN_ID": "ab12cd34", "RUN": "ab12cd34", "BASE": "ab12cd34", "NAME": "oltp",
                "FILE": "out.html", "URL": "sqlite:///x.db", "SPEC": "popen"}


def _documented(name: str) -> bool:
    return f"`{name}`" in README or re.search(rf"`[^`\n]*\b{re.escape(name)}\b[^`\n]*`",
                                              README) is not None


def _commands(prefix: str) -> list[str]:
    """Every shell line of the README's bash blocks that starts with ``prefix``, with its
    continuation lines joined and its trailing comment removed."""
    found = []
    for lang, body in BLOCKS:
        if lang not in ("bash", "sh"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in re.split(r"\s*(?:&&|\|\|)\s*", line):
                if part.startswith(prefix):
                    found.append(part)
    return found


def test_every_pytest_option_is_documented_and_every_documented_one_exists(
        pytester: pytest.Pytester) -> None:
    out = pytester.runpytest_subprocess("--help").stdout.str()
    registered = set(re.findall(r"--flakebench[a-z-]*", out))
    shown = set(re.findall(r"--flakebench[a-z-]*", README))
    assert registered, out
    assert sorted(registered - shown) == [], "options missing from the README"
    assert sorted(shown - registered) == [], "the README shows options that do not exist"


def test_every_template_field_is_documented() -> None:
    from pytest_flakebench.template.model import Template

    missing = [f for f in Template.model_fields if not _documented(f)]
    assert missing == []


def test_every_cli_command_is_documented_and_every_shown_one_parses() -> None:
    from pytest_flakebench.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = sorted(sub.choices)  # type: ignore[arg-type]
    assert [c for c in commands if f"flakebench {c}" not in README] == []
    shown = _commands("flakebench ")
    assert len(shown) > 10
    for line in shown:
        if "[" in line or "|" in line or "…" in line:
            continue  # a usage synopsis, not a command
        words = [PLACEHOLDERS.get(w, w) for w in shlex.split(line)[1:]]
        words = [w for w in words if not w.startswith("$(")]
        try:
            parser.parse_args(words)
        except SystemExit as exc:  # argparse's way to refuse
            pytest.fail(f"README command does not parse ({exc.code}): {line}")


def test_python_blocks_compile() -> None:
    blocks = [body for lang, body in BLOCKS if lang == "python"]
    assert blocks
    for body in blocks:
        compile(body, "README.md", "exec")


# Maps keyed by data (kind names, setting names, worker ids), not by the schema.
DATA_KEYED = ("kinds", "server_settings", "error_classes", "split", "workers", "by_kind",
              "waits", "statements")


def _keys(value: object, prefix: str, out: set[str]) -> None:
    if isinstance(value, dict):
        data_keyed = prefix.rsplit(".", 1)[-1] in DATA_KEYED
        for key, inner in value.items():
            if data_keyed:
                _keys(inner, f"{prefix}.<name>", out)
                continue
            out.add(str(key))
            _keys(inner, f"{prefix}.{key}", out)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        _keys(value[0], f"{prefix}[]", out)  # a list of records: their keys are schema


def test_every_json_key_is_documented(pytester: pytest.Pytester) -> None:
    make_orders_db(pytester.path / "demo.db")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.flakebench(target="sqlite:///demo.db", table="orders",
                                mix={"point_lookup": 80, "insert": 20}, concurrency=2,
                                duration="1s", warmup="0.2s")
        def test_json():
            pass
        """)
    result = pytester.runpytest_subprocess("--flakebench", "-p", "no:cacheprovider",
                                           "--flakebench-json=out.json")
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "out.json").read_text())
    keys: set[str] = set(data)
    _keys(data["runs"][0], "run", keys)
    # the template's own keys are the template fields (checked above); histograms are blobs
    from pytest_flakebench.template.model import Template

    keys -= set(Template.model_fields)
    missing = sorted(k for k in keys if not _documented(k))
    assert missing == [], "JSON keys missing from the README"
