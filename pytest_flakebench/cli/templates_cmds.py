"""``flakebench templates push|list|pull``: templates kept, versioned, in the results store.

A test uses one with ``template="store:NAME"`` (the latest version) or ``"store:NAME@3"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pytest_flakebench.catalog import check_template_name
from pytest_flakebench.cli.options import (
    catalog_opened,
    console,
    print_listing,
    store_url,
    utc_text,
)
from pytest_flakebench.errors import ConfigError, TemplateError
from pytest_flakebench.stores import shown_url

_STORE_HELP = "results store URL (default: $FLAKEBENCH_STORE or sqlite:///.flakebench/flakebench.db)"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``templates`` and its actions."""
    tpl = sub.add_parser("templates", help="templates stored in the results store",
                         description="Versioned templates; tests use template=\"store:NAME\" "
                                     "or template=\"store:NAME@VERSION\".")
    actions = tpl.add_subparsers(dest="templates_command", metavar="ACTION", required=True)
    push = actions.add_parser("push", help="validate FILE and store it as the next version of NAME")
    push.add_argument("file", metavar="FILE", type=Path, help="a .toml, .yaml/.yml or .json file")
    push.add_argument("--name", required=True, help="the stored template's name")
    push.add_argument("--store", help=_STORE_HELP)
    push.set_defaults(handler=run_push)

    lst = actions.add_parser("list", help="stored templates with their latest version")
    lst.add_argument("--store", help=_STORE_HELP)
    lst.set_defaults(handler=run_list)

    pull = actions.add_parser("pull", help="print or write a stored template")
    pull.add_argument("name", metavar="NAME")
    pull.add_argument("--version", type=int, help="a stored version (default: the latest)")
    pull.add_argument("-o", "--output", type=Path, metavar="FILE",
                      help="write to FILE (.toml, .yaml/.yml or .json) instead of printing JSON")
    pull.add_argument("--store", help=_STORE_HELP)
    pull.set_defaults(handler=run_pull)


def run_push(args: argparse.Namespace) -> int:
    """Validate the file with the Template model, then store it as a new version."""
    from pytest_flakebench.template.load import check_template_fields, load_template_file

    name = _name(args.name)
    path: Path = args.file
    data = load_template_file(path)
    check_template_fields(data, where=f"template file {path}")
    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        version = catalog.push_template(name, json.dumps(data, sort_keys=True))
    console().print(f"stored template {name} version {version} in {shown_url(url)}; use it with "
                    f"template=\"store:{name}\" (or \"store:{name}@{version}\")",
                    markup=False, soft_wrap=True)
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every stored template: name, latest version, number of versions."""
    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        found = catalog.list_templates()
    print_listing(f"templates in {shown_url(url)}", ("name", "latest", "versions", "updated"),
                  [(t.name, str(t.latest), str(t.versions), utc_text(t.updated_at))
                   for t in found],
                  none=f"no stored templates in {shown_url(url)}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    """Print a stored template as JSON, or write it in the format of ``-o FILE``'s suffix."""
    name = _name(args.name)
    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        found = catalog.get_template(name, args.version)
    if found is None:
        which = f"version {args.version} of " if args.version is not None else ""
        raise ConfigError(f"no {which}stored template {name!r} in {shown_url(url)}: see "
                          "`flakebench templates list`")
    data: dict[str, Any] = json.loads(found.config)
    output: Path | None = args.output
    if output is None:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return 0
    output.write_text(_render(data, output.suffix.lower()), encoding="utf-8")
    console().print(f"wrote template {name} version {found.version} to {output}", markup=False,
                    soft_wrap=True)
    return 0


def _name(name: str) -> str:
    try:
        return check_template_name(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _render(data: dict[str, Any], suffix: str) -> str:
    if suffix == ".json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    if suffix in (".yaml", ".yml"):
        import yaml

        return str(yaml.safe_dump(data, sort_keys=True))
    if suffix == ".toml":
        return _toml(data)
    raise TemplateError(f"cannot write {suffix!r}: use .toml, .yaml/.yml or .json")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items() if v is not None) + "}"
    raise TemplateError(f"cannot write {value!r} as TOML: write .json or .yaml instead")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml(data: dict[str, Any]) -> str:
    """A template as TOML: top-level keys, nested tables inline (no writer dependency)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if v is not None]
    return "\n".join(lines) + "\n"
