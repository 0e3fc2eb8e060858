"""Reaching a Snowflake account: the connector (imported on first use), a ``snowflake://`` URL as
connect keyword arguments, the secrets among them, one tagged connection, and error text with
the secrets scrubbed and Snowflake's error code.

URL: ``snowflake://user:password@account/database/schema?warehouse=WH&role=R``; every other query
parameter is passed to ``snowflake.connector.connect`` as a keyword (``true``/``false`` and
integers converted), so a local emulator is reached with
``?host=127.0.0.1&port=8765&protocol=http``. Shared by the driver, the results store and the
control plane's Snowflake connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pytest_flakebench.errors import ConfigError, TargetError
from pytest_flakebench.urls import redact_url

INSTALL_HINT = ("snowflake:// needs snowflake-connector-python: "
                "pip install 'pytest-flakebench[snowflake]'")
LOGIN_TIMEOUT_S = 15


def connector() -> Any:
    """``snowflake.connector``, imported on first use; ``ConfigError`` with the install hint."""
    try:
        import snowflake.connector
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return snowflake.connector


def _convert(value: str) -> object:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def connect_kwargs(url: str, password: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``snowflake.connector.connect`` from a ``snowflake://`` URL.

    ``password`` is used when the URL has none (a stored connection, or an env variable).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(f"{redact_url(url)}: not a valid snowflake:// URL") from None
    netloc = parts.netloc
    userinfo, _, account = netloc.rpartition("@")
    user, _, raw_pw = userinfo.partition(":")
    if not account or not user:
        raise ConfigError(
            f"{redact_url(url)}: expected snowflake://user[:password]@account/database/schema"
            "?warehouse=WH&role=ROLE"
        )
    kwargs: dict[str, Any] = {"user": unquote(user), "account": unquote(account)}
    secret = unquote(raw_pw) if raw_pw else password
    if secret:
        kwargs["password"] = secret
    path = [unquote(p) for p in parts.path.split("/") if p]
    if len(path) > 2:
        raise ConfigError(f"{redact_url(url)}: the path is /database/schema, got {len(path)} "
                          "parts")
    if path:
        kwargs["database"] = path[0]
    if len(path) > 1:
        kwargs["schema"] = path[1]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        kwargs[key] = _convert(value)
    kwargs.setdefault("login_timeout", LOGIN_TIMEOUT_S)
    return kwargs


def secrets_of(kwargs: dict[str, Any]) -> list[str]:
    """The secret values among connect kwargs, longest first, to scrub from messages."""
    names = ("password", "token", "passcode", "private_key_file_pwd")
    return sorted({str(kwargs[n]) for n in names if kwargs.get(n)}, key=len, reverse=True)


def open_connection(kwargs: dict[str, Any], *, query_tag: str, shown: str,
                    secrets: Sequence[str], error: type[Exception] = TargetError,
                    session: dict[str, object] | None = None) -> Any:
    """One qmark connection with ``QUERY_TAG`` (and ``session``) set at login."""
    sf = connector()
    params = {"QUERY_TAG": query_tag, "CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False,
              **(session or {})}
    try:
        return sf.connect(**kwargs, paramstyle="qmark", session_parameters=params)
    except sf.Error as exc:
        reason = scrub(exc, secrets)
    raise error(f"cannot connect to {shown}: {reason}\n  check account, user, password "
                "(from the URL or a stored connection) and the network")


def scrub(exc: BaseException | str, secrets: Sequence[str]) -> str:
    """The first line of a message with every secret replaced by ``***``."""
    text = str(getattr(exc, "msg", None) or exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def error_code(exc: BaseException) -> str:
    """Snowflake's six-digit error code (``002003``), else the SQLSTATE or class name."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return f"{errno:06d}"
    return str(getattr(exc, "sqlstate", None) or type(exc).__name__)
