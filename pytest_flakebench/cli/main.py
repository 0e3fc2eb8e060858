"""The ``flakebench`` command: results stores and stored runs.

Every failure the user can fix ends as one line on stderr and exit code 2, never a traceback,
and only redacted URLs are ever printed.
"""

from __future__ import annotations

import argparse
import sys

from pytest_flakebench import __version__
from pytest_flakebench.cli import (
    compare_cmds,
    connections_cmds,
    hosts_cmds,
    recover_cmds,
    runs_cmds,
    store_cmds,
    templates_cmds,
    upload_cmds,
)
from pytest_flakebench.errors import FlakebenchError

EXIT_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``flakebench``."""
    parser = argparse.ArgumentParser(
        prog="flakebench",
        description="Inspect the results of pytest-flakebench runs and manage results stores.",
    )
    parser.add_argument("--version", action="version", version=f"flakebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    store_cmds.add_parser(sub)
    runs_cmds.add_parsers(sub)
    compare_cmds.add_parsers(sub)
    connections_cmds.add_parsers(sub)
    templates_cmds.add_parsers(sub)
    upload_cmds.add_parsers(sub)
    hosts_cmds.add_parsers(sub)
    recover_cmds.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``flakebench`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        code: int = handler(args)
    except FlakebenchError as exc:
        print(f"flakebench: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("flakebench: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
