"""Unavailability: the time with no successful operation while errors occurred (pure).

The ticker feeds one interval at a time (every swap of the threads' tallies, a quarter of a
second at most): the first and last completion instants of that interval's successful and
failed operations. An outage runs from the last success before a failure to the next success
(or the window's end), so its length is measured on the operations' own instants, not on the
interval grid; a gap shorter than one interval that opens and closes inside it is not seen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Availability:
    """Accumulates unavailable nanoseconds over a measurement window."""

    last_ok: int | None = None  # completion of the newest success seen (or the window start)
    failing: bool = False  # an operation failed after ``last_ok``
    unavailable_ns: int = 0
    outages: int = 0

    def begin(self, at_ns: int) -> None:
        """The measurement window starts: an outage already under way counts from here."""
        self.last_ok = at_ns

    def interval(self, ok_first: int, ok_last: int, err_first: int, err_last: int) -> None:
        """One interval's instants (0: none of that kind in the interval)."""
        if self.last_ok is None:
            return  # not measuring yet
        if ok_first:
            if self.failing or (err_first and err_first < ok_first):
                self.unavailable_ns += max(0, ok_first - self.last_ok)
                self.outages += 1
            self.last_ok = max(self.last_ok, ok_last)
            self.failing = bool(err_last) and err_last > ok_last
        elif err_first:
            self.failing = True

    def end(self, at_ns: int) -> float:
        """The window ends at ``at_ns``: seconds unavailable (an open outage counts to here)."""
        if self.failing and self.last_ok is not None and at_ns > self.last_ok:
            self.unavailable_ns += at_ns - self.last_ok
            self.outages += 1
            self.failing = False
            self.last_ok = at_ns
        return self.unavailable_ns / 1e9
