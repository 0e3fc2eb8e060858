"""``flakebench hosts check``: before any load, can every xdist gateway host take part in a run?

For each ``--tx`` spec (as given to pytest) a gateway is opened with execnet (what xdist itself
uses), and the host answers: its hostname, its Python, the plugin version it imports, and
whether it opens a TCP connection to the target and to the control plane. Only host names and
ports cross to the host, never a URL or a password. Each failure is one line naming the host,
what failed and the fix: ssh refused or unreachable, a python that is not there, a plugin of
another version, a target or control plane the host cannot reach, a control plane that is a
local file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from pytest_flakebench.errors import ConfigError
from pytest_flakebench.urls import redact_url, scheme_of

#: How long one host may take to open its gateway and answer (ssh login included).
GATEWAY_TIMEOUT_S = 30.0
#: How long the host waits for one TCP connection to the target or the control plane.
CONNECT_TIMEOUT_S = 3.0

DEFAULT_PORTS = {"postgresql": 5432, "snowflake": 443}

# Runs on the remote host (execnet sends the source). Plain builtins in and out.
_PROBE = """
import platform, socket, sys
endpoints, timeout = channel.receive()
try:
    import pytest_flakebench
    version = pytest_flakebench.__version__
except Exception as exc:  # not installed, or broken
    version = "error: %s: %s" % (type(exc).__name__, exc)
reach = []
for name, host, port in endpoints:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        reach.append((name, ""))
    except OSError as exc:
        reach.append((name, "%s: %s" % (type(exc).__name__, exc)))
channel.send({"hostname": socket.gethostname(), "python": platform.python_version(),
              "executable": sys.executable, "version": version, "reach": reach})
"""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A place every host must reach: ``name`` (target, control plane), host and port."""

    name: str
    host: str
    port: int
    shown: str  # the redacted URL, for messages


@dataclass(slots=True)
class HostReport:
    """What one gateway host answered, and what is wrong with it."""

    spec: str
    hostname: str = ""
    python: str = ""
    version: str = ""
    reach: dict[str, str] = field(default_factory=dict)  # endpoint name -> "" or the error
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the host can take part in a run."""
        return not self.problems


def endpoint_of(name: str, url: str) -> Endpoint:
    """Host and port of a PostgreSQL or Snowflake URL; a SQLite URL is refused (local file)."""
    scheme = scheme_of(url)
    shown = redact_url(url)
    if scheme == "sqlite":
        raise ConfigError(
            f"the {name} {shown} is a file on this machine: hosts over ssh cannot reach it; "
            f"use a PostgreSQL or Snowflake store (--flakebench-store postgresql://…)")
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    host = params.get("host") or parts.hostname or ""
    if scheme == "snowflake" and "host" not in params and parts.hostname:
        host = f"{parts.hostname}.snowflakecomputing.com"
    if not host:
        raise ConfigError(f"the {name} {shown} names no host: hosts need a network address")
    try:
        port = int(params.get("port") or parts.port or DEFAULT_PORTS[scheme])
    except ValueError as exc:
        raise ConfigError(f"the {name} {shown} has a port that is not a number") from exc
    return Endpoint(name=name, host=host, port=port, shown=shown)


def _open(spec: str) -> tuple[object | None, str]:
    """An execnet gateway for ``spec``, or None and why not."""
    import execnet

    try:
        return execnet.makegateway(spec), ""
    except Exception as exc:  # execnet reports ssh/python failures as assorted errors
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        return None, text


def check_host(spec: str, endpoints: Sequence[Endpoint], *, expected_version: str,
               timeout_s: float = GATEWAY_TIMEOUT_S) -> HostReport:
    """Open ``spec``'s gateway, ask the host, and judge its answer."""
    report = HostReport(spec=spec)
    gateway, failure = _open(spec)
    if gateway is None:
        report.problems.append(
            f"could not start a worker with {spec!r}: {failure}; check that `ssh` to the host "
            f"works without a prompt (keys, known_hosts, ssh_config=) and that the python= "
            f"path exists there")
        return report
    try:
        channel = gateway.remote_exec(_PROBE)  # type: ignore[attr-defined]
        channel.send(([(e.name, e.host, e.port) for e in endpoints], CONNECT_TIMEOUT_S))
        answer = channel.receive(timeout=timeout_s)
    except Exception as exc:
        report.problems.append(
            f"{spec!r}: the worker did not start or answer ({' '.join(str(exc).split())[:200]});"
            f" check that the python= path exists on that host and runs Python 3.11+ (ssh "
            f"prints the shell's own error above)")
        return report
    finally:
        gateway.exit()  # type: ignore[attr-defined]
    report.hostname = str(answer["hostname"])
    report.python = str(answer["python"])
    report.version = str(answer["version"])
    report.reach = {str(name): str(error) for name, error in answer["reach"]}
    where = f"{report.hostname} ({spec})"
    if report.version.startswith("error:"):
        report.problems.append(
            f"{where}: pytest-flakebench is not importable by {answer['executable']}: "
            f"{report.version[7:]}; install it in that interpreter (pip install "
            f"pytest-flakebench=={expected_version}) or point python= at the right one")
    elif report.version != expected_version:
        report.problems.append(
            f"{where}: pytest-flakebench {report.version} there, {expected_version} here; "
            f"install the same version on every host")
    for e in endpoints:
        error = report.reach.get(e.name, "not checked")
        if error:
            report.problems.append(
                f"{where}: cannot reach the {e.name} {e.shown} ({e.host}:{e.port}): {error}; "
                f"check the host's routes and firewall, or use an address it can reach")
    return report


def check_hosts(specs: Sequence[str], endpoints: Sequence[Endpoint], *,
                expected_version: str) -> list[HostReport]:
    """Check every spec (one after another: a failing ssh login is quick to say so)."""
    return [check_host(spec, endpoints, expected_version=expected_version) for spec in specs]


__all__ = ["CONNECT_TIMEOUT_S", "GATEWAY_TIMEOUT_S", "Endpoint", "HostReport", "check_host",
           "check_hosts", "endpoint_of"]
