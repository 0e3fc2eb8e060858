"""Bounded excerpts of user input for error messages.

A template value can be a megabyte of text or a deeply nested structure; an error names it with
at most ``LIMIT`` characters of its ``repr`` so a bad input never floods a log or a JUnit file.
"""

from __future__ import annotations

import reprlib

LIMIT = 80
"""Characters of a value's repr an error message shows at most."""

class _InOrder(reprlib.Repr):
    """``reprlib.Repr`` that keeps a dict's keys in the order the user wrote them."""

    def repr_dict(self, x: dict[object, object], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        shown = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
                 for k, v in list(x.items())[: self.maxdict]]
        if len(x) > self.maxdict:
            shown.append("...")
        return "{" + ", ".join(shown) + "}"


_REPR = _InOrder()
_REPR.maxstring = LIMIT
_REPR.maxother = LIMIT
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3
_REPR.maxlong = 40


def excerpt(value: object, limit: int = LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters (``...`` marks the cut)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a user object whose repr fails still gets named
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        keep = max(limit - 5, 8)
        text = text[: keep // 2 + keep % 2] + "..." + text[-(keep // 2):]
    return text
