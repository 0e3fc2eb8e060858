"""Target and store URLs: scheme dispatch, SQLite paths, and redaction of secrets.

Forms (PRODUCT.md, "Target and store URLs"): ``postgresql://user@host:port/db?…`` (libpq),
``snowflake://user:password@account/database/schema?warehouse=…``, ``sqlite:///relative.db`` and
``sqlite:////absolute.db``. A redacted URL never carries a password, token or key, so it is the
only form that may reach output, logs, reports, stored rows or exception text.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from pytest_flakebench.errors import ConfigError
from pytest_flakebench.excerpt import excerpt

SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "sqlite": "sqlite",
    "snowflake": "snowflake",
}

# Query parameters that carry a secret (redacted everywhere, never stored or spooled).
SECRET_PARAMS = {"password", "passwd", "pwd", "token", "private_key", "private_key_file_pwd",
                  "passcode", "secret", "sslpassword", "private_key_passphrase"}


_QUERY_SECRET = re.compile(r"(?i)([?&;])(" + "|".join(sorted(SECRET_PARAMS)) + r")=[^&;#]*")


def scheme_of(url: str) -> str:
    """The normalised scheme (``postgresql``, ``sqlite`` or ``snowflake``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigError(
            f"{excerpt(redact_url(url))} is not a supported URL: use "
            f"postgresql://user@host:port/db, "
            f"snowflake://user@account/database/schema?warehouse=WH or sqlite:///path.db"
        )
    return SCHEMES[scheme]


def redact_url(url: str) -> str:
    """``url`` with any password and secret query parameters replaced by ``***``.

    Parsed by hand, not with ``urlsplit``: a malformed URL (an unencoded ``/``, ``?`` or ``@`` in
    the password, an unclosed ``[``) must come out redacted too. Everything between the first
    ``:`` of the user info and the LAST ``@`` is the password (over-redacting an ``@`` in a
    query is harmless; showing part of a password is not).
    """
    if "://" not in url:
        return url
    if url.lower().startswith("sqlite:///"):
        return url.split("?", 1)[0]  # a file path holds no secret
    scheme, rest = url.split("://", 1)
    at = rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:
        rest = rest[:at].split(":", 1)[0] + ":***" + rest[at:]
    if "?" in rest:
        rest = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}=***", rest)
    return f"{scheme}://{rest}"


def sqlite_path(url: str, *, base: Path | None = None) -> Path:
    """The file of a ``sqlite:///`` URL; relative paths resolve against ``base`` (or the cwd)."""
    if not url.lower().startswith("sqlite:///"):
        raise ConfigError(f"{excerpt(redact_url(url))} is not a SQLite URL: use "
                          f"sqlite:///relative/path.db or sqlite:////abs/path.db")
    raw = url[len("sqlite:///"):].split("?", 1)[0]
    if not raw:
        raise ConfigError(f"{excerpt(url)} names no file: use e.g. "
                          f"sqlite:///.flakebench/flakebench.db")
    path = Path(raw)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path


_NOT_NETLOC = re.compile(r"[/?#]")
_KEYWORD_SECRET = re.compile(
    r"(?i)\b(" + "|".join(sorted(SECRET_PARAMS)) + r")(\s*=\s*)('[^']*'|[^\s&;]+)")


def check_url_syntax(url: str) -> str:
    """Refuse a URL that cannot be split into its parts (a bad port, an unclosed ``[``), with
    a message that shows it redacted; libpq would otherwise echo it, password included."""
    if url.lower().startswith("sqlite:"):
        if not url.lower().startswith("sqlite:///"):
            raise ConfigError(f"{excerpt(redact_url(url))} is not a SQLite URL: use "
                              f"sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number in 0..65535)
    except ValueError as exc:
        raise ConfigError(f"{excerpt(redact_url(url))} is not a valid URL ({exc}): write "
                          f"scheme://user@host:port/database, percent-encoding special "
                          f"characters in the password (e.g. %40 for @)") from None
    if not parts.hostname and scheme_of(url) == "snowflake":
        raise ConfigError(f"{excerpt(redact_url(url))} names no account: use "
                          f"snowflake://user@account/database/schema?warehouse=WH")
    return url


def url_secrets(url: str) -> tuple[str, ...]:
    """Every secret written in ``url`` (as written and percent-decoded), even when the URL is
    malformed: what must be scrubbed from any text a library derives from it."""
    found: set[str] = set()
    rest = url.split("://", 1)[1] if "://" in url else url
    netloc = _NOT_NETLOC.split(rest, maxsplit=1)[0]
    for userinfo in (netloc.rpartition("@")[0], rest.rpartition("@")[0]):
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found.add(password)
    for match in _KEYWORD_SECRET.finditer(url):
        found.add(match.group(3).strip("'"))
    if "?" in url:
        for key, value in parse_qsl(url.split("?", 1)[1], keep_blank_values=True):
            if key.lower() in SECRET_PARAMS:
                found.add(value)
    found |= {unquote(s) for s in found}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def redact_target(text: str) -> str:
    """A target as it may be shown or stored: a URL redacted (``redact_url``), and in anything
    else (a scheme-less ``user:pw@host/db``, a ``password=...`` keyword) the secret replaced."""
    if "://" in text:
        return redact_url(text)
    shown = _KEYWORD_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    netloc = _NOT_NETLOC.split(shown, maxsplit=1)[0]
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        shown = f"{userinfo}@{host}" + shown[len(netloc):]
    return shown


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
