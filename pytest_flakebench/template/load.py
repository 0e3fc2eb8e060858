"""Building a template from marker keywords and an optional template file, with clear errors.

``template="benchmarks/oltp.toml"`` (TOML, YAML or JSON; resolved against the test file's folder,
then the rootdir) supplies the fields; marker keywords override them field by field. Every
validation error is rewritten as one readable block naming the field, the value and the fix.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from pytest_flakebench.errors import TemplateError
from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.template.model import Template
from pytest_flakebench.urls import redact_target, url_secrets

TEMPLATE_KEY = "template"


MAX_TEMPLATE_BYTES = 1024 * 1024
"""The largest template file read (1 MiB): a template is a page of settings, not data."""


def _yaml_loader() -> type:
    """A safe YAML loader that refuses aliases (``*name``): an alias bomb of a few hundred bytes
    expands to gigabytes, and a template never needs one (repeat the value instead)."""
    import yaml  # only paid for by users of YAML templates

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, "YAML aliases (*name) are not allowed in a template: repeat "
                    "the value instead", event.start_mark)
            return super().compose_node(parent, index)

    return NoAliasLoader


def _bounded(exc: BaseException, limit: int = 400) -> str:
    """A parser's message, cut: some quote the offending input at length."""
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + " ..."


def load_template_file(path: Path) -> dict[str, Any]:
    """Read a TOML, YAML or JSON template file (at most ``MAX_TEMPLATE_BYTES``) into a dict."""
    suffix = path.suffix.lower()
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TEMPLATE_BYTES + 1)
        if len(raw) > MAX_TEMPLATE_BYTES:
            raise TemplateError(f"template file {path}: larger than {MAX_TEMPLATE_BYTES // 1024} "
                                f"KiB; a template holds settings, not data: keep it smaller")
        text = raw.decode("utf-8")
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader)
            except yaml.YAMLError as exc:
                raise TemplateError(
                    f"template file {path}: not valid YAML: {_bounded(exc)}") from None
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise TemplateError(f"template file {path}: unknown format {excerpt(suffix)}; use "
                                f".toml, .yaml/.yml or .json")
    except TemplateError:
        raise
    except OSError as exc:
        raise TemplateError(f"template file {path}: cannot be read ({exc.strerror})") from None
    except RecursionError:
        raise TemplateError(f"template file {path}: nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise TemplateError(f"template file {path}: not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start})") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise TemplateError(
            f"template file {path}: not valid {suffix[1:].upper()}: {_bounded(exc)}"
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


def _models_at(loc: tuple[int | str, ...]) -> list[type[BaseModel]]:
    """The template models a validation error's location points into (for did-you-mean)."""
    current: list[Any] = [Template]
    for part in loc:
        following: list[Any] = []
        for kind in _expand(current):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                field = kind.model_fields.get(str(part))
                if field is None:
                    field = next((f for f in kind.model_fields.values() if f.alias == part), None)
                if field is not None:
                    following.append(field.annotation)
            elif get_origin(kind) in (dict, list, tuple):
                args = get_args(kind)
                following.extend(args[-1:] if get_origin(kind) is dict else args)
        # a union's tag (e.g. 'int_range') is a location part of no field: stay where we are
        current = following or current
    return [k for k in _expand(current) if isinstance(k, type) and issubclass(k, BaseModel)]


def _expand(kinds: list[Any]) -> list[Any]:
    """Unwrap Annotated/Optional/Union to the types inside."""
    out: list[Any] = []
    stack = list(kinds)
    while stack:
        kind = stack.pop()
        origin = get_origin(kind)
        if origin is Annotated:
            stack.append(get_args(kind)[0])
        elif origin in (Union, UnionType):
            stack.extend(get_args(kind))
        else:
            out.append(kind)
    return out


