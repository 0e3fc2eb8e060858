"""The server's SQLSTATE after a one-call round trip (``PQexecPrepared``) lost it.

``PQexecPrepared`` returns libpq's *last* result. When the server ends the session
(``pg_terminate_backend``, idle-session timeout, shutdown) that is "server closed the connection
unexpectedly", without the server's SQLSTATE (57P01…) that the cursor path reports. Since libpq
14 the connection's error message accumulates every error of the exchange, the server's FATAL
included, formatted with the connection's error verbosity: at ``PQERRORS_VERBOSE`` it reads
``FATAL:  57P01: terminating connection due to administrator command``, from which
``server_error`` recovers the code and the message.

psycopg does not expose ``PQsetErrorVerbosity`` nor ``PQresultVerboseErrorMessage``: both are
called through ctypes on the very libpq psycopg has loaded (found in ``/proc/self/maps``).
Verbose messages are not what users see: ``default_message`` rebuilds the default-verbosity text
of a failed result from its fields, as libpq itself would have written it. When libpq cannot be
found or is older than 14, ``Native.load()`` gives None and the lean path keeps its send/poll
round trip.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
from typing import ClassVar

from psycopg import pq

PQERRORS_DEFAULT = 1
PQERRORS_VERBOSE = 2
PQSHOW_CONTEXT_ERRORS = 1  # libpq's default context visibility (psycopg leaves it)
_MIN_LIBPQ = 140000  # accumulated connection error messages

# A server error line at verbose verbosity: "<severity>:  <SQLSTATE>: <message>". The
# severity may be translated; libpq's own messages ("server closed the connection…") carry none.
_SERVER_LINE = re.compile(rb"^[^\s:][^:\n]*:  ([0-9A-Z]{5}): ([^\n]*)$", re.MULTILINE)


def _loaded_libpq() -> str | None:
    """The path of the libpq psycopg loaded (its bundled copy first, for psycopg-binary)."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(None, 1)[-1]
                if "/libpq" in path and ".so" in path and path not in paths:
                    paths.append(path)
    except OSError:
        return None
    if pq.__impl__ == "binary":
        bundled = [p for p in paths if "psycopg" in p]
        return bundled[0] if len(bundled) == 1 else None
    return paths[0] if len(paths) == 1 else None


class Native:
    """ctypes bindings to the loaded libpq's error-verbosity calls."""

    _loaded: ClassVar[Native | None] = None
    _tried: ClassVar[bool] = False

    def __init__(self, path: str) -> None:
        # PyDLL: these calls are trivial, so they keep the interpreter (no release/reacquire)
        lib = ctypes.PyDLL(path)
        self._set = lib.PQsetErrorVerbosity
        self._set.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self._set.restype = ctypes.c_int
        self._verbose = lib.PQresultVerboseErrorMessage
        self._verbose.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._verbose.restype = ctypes.c_void_p
        self._free = lib.PQfreemem
        self._free.argtypes = [ctypes.c_void_p]
        self._free.restype = None
        self._pid = lib.PQbackendPID
        self._pid.argtypes = [ctypes.c_void_p]
        self._pid.restype = ctypes.c_int

    @classmethod
    def load(cls) -> Native | None:
        """The bindings, or None when the loaded libpq cannot be found or is too old."""
        if not cls._tried:
            cls._tried = True
            path = _loaded_libpq() if pq.version() >= _MIN_LIBPQ else None
            if path is not None:
                with contextlib.suppress(OSError, AttributeError):
                    cls._loaded = cls(path)
        return cls._loaded

    def set_verbose(self, pgconn: pq.abc.PGconn, verbose: bool) -> bool:
        """Set the connection's error verbosity; False when this is not psycopg's libpq."""
        ptr: int | None = getattr(pgconn, "pgconn_ptr", None)  # not in psycopg's stubs
        if ptr is None or self._pid(ptr) != pgconn.backend_pid:
            return False  # another libpq's struct: never write into it
        self._set(ptr, PQERRORS_VERBOSE if verbose else PQERRORS_DEFAULT)
        return True

    def default_message(self, res: pq.abc.PGresult) -> bytes:
        """The failed result's message as libpq writes it at default verbosity."""
        ptr: int | None = getattr(res, "pgresult_ptr", None)
        text = self._verbose(ptr, PQERRORS_DEFAULT, PQSHOW_CONTEXT_ERRORS) if ptr else None
        if not text:
            return res.error_message
        try:
            return ctypes.string_at(text)
        finally:
            self._free(text)


def server_error(conn_message: bytes) -> tuple[str, bytes] | None:
    """(SQLSTATE, message) of the first server error in a verbose connection error message."""
    found = _SERVER_LINE.search(conn_message)
    if found is None:
        return None
    return found.group(1).decode("ascii"), found.group(2)
