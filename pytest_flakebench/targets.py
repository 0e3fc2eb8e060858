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
from pytest_flakebench.identifiers import check_identifier
from pytest_flakebench.urls import redact_url, scheme_of


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A target URL and where its password comes from."""

    url: str
    name: str | None = None
    password_env: str | None = None
    # A password decrypted from a stored connection: never in repr/str.
    stored_password: str | None = field(default=None, repr=False, compare=False)

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
            raise ConfigError(f"ini flakebench_targets line {line!r}: expected NAME = URL")
        found[name.strip()] = url.strip()
    return found


def is_url(text: str) -> bool:
    """Whether ``text`` looks like a URL rather than a target name."""
    return "://" in text


def resolve_target(target: str, *, rootdir: Path, ini_lines: list[str],
                   store_url: str | None = None) -> ResolvedTarget:
    """The URL behind ``target`` (a URL is returned as it is, after a scheme check).

    A name that is no env/ini/pyproject target is looked up among the stored connections of
    the results store ``store_url`` (relative SQLite paths against ``rootdir``), if any.
    """
    if is_url(target):
        scheme_of(target)
        return ResolvedTarget(url=target)
    check_identifier(target, what="target name")
    env_value = os.environ.get(f"FLAKEBENCH_TARGET_{target.upper()}")
    if env_value:
        scheme_of(env_value)
        return ResolvedTarget(url=env_value, name=target)
    ini = _ini_targets(ini_lines)
    if target in ini:
        scheme_of(ini[target])
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
        scheme_of(url)
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
            scheme_of(stored.url)
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
