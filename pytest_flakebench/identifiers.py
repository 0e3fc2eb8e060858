"""Validated SQL identifiers: a table name is parsed once and always quoted when rendered.

Only plain identifiers are accepted (letters, digits, ``_`` and ``$``, not starting with a
digit), so a value such as ``"x; drop table y"`` is refused before it can reach any SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_flakebench.excerpt import excerpt

IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,127}")
"""A plain SQL identifier (also the form of a target or query name)."""

IDENT_HELP = "letters, digits, '_' or '$', not starting with a digit (e.g. 'public.orders')"


def check_identifier(part: str, *, what: str = "identifier") -> str:
    """Return ``part`` if it is a plain SQL identifier, else raise ``ValueError``."""
    if not isinstance(part, str) or not IDENT_RE.fullmatch(part):
        raise ValueError(f"{what} {excerpt(part)} is not a plain SQL identifier: use {IDENT_HELP}")
    return part


@dataclass(frozen=True, slots=True)
class TableName:
    """A validated ``[database.][schema.]table`` name; ``database`` is used by Snowflake."""

    name: str
    schema: str | None = None
    database: str | None = None

    @classmethod
    def parse(cls, text: str) -> TableName:
        """Parse ``table``, ``schema.table`` or ``database.schema.table``."""
        parts = text.split(".")
        if not 1 <= len(parts) <= 3:
            raise ValueError(
                f"table {excerpt(text)} must be 'table', 'schema.table' or 'database.schema.table'"
            )
        for part in parts:
            check_identifier(part, what=f"table name part in {excerpt(text)}:")
        if len(parts) == 1:
            return cls(name=parts[0])
        if len(parts) == 2:
            return cls(name=parts[1], schema=parts[0])
        return cls(name=parts[2], schema=parts[1], database=parts[0])

    def parts(self) -> tuple[str, ...]:
        """The non-empty parts, outermost first."""
        return tuple(p for p in (self.database, self.schema, self.name) if p is not None)

    def quoted(self) -> str:
        """Every part double-quoted (identifiers are validated, so no escaping is needed)."""
        return ".".join(f'"{p}"' for p in self.parts())

    def __str__(self) -> str:
        return ".".join(self.parts())


def quote_ident(name: str) -> str:
    """Double-quote one validated identifier."""
    return f'"{check_identifier(name)}"'
