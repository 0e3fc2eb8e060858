"""Named targets: ``target="orders_pg"`` resolved to a URL (and a password source).

Sources, highest first: env ``FLAKEBENCH_TARGET_<NAME>`` (a URL), ini ``flakebench_targets``
(lines ``NAME = URL``), ``[tool.flakebench.targets.NAME]`` in ``pyproject.toml`` with ``url`` and
optionally ``password_env`` (the variable that holds the password, so it never sits in a file).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pytest_flakebench.errors import ConfigError
from pytest_flakebench.excerpt import excerpt
from pytest_flakebench.identifiers import IDENT_RE
from pytest_flakebench.urls import check_url_syntax, redact_target, redact_url, scheme_of

MAX_TARGET_LENGTH = 2048

NAMED_TARGET_HELP = ("a named target is a plain name (letters, digits, '_') defined in "
                     "[tool.flakebench.targets.NAME], ini flakebench_targets, env "
                     "FLAKEBENCH_TARGET_<NAME> or `flakebench connections add`")


def check_target(text: str) -> str:
    """Return ``text`` if it is a URL with a supported scheme or a plain target name; else raise
    ``ConfigError`` (a ``ValueError``) showing it redacted and saying how to write it."""
    if len(text) > MAX_TARGET_LENGTH:
        raise ConfigError(f"target is {len(text)} characters long ({excerpt(redact_target(text))}"
                          f"): at most {MAX_TARGET_LENGTH}")
    if is_url(text):
        scheme_of(text)
        return check_url_syntax(text)
    if IDENT_RE.fullmatch(text):
        return text
    shown = redact_target(text)
    looks_like_host = bool(text) and not text[0].isspace() and (":" in text or "/" in text
                                                                or "." in text or "@" in text)
    example = (f"postgresql://{shown}" if looks_like_host
               else "postgresql://user@127.0.0.1:5432/db")
    raise ConfigError(
        f"target {excerpt(shown)} is neither a URL nor a target name: a URL needs a scheme, "
        f"e.g. {excerpt(example, 120)} (or sqlite:///path.db, snowflake://user@account/db/"
        f"schema); {NAMED_TARGET_HELP}"
    )


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A target URL and where its password comes from (its repr never shows a password)."""

    url: str
    name: str | None = None
    password_env: str | None = None
    # A password decrypted from a stored connection: never in repr/str.
    stored_password: str | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (f"ResolvedTarget(url={redact_url(self.url)!r}, name={self.name!r}, "
                f"password_env={self.password_env!r})")

    __str__ = __repr__

    @property
    def password(self) -> str | None:
        """The password from ``password_env`` (if configured and set) or a stored connection."""
        if self.password_env is None:
            return self.stored_password
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"target {self.name!r} takes its password from ${self.password_env}, which is not "
                f"set: export it before running the benchmark"
            )
        return value


def _pyproject_targets(rootdir: Path) -> dict[str, dict[str, object]]:
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read [tool.flakebench.targets]: {exc}") from None
    targets = data.get("tool", {}).get("flakebench", {}).get("targets", {})
    if not isinstance(targets, dict):
        raise ConfigError(f"{path}: [tool.flakebench.targets] must be a table of tables")
    return targets


def _ini_targets(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, url = line.partition("=")
        if not sep:
            raise ConfigError(f"ini flakebench_targets line {excerpt(redact_target(line))}: "
                              f"expected NAME = URL")
        found[name.strip()] = url.strip()
    return found


def _check_url(url: str, where: str) -> None:
    try:
        scheme_of(url)
        check_url_syntax(url)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def is_url(text: str) -> bool:
    """Whether ``text`` looks like a URL rather than a target name."""
    return "://" in text


def resolve_target(target: str, *, rootdir: Path, ini_lines: list[str],
                   store_url: str | None = None) -> ResolvedTarget:
    """The URL behind ``target`` (a URL is returned as it is, after a scheme check).

    A name that is no env/ini/pyproject target is looked up among the stored connections of
    the results store ``store_url`` (relative SQLite paths against ``rootdir``), if any.
    """
    check_target(target)
    if is_url(target):
        return ResolvedTarget(url=target)
    env_value = os.environ.get(f"FLAKEBENCH_TARGET_{target.upper()}")
    if env_value:
        _check_url(env_value, f"env FLAKEBENCH_TARGET_{target.upper()}")
        return ResolvedTarget(url=env_value, name=target)
    ini = _ini_targets(ini_lines)
    if target in ini:
        _check_url(ini[target], f"ini flakebench_targets {target}")
        return ResolvedTarget(url=ini[target], name=target)
    table = _pyproject_targets(rootdir)
    if target in table:
        entry = table[target]
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str):
            raise ConfigError(
                f"[tool.flakebench.targets.{target}] needs url = \"postgresql://...\" "
                f"(or sqlite:///path.db)"
            )
        _check_url(url, f"[tool.flakebench.targets.{target}] url")
        password_env = entry.get("password_env") if isinstance(entry, dict) else None
        return ResolvedTarget(url=url, name=target,
                              password_env=str(password_env) if password_env else None)
    if store_url is not None:
        from pytest_flakebench.catalog.lookup import stored_target
        from pytest_flakebench.errors import StoreError

        try:
            stored = stored_target(target, store_url=store_url, base_dir=rootdir)
        except StoreError as exc:
            raise ConfigError(f"target {target!r} is not a URL or a configured target, and the "
                              f"stored connections cannot be read: {exc}") from None
        if stored is not None:
            _check_url(stored.url, f"stored connection {target}")
            return ResolvedTarget(url=stored.url, name=target, stored_password=stored.password)
    known = sorted(set(ini) | set(table))
    raise ConfigError(
        f"target {target!r} is neither a URL nor a named target"
        + (f" (known: {', '.join(known)})" if known else "")
        + f": define [tool.flakebench.targets.{target}] url = \"postgresql://...\" in "
        f"pyproject.toml, set FLAKEBENCH_TARGET_{target.upper()}, store it with "
        f"`flakebench connections add {target} --url URL`, or give a URL"
    )


__all__ = ["ResolvedTarget", "is_url", "redact_url", "resolve_target"]
