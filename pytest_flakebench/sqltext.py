"""Small, dependency-free scanning of SQL text: placeholders outside literals and comments.

User SQL (per-kind overrides and custom queries) is written with ``?`` placeholders and an
optional ``{table}`` marker. Drivers with another parameter style get it converted here, so a
``?`` or ``%`` inside a string literal, a quoted identifier or a comment is never touched.
"""

from __future__ import annotations

from collections.abc import Iterator


def _segments(sql: str) -> Iterator[tuple[bool, str]]:
    """Yield ``(is_code, text)`` pieces: code, or a literal/identifier/comment kept verbatim."""
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        end = -1
        if ch in ("'", '"'):
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:  # doubled quote is an escaped quote
                        j += 2
                        continue
                    break
                j += 1
            end = min(j + 1, n)
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            end = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            end = n if j < 0 else j + 2
        elif ch == "$" and i + 1 < n and sql[i + 1] == "$":
            j = sql.find("$$", i + 2)
            end = n if j < 0 else j + 2
        if end >= 0:
            if start < i:
                yield True, sql[start:i]
            yield False, sql[i:end]
            i = start = end
        else:
            i += 1
    if start < n:
        yield True, sql[start:]


def count_placeholders(sql: str) -> int:
    """Count ``?`` placeholders outside literals and comments."""
    return sum(text.count("?") for is_code, text in _segments(sql) if is_code)


def to_format_style(sql: str) -> str:
    """Convert ``?`` placeholders to psycopg's ``%s`` and escape every other ``%``."""
    out: list[str] = []
    for is_code, text in _segments(sql):
        text = text.replace("%", "%%")
        out.append(text.replace("?", "%s") if is_code else text)
    return "".join(out)


def to_numeric_style(sql: str) -> str:
    """Convert ``?`` placeholders to ``$1, $2, …`` (libpq's server-side style)."""
    out: list[str] = []
    counter = 0
    for is_code, text in _segments(sql):
        if not is_code:
            out.append(text)
            continue
        for ch in text:
            if ch == "?":
                counter += 1
                out.append(f"${counter}")
            else:
                out.append(ch)
    return "".join(out)


def substitute_table(sql: str, quoted_table: str) -> str:
    """Replace the ``{table}`` marker with the validated, quoted table name."""
    return sql.replace("{table}", quoted_table)


_WRITE_WORDS = frozenset({"insert", "update", "delete", "merge", "upsert", "create", "drop",
                          "alter", "truncate", "copy", "grant", "revoke", "call"})


def writes(sql: str) -> bool:
    """Whether ``sql`` contains a writing keyword outside literals and comments.

    Conservative by design: a read query that merely names a column ``update`` must quote it.
    """
    import re

    for is_code, text in _segments(sql):
        if is_code and any(w.lower() in _WRITE_WORDS for w in re.findall(r"[A-Za-z_]+", text)):
            return True
    return False
