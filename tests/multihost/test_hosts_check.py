"""``flakebench hosts check``: each way a host can be unfit is named before any load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_flakebench import __version__
from tests.hosts import NamespaceHosts
from tests.multihost.conftest import HostsDb


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the command as a user does (its own process: execnet's failed gateways leave
    pipes for the garbage collector, which a test process would turn into errors)."""
    del capsys
    proc = subprocess.run([sys.executable, "-m", "pytest_flakebench.cli.main", "hosts",
                           "check", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"}, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_every_host_fit(hosts: NamespaceHosts, hosts_db: HostsDb, python: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    tx = [a for h in hosts.hosts for a in ("--tx", hosts.tx(h, python=python))]
    code, out = _check(capsys, *tx, "--target", hosts_db.target, "--store", hosts_db.store)
    assert code == 0, out
    for host in hosts.hosts:
        assert host.name in out  # each host's own hostname
    assert out.count("reached") == 4
    assert "problem:" not in out


def test_each_unfit_host_is_named_with_the_fix(
        hosts: NamespaceHosts, hosts_db: HostsDb, python: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    good, other = hosts.hosts
    # a host whose ssh refuses: the test's own bridge address runs no sshd
    config = tmp_path / "ssh_config"
    config.write_text(hosts.ssh_config.read_text()
                      + f"Host nossh\n  HostName {hosts.gateway}\n  User root\n"
                        f"  ConnectTimeout 3\n  BatchMode yes\n")
    refused = f"ssh_config={config}//ssh=nossh//python={python}"
    # a python that is not there
    wrong_python = hosts.tx(good, python="/nonexistent/bin/python3")
    # a python that imports another plugin version
    shim = tmp_path / "shim" / "pytest_flakebench"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("__version__ = '9.9.9'\n")
    fake = tmp_path / "python-old-plugin"
    fake.write_text(f"#!/bin/sh\nPYTHONPATH={shim.parent} exec {python} \"$@\"\n")
    fake.chmod(0o755)
    old_plugin = hosts.tx(other, python=str(fake))
    code, out = _check(capsys, "--tx", refused, "--tx", wrong_python, "--tx", old_plugin,
                       "--target", hosts_db.target, "--store", hosts_db.store)
    assert code == 1
    problems = [line for line in out.splitlines() if line.startswith("problem:")]
    assert any("nossh" in p and "could not start a worker" in p and "ssh" in p
               for p in problems), problems
    assert any("/nonexistent/bin/python3" in p and "check that the python= path exists" in p
               for p in problems), problems
    assert any(f"9.9.9 there, {__version__} here" in p and other.name in p
               for p in problems), problems


def test_a_target_one_host_cannot_reach(hosts: NamespaceHosts, hosts_db: HostsDb, python: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # 127.0.0.1 on a host is the host itself, where no PostgreSQL runs
    unreachable = hosts_db.target.replace(hosts.gateway, "127.0.0.1")
    code, out = _check(capsys, "--tx", hosts.tx(hosts.hosts[0], python=python),
                       "--target", unreachable, "--store", hosts_db.store)
    assert code == 1
    assert "cannot reach the target postgresql://postgres@127.0.0.1" in out
    assert "control plane" not in out.split("problem:", 1)[1]


def test_a_local_sqlite_control_plane_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(capsys, "--tx", "ssh=h//python=python3", "--target",
                       "postgresql://u@db:5432/x", "--store", "sqlite:///x.db")
    assert code == 2
    assert "cannot reach a SQLite control plane" in out
