"""What the harness knows about a target table, discovered before any load is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pytest_flakebench.errors import TargetError
from pytest_flakebench.identifiers import TableName

TypeClass = Literal["int", "float", "decimal", "text", "bool", "date", "timestamp", "uuid", "bytes",
                    "json", "other"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the target table, with its type reduced to a class the generator knows."""

    name: str
    type_name: str  # as the database spells it, e.g. "integer", "character varying(20)"
    type_class: TypeClass
    nullable: bool
    has_default: bool
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table as found in the catalog; ``table`` carries the catalog's exact spelling."""

    table: TableName
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    is_view: bool = False

    def column(self, name: str) -> Column | None:
        """The column named ``name`` (case-insensitive), if any."""
        for col in self.columns:
            if col.name.lower() == name.lower():
                return col
        return None

    def require_column(self, name: str) -> Column:
        """The column named ``name``; ``TargetError`` listing the table's columns if absent."""
        col = self.column(name)
        if col is None:
            names = ", ".join(c.name for c in self.columns)
            raise TargetError(f"column {name!r} not found in table '{self.table}' "
                              f"(columns: {names})")
        return col


@dataclass(frozen=True, slots=True)
class TableProfile:
    """The table plus the bounds of its key column, used to draw existing and new keys."""

    info: TableInfo
    key_column: Column
    key_min: int | None
    key_max: int | None
    row_count: int
    notes: tuple[str, ...] = field(default=())
