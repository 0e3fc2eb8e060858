"""Target and store URLs: scheme dispatch, SQLite paths, and redaction of secrets.

Forms (PRODUCT.md, "Target and store URLs"): ``postgresql://user@host:port/db?…`` (libpq),
``snowflake://user:password@account/database/schema?warehouse=…``, ``sqlite:///relative.db`` and
``sqlite:////absolute.db``. A redacted URL never carries a password, token or key, so it is the
only form that may reach output, logs, reports, stored rows or exception text.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pytest_flakebench.errors import ConfigError

SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "sqlite": "sqlite",
    "snowflake": "snowflake",
}

_SECRET_PARAMS = {"password", "passwd", "pwd", "token", "private_key", "private_key_file_pwd",
                  "passcode", "secret", "sslpassword", "private_key_passphrase"}


def scheme_of(url: str) -> str:
    """The normalised scheme (``postgresql``, ``sqlite`` or ``snowflake``)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigError(
            f"{redact_url(url)!r} is not a supported URL: use postgresql://user@host:port/db, "
            f"snowflake://user@account/database/schema?warehouse=WH or sqlite:///path.db"
        )
    return SCHEMES[scheme]


def redact_url(url: str) -> str:
    """``url`` with any password and secret query parameters replaced by ``***``."""
    if "://" not in url:
        return url
    if url.lower().startswith("sqlite:"):
        return url.split("?", 1)[0]  # a file path holds no secret; urlunsplit would mangle it
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("://", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                          safe="*/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def sqlite_path(url: str, *, base: Path | None = None) -> Path:
    """The file of a ``sqlite:///`` URL; relative paths resolve against ``base`` (or the cwd)."""
    if not url.lower().startswith("sqlite:///"):
        raise ConfigError(
            f"{url!r} is not a SQLite URL: use sqlite:///relative/path.db or sqlite:////abs/path.db"
        )
    raw = url[len("sqlite:///"):].split("?", 1)[0]
    if not raw:
        raise ConfigError(f"{url!r} names no file: use e.g. sqlite:///.flakebench/flakebench.db")
    path = Path(raw)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path
