"""``flakebench connections add|list|remove|rotate-key``: encrypted stored connections.

A password is read from a prompt (when stdin is a terminal) or from the environment variable
named by ``--password-env``; it is never a command-line argument, and a URL carrying one is
refused. Only redacted URLs and key ids are ever printed.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from dataclasses import replace
from urllib.parse import parse_qsl, urlsplit

from pytest_flakebench.catalog import ConnectionRecord
from pytest_flakebench.cli.options import catalog_opened, console, print_listing, store_url
from pytest_flakebench.errors import ConfigError
from pytest_flakebench.identifiers import check_identifier
from pytest_flakebench.stores import shown_url
from pytest_flakebench.urls import SECRET_PARAMS, redact_url, scheme_of

_STORE_HELP = "results store URL (default: $FLAKEBENCH_STORE or sqlite:///.flakebench/flakebench.db)"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``connections`` and its actions."""
    conns = sub.add_parser("connections", help="stored, encrypted target connections",
                           description="Connections kept in the results store; passwords are "
                           "sealed with AES-256-GCM under $FLAKEBENCH_CREDENTIAL_KEY.")
    actions = conns.add_subparsers(dest="connections_command", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="store a connection (the password is prompted for or read from --password-env)",
        description="Store NAME -> URL. The password is prompted for when stdin is a terminal, "
                    "else read from the variable named by --password-env; it is never accepted "
                    "on the command line or inside --url.")
    add.add_argument("name", metavar="NAME", help="the target name tests use: target=\"NAME\"")
    add.add_argument("--url", required=True, help="URL without a password, e.g. "
                     "postgresql://user@host:5432/db or snowflake://user@account/DB/SCHEMA")
    add.add_argument("--password-env", metavar="VAR",
                     help="read the password from environment variable VAR")
    add.add_argument("--no-password", action="store_true",
                     help="store the connection without a password")
    add.add_argument("--replace", action="store_true", help="overwrite an existing connection")
    add.add_argument("--store", help=_STORE_HELP)
    add.set_defaults(handler=run_add)

    lst = actions.add_parser("list", help="list stored connections (never their secrets)")
    lst.add_argument("--store", help=_STORE_HELP)
    lst.set_defaults(handler=run_list)

    rm = actions.add_parser("remove", help="forget a stored connection")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--store", help=_STORE_HELP)
    rm.set_defaults(handler=run_remove)

    rot = actions.add_parser(
        "rotate-key", help="re-encrypt every connection under $FLAKEBENCH_NEW_CREDENTIAL_KEY",
        description="Decrypt every stored password with $FLAKEBENCH_CREDENTIAL_KEY and seal it "
                    "with $FLAKEBENCH_NEW_CREDENTIAL_KEY, in one transaction: all or nothing.")
    rot.add_argument("--store", help=_STORE_HELP)
    rot.set_defaults(handler=run_rotate)


def _check_url(url: str) -> str:
    """The connection's kind; refuse a URL that carries a password or another secret."""
    kind = scheme_of(url)
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
        secret_params = [k for k, _ in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS]
    except ValueError:
        raise ConfigError(f"{redact_url(url)}: not a valid URL") from None
    if has_password or secret_params:
        raise ConfigError(
            f"--url {redact_url(url)} contains a password or secret: give the URL without it "
            "and let flakebench prompt for the password (or use --password-env VAR)"
        )
    return kind


def _password(args: argparse.Namespace, kind: str) -> str | None:
    if args.no_password or kind == "sqlite":
        return None
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise ConfigError(f"--password-env {args.password_env}: that variable is not set")
        return value
    if sys.stdin.isatty():
        value = getpass.getpass(f"password for connection {args.name!r}: ")
        return value or None
    raise ConfigError(
        "no password source: stdin is not a terminal, so give --password-env VAR (the name of "
        "an environment variable holding it) or --no-password; passwords are never accepted "
        "on the command line"
    )


def run_add(args: argparse.Namespace) -> int:
    """Store a connection, its password sealed."""
    from pytest_flakebench.credentials import key_from_env, seal

    name = str(args.name)
    try:
        check_identifier(name, what="connection name")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    kind = _check_url(args.url)
    password = _password(args, kind)
    credentials = key_id = None
    if password is not None:
        key = key_from_env()
        credentials, key_id = seal(key, name, password), key.key_id
    now = time.time()
    record = ConnectionRecord(name=name, kind=kind, url=args.url, credentials=credentials,
                              key_id=key_id, created_at=now, updated_at=now)
    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        catalog.put_connection(record, replace=args.replace)
    secret = f"password sealed with key id {key_id}" if key_id else "no password"
    console().print(f"stored connection {name} ({kind}, {redact_url(args.url)}, {secret}) in "
                    f"{shown_url(url)}", markup=False, soft_wrap=True)
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print the stored connections: name, kind, redacted URL, has_password, key id."""
    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        records = catalog.list_connections()
    print_listing(f"connections in {shown_url(url)}",
                  ("name", "kind", "url", "has_password", "key_id"),
                  [(r.name, r.kind, redact_url(r.url), "yes" if r.has_password else "no",
                    r.key_id or "-") for r in records],
                  none=f"no stored connections in {shown_url(url)}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    """Forget a connection."""
    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        removed = catalog.remove_connection(args.name)
    if not removed:
        raise ConfigError(f"no stored connection {args.name!r} in {shown_url(url)}")
    console().print(f"removed connection {args.name} from {shown_url(url)}", markup=False)
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt every stored password from the current key to the new one."""
    from pytest_flakebench.credentials import NEW_KEY_ENV, key_from_env, open_sealed, seal

    old = key_from_env(purpose="decrypt the stored credentials")
    new = key_from_env(NEW_KEY_ENV, purpose="re-encrypt the stored credentials")
    now = time.time()

    def reseal(record: ConnectionRecord) -> ConnectionRecord:
        plain = open_sealed(old, record.name, record.credentials or "",
                            record_key_id=record.key_id or "")
        return replace(record, credentials=seal(new, record.name, plain), key_id=new.key_id,
                       updated_at=now)

    url = store_url(args.store)
    with catalog_opened(url) as catalog:
        count = catalog.reseal_connections(reseal)
    console().print(f"re-encrypted {count} connection(s) in {shown_url(url)} from key id "
                    f"{old.key_id} to key id {new.key_id}; now set FLAKEBENCH_CREDENTIAL_KEY to "
                    f"the new key", markup=False, soft_wrap=True)
    return 0
