"""Real hosts on this machine: network namespaces joined by a bridge, an sshd in each.

Each host is a network namespace with one veth link to a bridge in the test's own namespace
(addresses from 198.18.0.0/15, the range reserved for benchmark networks). The namespaces have
no default route: a host reaches the bridge's subnet and nothing else. Each host runs its own
sshd (Debian's openssh-server) in its own UTS namespace, so ``hostname`` there is the host's
name, with host and user keys made here; the filesystem is shared, so the project's venv is
reachable from every host at the same path.

``cut(host)`` takes the host's link down (its network is gone, its processes keep running);
``heal(host)`` brings it back. Everything is removed by ``close()``.

Nothing here imports pytest: the fixture wraps it and turns ``HostsUnavailable`` into a skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
#: A host's sshd must accept connections within this; it starts in well under a second.
SSHD_START_TIMEOUT_S = 10


class HostsUnavailable(Exception):
    """Namespaces or sshd cannot be had here (the message says what is missing)."""


@dataclass(frozen=True)
class Host:
    """One namespace host: its name (also its ``hostname``), address and namespace."""

    name: str
    address: str
    netns: str
    veth: str  # the host's link, as seen from the test's namespace


def _sh(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and proc.returncode != 0:
        raise HostsUnavailable(f"{' '.join(cmd)} failed (rc {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc


def why_unavailable() -> str | None:
    """None when namespace hosts can be made here, else the reason (for a skip)."""
    if os.geteuid() != 0:
        return "namespace hosts need root (ip netns, veth, a bridge)"
    for tool in ("ip", "ssh", "ssh-keygen", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install iproute2 openssh-client util-linux)"
    if not Path(SSHD).exists():
        return f"{SSHD} not found: apt-get install openssh-server (as .ci/run does)"
    probe = f"fbprobe{secrets.token_hex(2)}"
    made = _sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace here: {made.stderr.strip()[-200:]}"
    _sh("ip", "netns", "del", probe, check=False)
    return None


class NamespaceHosts:
    """``count`` hosts on a private /24 of 198.18.0.0/15, reachable over ssh as root."""

    def __init__(self, count: int = 2, *, extra_env: dict[str, str] | None = None) -> None:
        self.tag = secrets.token_hex(2)
        self.subnet = 1 + secrets.randbelow(250)  # 198.18.<subnet>.0/24: parallel sessions
        self.gateway = f"198.18.{self.subnet}.1"  # the test's own address on the bridge
        # a second address of the test's namespace, for a service that one host can be cut
        # off from alone (a blackhole route in that host), e.g. the control plane
        self.second = f"198.18.{self.subnet}.2"
        self.bridge = f"fbbr{self.tag}"
        self.root = Path(tempfile.mkdtemp(prefix="flakebench-hosts-", dir="/tmp"))
        self.ssh_config = self.root / "ssh_config"
        self.hosts = [Host(name=f"fbh{self.tag}{i}", address=f"198.18.{self.subnet}.{10 + i}",
                           netns=f"fbh{self.tag}{i}", veth=f"fbv{self.tag}{i}")
                      for i in range(1, count + 1)]
        self.extra_env = dict(extra_env or {})
        self._sshd_pids: list[int] = []

    # -- building ---------------------------------------------------------------------------

    def start(self) -> NamespaceHosts:
        """Make the bridge, the namespaces, the keys and one sshd per host."""
        try:
            self._network()
            self._keys()
            for host in self.hosts:
                self._sshd(host)
        except BaseException:
            self.close()
            raise
        return self

    def _network(self) -> None:
        _sh("ip", "link", "add", self.bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _sh("ip", "addr", "add", f"{self.second}/24", "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        for host in self.hosts:
            _sh("ip", "netns", "add", host.netns)
            _sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
                "netns", host.netns)
            _sh("ip", "link", "set", host.veth, "master", self.bridge)
            _sh("ip", "link", "set", host.veth, "up")
            inside = ("ip", "netns", "exec", host.netns)
            _sh(*inside, "ip", "addr", "add", f"{host.address}/24", "dev", "eth0")
            _sh(*inside, "ip", "link", "set", "eth0", "up")
            _sh(*inside, "ip", "link", "set", "lo", "up")
            # No default route on purpose: the host reaches the bridge's /24 and nothing else.

    def _keys(self) -> None:
        for name in ("host_key", "user_key"):
            _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"flakebench-{name}",
                "-f", str(self.root / name))
        shutil.copy(self.root / "user_key.pub", self.root / "authorized_keys")
        os.chmod(self.root / "authorized_keys", 0o600)
        lines = []
        for host in self.hosts:
            lines += [f"Host {host.name}", f"  HostName {host.address}", "  User root",
                      f"  IdentityFile {self.root / 'user_key'}", "  IdentitiesOnly yes",
                      "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null",
                      "  LogLevel ERROR", "  ConnectTimeout 5", "  BatchMode yes",
                      # a cut host's gateway drops in ~3 s, as a crashed worker's would
                      "  ServerAliveInterval 1", "  ServerAliveCountMax 3", ""]
        self.ssh_config.write_text("\n".join(lines))

    def _sshd(self, host: Host) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
        pid_file = self.root / f"{host.name}.pid"
        env_lines = [f"SetEnv {k}={v}" for k, v in sorted(self.extra_env.items())]
        config = self.root / f"sshd_{host.name}"
        config.write_text("\n".join([
            f"ListenAddress {host.address}", "Port 22",
            f"HostKey {self.root / 'host_key'}", f"PidFile {pid_file}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "PrintMotd no", "X11Forwarding no", *env_lines, "",
        ]))
        # its own UTS namespace: `hostname` on the host (and in the JSON) is the host's name
        _sh("ip", "netns", "exec", host.netns, "unshare", "--uts", "sh", "-c",
            f"hostname {host.name} && exec {SSHD} -f {config} -E {self.root / host.name}.log")
        deadline = time.monotonic() + SSHD_START_TIMEOUT_S
        while not pid_file.exists() or not pid_file.read_text().strip():
            if time.monotonic() > deadline:
                log = (self.root / f"{host.name}.log")
                raise HostsUnavailable(f"sshd on {host.name} did not start: "
                                       f"{log.read_text()[-500:] if log.exists() else ''}")
            time.sleep(0.05)
        self._sshd_pids.append(int(pid_file.read_text().strip()))
        self.run(host, "true")  # the first login proves keys and routing

    # -- using ------------------------------------------------------------------------------

    def run(self, host: Host, command: str, *, timeout: float = 30,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` over ssh."""
        return _sh("ssh", "-F", str(self.ssh_config), host.name, command, check=check,
                   timeout=timeout)

    def tx(self, host: Host, *, python: str, chdir: Path | None = None) -> str:
        """The ``--tx`` spec of an xdist worker on ``host``."""
        spec = f"ssh_config={self.ssh_config}//ssh={host.name}//python={python}"
        return spec + (f"//chdir={chdir}" if chdir is not None else "")

    def cut(self, host: Host) -> None:
        """Take the host's network away (link down inside its namespace)."""
        _sh("ip", "netns", "exec", host.netns, "ip", "link", "set", "eth0", "down")

    def heal(self, host: Host) -> None:
        """Bring the host's network back."""
        _sh("ip", "netns", "exec", host.netns, "ip", "link", "set", "eth0", "up")

    def block(self, host: Host, address: str) -> None:
        """Cut ``host`` off from ``address`` alone (a blackhole route in its namespace)."""
        _sh("ip", "netns", "exec", host.netns, "ip", "route", "add", "blackhole",
            f"{address}/32")

    def unblock(self, host: Host, address: str) -> None:
        """Undo :meth:`block`."""
        _sh("ip", "netns", "exec", host.netns, "ip", "route", "del", "blackhole",
            f"{address}/32", check=False)

    def reachable(self, host: Host, port: int = 22, timeout: float = 1.0) -> bool:
        """Whether the test's namespace reaches ``host:port``."""
        try:
            with socket.create_connection((host.address, port), timeout=timeout):
                return True
        except OSError:
            return False

    # -- tearing down -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop every sshd (and what runs under it), delete namespaces, links and files."""
        for pid in self._sshd_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
        for host in self.hosts:
            # whatever still runs in the namespace (a cut worker) goes with it
            pids = _sh("ip", "netns", "pids", host.netns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            _sh("ip", "netns", "del", host.netns, check=False)
            _sh("ip", "link", "del", host.veth, check=False)
        _sh("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["Host", "HostsUnavailable", "NamespaceHosts", "why_unavailable"]
