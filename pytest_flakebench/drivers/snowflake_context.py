"""Which database and schema a Snowflake target means: the session's current context, and the
catalog's own spelling of a database or schema named by the table or the URL.

Resolved in turn (unquoted names upper-cased as Snowflake does, else the one catalog name that
differs only in case; ``snowflake_names``), so an error names the first missing part and the
role that cannot see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pytest_flakebench.drivers import snowflake_names as names
from pytest_flakebench.drivers import snowflake_statements as S
from pytest_flakebench.errors import TargetError

Query = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]
Show = Callable[[str], tuple[list[tuple[Any, ...]], list[str]]]


class CatalogContext:
    """Resolves names on the driver's metadata connection (``query`` and ``show`` run there)."""

    def __init__(self, query: Query, show: Show, kwargs: dict[str, Any], shown: str) -> None:
        self._query = query
        self._show = show
        self._kwargs = kwargs
        self.redacted_url = shown
        self._context: tuple[Any, Any, Any] | None = None  # database, schema, role

    def role(self) -> str | None:
        """The session's current role (None: the user's default)."""
        if self._context is None:
            db, schema, role = self._query(S.CURRENT_CONTEXT.sql, ())[0]
            self._context = (db, schema, role)
        role = self._context[2]
        return str(role) if role else None

    def database(self, requested: str | None) -> str:
        """The catalog spelling of the database (the table's, else the URL's, else current)."""
        if self._context is None:
            self.role()
        assert self._context is not None
        current = self._context[0]
        source = "table" if requested else "URL"
        requested = requested or self._kwargs.get("database") or (str(current) if current
                                                                  else None)
        if not requested:
            raise TargetError(f"{self.redacted_url} names no database and the user has no "
                              "default one: use snowflake://user@account/DATABASE/SCHEMA")
        chosen, wanted = self._lookup(
            "database", str(requested), lambda like: S.SHOW_DATABASES.render(pattern=like))
        if chosen.name is None:
            why = (f"is ambiguous: {', '.join(chosen.candidates)} differ only in case; quote it"
                   if chosen.ambiguous else
                   f"does not exist, or role {self.role() or '(default)'} has no privilege on "
                   "it (SHOW DATABASES does not list it)")
            raise TargetError(f"database {requested!r} (as {wanted}) named by the {source} "
                              f"{why}; target {self.redacted_url}")
        return chosen.name

    def schema(self, database: str, requested: str | None) -> str:
        """The catalog spelling of the schema in ``database``."""
        assert self._context is not None
        requested = requested or self._kwargs.get("schema") or (
            str(self._context[1]) if self._context[1] else None)
        if not requested:
            raise TargetError(f"{self.redacted_url} names no schema: write 'schema.table' or "
                              "put the schema in the URL (/DATABASE/SCHEMA)")
        chosen, wanted = self._lookup(
            "schema", str(requested),
            lambda like: S.SHOW_SCHEMAS.render(pattern=like, database=names.quote(database)))
        if chosen.name is None:
            why = (f"is ambiguous: {', '.join(chosen.candidates)} differ only in case"
                   if chosen.ambiguous else
                   f"does not exist in database {database}, or role "
                   f"{self.role() or '(default)'} has no privilege on it")
            raise TargetError(f"schema {requested!r} (as {wanted}) {why}; target "
                              f"{self.redacted_url}")
        return chosen.name

    def _lookup(self, what: str, requested: str,
                show: Callable[[str], str]) -> tuple[names.Pick, str]:
        """The catalog's pick for ``requested`` (a ``what``: database or schema) and its
        normalised form; ``show`` renders the SHOW statement for a LIKE pattern."""
        try:
            wanted = names.normalise(requested)
        except ValueError as exc:
            raise TargetError(f"{self.redacted_url}: {what} {requested!r}: {exc}") from None
        rows, cols = self._show(show(names.string_literal(wanted)))
        listed = [str(r[cols.index("name")]) for r in rows] if "name" in cols else []
        return names.pick(requested, listed), wanted
