"""Snowflake identifier rules, pure: how a name the user wrote meets the catalog's spelling.

Snowflake stores an unquoted identifier in upper case (``benchdb`` is ``BENCHDB``) and a
double-quoted one exactly as written (``"benchdb"`` is another object, lower case). So a name is
*normalised* first (upper-cased unless quoted), then *picked* from the names the catalog lists:
the normalised spelling when the catalog has it, else the one name that differs only in case
(a table created as ``"orders"`` is still found by ``orders``); two such names are ambiguous.
The picked spelling is then always double-quoted in generated SQL, so it is used verbatim.

Values that cannot be bound (``SHOW … LIKE '<pattern>'``: Snowflake binds values only in
DML/queries) are rendered as string literals by :func:`string_literal`, from identifiers that
were validated first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_PLAIN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
_QUOTED_RE = re.compile(r'^"(?:[^"]|""){1,255}"$')


def is_quoted(part: str) -> bool:
    """True for a double-quoted identifier (``"Orders"``)."""
    return bool(_QUOTED_RE.fullmatch(part))


def normalise(part: str) -> str:
    """The catalog spelling Snowflake gives ``part``: upper case unless double-quoted.

    Raises ``ValueError`` for text that is neither a plain nor a double-quoted identifier.
    """
    if is_quoted(part):
        return part[1:-1].replace('""', '"')
    if not _PLAIN_RE.fullmatch(part):
        raise ValueError(f"{part!r} is not a Snowflake identifier: use letters, digits, '_' or "
                         "'$' (not starting with a digit), or a double-quoted name")
    return part.upper()


def quote(name: str) -> str:
    """``name`` (a catalog spelling) as a double-quoted identifier, ``"`` doubled."""
    return '"' + name.replace('"', '""') + '"'


def string_literal(text: str) -> str:
    """``text`` as a single-quoted Snowflake string literal (``'`` and ``\\`` escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class Pick:
    """The outcome of matching a requested name against catalog names."""

    name: str | None  # the catalog's spelling, None when not found or ambiguous
    candidates: tuple[str, ...] = ()  # the names that matched case-insensitively

    @property
    def ambiguous(self) -> bool:
        """More than one catalog name differs from the request only in case."""
        return self.name is None and len(self.candidates) > 1


def pick(requested: str, names: Sequence[str]) -> Pick:
    """The catalog spelling of ``requested`` among ``names`` (see the module docstring)."""
    wanted = normalise(requested)
    if wanted in names:
        return Pick(wanted, (wanted,))
    if is_quoted(requested):
        return Pick(None)  # a quoted name is exact: no case folding
    folded = tuple(n for n in names if n.upper() == wanted.upper())
    return Pick(folded[0] if len(folded) == 1 else None, folded)
