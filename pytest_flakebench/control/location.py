"""Where the control plane lives, given the options (pure).

- ``--flakebench-control URL`` (env ``FLAKEBENCH_CONTROL``, ini ``flakebench_control``) wins.
- Otherwise the results store, except a Snowflake store with local workers: every poll there is
  a billed query, so the control plane is a private SQLite file (local workers share the
  machine, and the run's rows still go to Snowflake).
- Workers on other machines (``--tx ssh=…``) need a plane they can all reach: the store, when it
  is a server (PostgreSQL, Snowflake); a SQLite file is refused by the caller.
"""

from __future__ import annotations

from pytest_flakebench.errors import ConfigError
from pytest_flakebench.urls import scheme_of

PRIVATE = None  # a SQLite file in a temporary folder of the controlling process


def choose(explicit: str | None, store_url: str | None, *, remote_workers: bool) -> str | None:
    """The control-plane URL, or ``PRIVATE`` for a private SQLite file."""
    if explicit:
        return explicit
    if store_url is None:
        return PRIVATE
    if _scheme(store_url) == "snowflake" and not remote_workers:
        return PRIVATE
    return store_url


def is_shared(url: str | None) -> bool:
    """True for a control plane that workers on other machines can reach."""
    return url is not None and _scheme(url) in ("postgresql", "snowflake")


def _scheme(url: str) -> str | None:
    """The URL's scheme; None for one no store has (opening the store reports that clearly,
    before any load: here, during configuration, it would be an INTERNALERROR)."""
    try:
        return scheme_of(url)
    except ConfigError:
        return None