def did_you_mean(name: object, choices: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The closest of ``choices`` to ``name``, if one is close enough to be a typo of it."""
    close = difflib.get_close_matches(str(name)[:200], sorted(choices), n=1)
    return close[0] if close else None


_BOUND_WORDS = {"less_than_equal": ("le", "at most"), "less_than": ("lt", "below"),
                "greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "above")}


def _cut(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _shown(value: object) -> str:
    # a target (or any string) may carry a password: never echo one; never more than an excerpt
    return excerpt(redact_target(value) if isinstance(value, str) else value)


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"]) or "(template)"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        field = str(error["loc"][-1])
        parent = tuple(error["loc"][:-1])
        models = _models_at(parent)
        if not models and parent:  # the last part is a union's tag (e.g. 'int_range')
            models = [m for m in _models_at(parent[:-1]) if str(parent[-1]) in m.model_fields]
        fields = {name for model in models
                  for name, info in model.model_fields.items()
                  for name in (info.alias or name,)} - {"template_source"}
        close = did_you_mean(field, fields)
        hint = f"did you mean {close!r}?" if close else (
            f"remove it (known: {', '.join(sorted(fields))})" if fields else "remove it")
        return f"{_cut(loc)}: unknown field (value {_shown(value)}): {hint}"
    if kind == "missing":
        return f"{loc}: required field is missing: add {loc}=..."
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        bound = (error.get("ctx") or {}).get(key)
        shown_bound = (f"{bound:.0f}" if isinstance(bound, float) and bound.is_integer()
                       else f"{bound:g}" if isinstance(bound, float) else str(bound))
        return (f"{_cut(loc)}={_shown(value)}: must be {words} {shown_bound} (see "
                f"\"Bounds\" in the README)")
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        close = did_you_mean(value, choices) if isinstance(value, str) else None
        hint = f" (did you mean {close!r}?)" if close else ""
        return f"{_cut(loc)}={_shown(value)}: expected one of {', '.join(map(repr, choices))}{hint}"
    if kind == "finite_number":
        return f"{_cut(loc)}={_shown(value)}: must be a finite number (not NaN or inf)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if len(message) > 600:
        message = message[:600] + " ..."
    if kind == "value_error" and not error["loc"]:
        return message
    shown = _shown(value)
    return f"{_cut(loc)}: {message}" if shown in message else f"{_cut(loc)}={shown}: {message}"


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
            raise TemplateError(f"{where}: template={excerpt(ref)}: expected a file path string "
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
                    raise TemplateError(f"template={excerpt(ref)}: {exc}") from None
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
        errors = exc.errors()
        lines = [_describe(e) for e in errors[:20]]
        if len(errors) > 20:
            lines.append(f"... and {len(errors) - 20} more")
        source = (f" (stored template {_cut(ref)})" if isinstance(ref, str)
                  and ref.startswith("store:") else f" (template file {_cut(str(ref))})" if ref
                  else "")
        raise TemplateError(
            f"{where}: invalid flakebench template{source}:\n"
            + "\n".join(f"  - {x}" for x in lines)
        ) from None


def check_template_fields(data: dict[str, Any], *, where: str) -> None:
    """Validate a template's fields on their own (``flakebench templates push``).

    Required fields may be missing (the marker can supply ``target=`` and ``table=``): the
    whole-template checks (mix sums, SLO kinds) still run, with placeholders for them, when the
    file has a mix. A target
    URL holding a password is refused: a stored template is read by whoever reads the store.
    """
    if "template_source" in data:
        raise TemplateError(f"{where}: template_source is set by flakebench: remove it")
    target = data.get("target")
    if isinstance(target, str) and url_secrets(target) and "://" in target:
        raise TemplateError(f"{where}: target {_shown(target)} holds a password, and a stored "
                            f"template is readable by anyone who reads the store: use a named "
                            f"target (`flakebench connections add NAME --url URL`) instead")
    placeholders = {"target": "placeholder_target", "table": "placeholder_table"}
    filled = {**{k: v for k, v in placeholders.items() if k not in data}, **data}
    try:
        Template.model_validate(filled)
    except ValidationError as exc:
        # Without a mix in the file the marker supplies it: cross-field checks wait for it.
        errors = [e for e in exc.errors() if e["type"] != "missing"
                  and ("mix" in data or e["loc"])]
        lines = [_describe(e) for e in errors[:20]]
        if len(errors) > 20:
            lines.append(f"... and {len(errors) - 20} more")
        if lines:
            raise TemplateError(f"{where}: invalid flakebench template:\n"
                                + "\n".join(f"  - {x}" for x in lines)) from None
