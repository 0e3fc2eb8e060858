"""Building a template from marker keywords and an optional template file, with clear errors.

``template="benchmarks/oltp.toml"`` (TOML, YAML or JSON; resolved against the test file's folder,
then the rootdir) supplies the fields; marker keywords override them field by field. Every
validation error is rewritten as one readable block naming the field, the value and the fix.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pytest_flakebench.errors import TemplateError
from pytest_flakebench.template import Template

TEMPLATE_KEY = "template"


def load_template_file(path: Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON template file into a dict."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml  # only paid for by users of YAML templates

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise TemplateError(f"template file {path}: not valid YAML: {exc}") from None
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise TemplateError(
                f"template file {path}: unknown format {suffix!r}; use .toml, .yaml/.yml or .json"
            )
    except OSError as exc:
        raise TemplateError(f"template file {path}: cannot be read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise TemplateError(
            f"template file {path}: not valid {suffix[1:].upper()}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise TemplateError(f"template file {path}: expected a table/mapping of template fields")
    return data


def _find_file(ref: str, search: list[Path]) -> Path:
    for base in search:
        candidate = (base / ref).resolve()
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(base / ref) for base in search)
    raise TemplateError(f"template file {ref!r} not found (looked at {tried})")


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "(template)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        field = str(error["loc"][-1])
        fields = list(Template.model_fields) if len(error["loc"]) == 1 else []
        close = difflib.get_close_matches(field, fields, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it"
        return f"{loc}: unknown field (value {value!r}): {hint}"
    if kind == "missing":
        return f"{loc}: required field is missing: add {loc}=..."
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}={value!r}: {message}" if kind != "value_error" or len(error["loc"]) else message


def _source_of(path: Path, search: list[Path]) -> str:
    """The file as recorded in a run: relative to the rootdir (the last search folder) when
    inside it, so every host of a distributed run records the same text."""
    for base in reversed(search):
        try:
            return path.relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def build_template(marker_kwargs: dict[str, Any], *, where: str, search: list[Path],
                   store_url: str | None = None, store_base: Path | None = None) -> Template:
    """Validate marker keywords (plus a ``template=`` file or stored template) into a ``Template``.

    ``where`` names the test in every message; ``search`` lists folders for relative files;
    ``store_url`` (relative SQLite paths against ``store_base``) serves ``store:NAME[@VERSION]``.
    ``template_source`` records the file (relative to the rootdir) or ``store:NAME@VERSION``.
    """
    fields = dict(marker_kwargs)
    ref = fields.pop(TEMPLATE_KEY, None)
    data: dict[str, Any] = {}
    if ref is not None:
        if not isinstance(ref, str):
            raise TemplateError(f"{where}: template={ref!r}: expected a file path string "
                                "or store:NAME[@VERSION]")
        try:
            if ref.startswith("store:"):
                from pytest_flakebench.catalog.lookup import stored_template
                from pytest_flakebench.errors import FlakebenchError

                try:
                    data, source = stored_template(ref, store_url=store_url,
                                                   base_dir=store_base)
                except FlakebenchError as exc:
                    if isinstance(exc, TemplateError):
                        raise
                    raise TemplateError(f"template={ref!r}: {exc}") from None
            else:
                path = _find_file(ref, search)
                data, source = load_template_file(path), _source_of(path, search)
        except TemplateError as exc:
            raise TemplateError(f"{where}: {exc}") from None
        if "template_source" in data or "template_source" in fields:
            raise TemplateError(f"{where}: template_source is set by flakebench (the template "
                                "file or store:NAME@VERSION used): remove it")
        data["template_source"] = source
    elif "template_source" in fields:
        raise TemplateError(f"{where}: template_source is set by flakebench: remove it")
    data.update(fields)
    try:
        return Template.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors()]
        source = (f" (stored template {ref})" if isinstance(ref, str) and ref.startswith("store:")
                  else f" (template file {ref})" if ref else "")
        raise TemplateError(
            f"{where}: invalid flakebench template{source}:\n"
            + "\n".join(f"  - {x}" for x in lines)
        ) from None


def check_template_fields(data: dict[str, Any], *, where: str) -> None:
    """Validate a template's fields on their own (``flakebench templates push``).

    Required fields may be missing (the marker can supply ``target=`` and ``table=``); every
    other problem is refused with the same messages a test would get.
    """
    if "template_source" in data:
        raise TemplateError(f"{where}: template_source is set by flakebench: remove it")
    try:
        Template.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors() if e["type"] != "missing"]
        if lines:
            raise TemplateError(f"{where}: invalid flakebench template:\n"
                                + "\n".join(f"  - {x}" for x in lines)) from None
