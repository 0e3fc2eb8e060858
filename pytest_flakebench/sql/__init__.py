"""The reviewed DDL of every store, one folder per dialect (``sql/<dialect>/NNN_*.sql``).

Files are applied in name order; each statement is idempotent, so applying them again is
harmless. New tables go in a new numbered file.
"""

from __future__ import annotations

from importlib import resources


def ddl(dialect: str) -> str:
    """Every DDL file of ``dialect`` (``sqlite``, ``postgres``, ``snowflake``), in name order."""
    folder = resources.files("pytest_flakebench") / "sql" / dialect
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return "\n".join(f.read_text(encoding="utf-8") for f in files)
