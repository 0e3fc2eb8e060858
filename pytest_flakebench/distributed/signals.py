"""SIGTERM handled like Ctrl-C in the controlling process.

CI timeouts, ``timeout(1)`` and container stops send SIGTERM. Python's default for it kills the
process at once: no STOP reaches the workers, nothing is stored, no JSON or JUnit is written.
While benchmarks run, the controlling process turns SIGTERM into :class:`Terminated`, a
``KeyboardInterrupt``, so pytest and pytest-xdist take their Ctrl-C path: the plugin's
``pytest_keyboard_interrupt`` sends STOP to every worker, waits for the drain, stores the run
CANCELLED, and the session writes its reports. A second SIGTERM kills at once, as usual.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def let_controller_loss_interrupt() -> bool:
    """In an xdist worker: make SIGINT raise ``KeyboardInterrupt`` again if it was inherited
    ignored; True if it was. Call from the main thread.

    When the controlling process dies (SIGKILL, OOM), execnet ends the worker's execution with
    ``_thread.interrupt_main()`` and, 10 s later, ``os._exit``. ``interrupt_main`` does nothing
    while SIGINT is ignored, which every process started from a shell's background job (``cmd
    &`` in a script, ``nohup``) inherits: the worker would be killed before it posts its
    measurements, which the next session recovers the run from. A worker is not the user's
    foreground process (its SIGINT comes from execnet or from the controller's terminal), so
    taking the inherited ``SIG_IGN`` back is safe; the controlling process keeps it, as Python
    itself does (``nohup`` means no Ctrl-C there).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        return False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True


class SigtermAsInterrupt:
    """Install on ``install()`` (main thread, default handler only); undo on ``restore()``."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        """Take SIGTERM over, unless someone else already handles it (then leave it)."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def restore(self) -> None:
        """Give SIGTERM back to its previous handler."""
        if self._installed and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous or signal.SIG_DFL)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.restore()  # a second SIGTERM ends the process the default way
        raise Terminated("terminated by SIGTERM")
