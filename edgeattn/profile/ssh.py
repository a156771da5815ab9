"""SSH to a device with the system's OpenSSH client: one multiplexed connection per run.

Why the OpenSSH client (``ssh`` via subprocess) rather than paramiko or asyncssh: it is the client users
have already configured and debug with. ``~/.ssh/config`` (Host aliases, ProxyJump, IdentityFile,
Match blocks), agents, hardware keys and known_hosts all work unchanged, with no new dependency.
``BatchMode=yes`` means it never prompts, so no password is ever asked for, seen or stored; a key or
agent must be set up. One master connection (``ControlMaster``) carries every command of a run, so
authentication happens once. Extra client arguments come from ``EDGEATTN_SSH_OPTIONS`` (for example
``-F ~/jetson.conf`` or ``-i ~/.ssh/jetson``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edgeattn.errors import EdgeattnError, MissingDependencyError, UsageError

SSH_OPTIONS_ENV = "EDGEATTN_SSH_OPTIONS"
CONNECT_TIMEOUT_S = 10
_BRACKETED = re.compile(r"^\[([^\]]+)\](?::(\d+))?$")
_HOST_PORT = re.compile(r"^([^:]+)(?::(\d+))?$")


@dataclass(frozen=True)
class Destination:
    """``user@host[:port]`` (IPv6 hosts in brackets: ``user@[fe80::1]:22``)."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Destination:
        """Parse the ``--remote`` value; UsageError when it is not ``[user@]host[:port]``."""
        user, _, rest = text.rpartition("@")
        match = _BRACKETED.match(rest) or _HOST_PORT.match(rest)
        if not rest or match is None or (user == "" and "@" in text):
            raise UsageError(f"--remote {text!r} is not [user@]host[:port]",
                             "for example --remote nvidia@orin.local or --remote nvidia@10.0.0.7:2222")
        port = int(match.group(2)) if match.group(2) else None
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"--remote {text!r}: port {port} is out of range", "ports are 1 to 65535")
        return cls(host=match.group(1), user=user or None, port=port)

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}{f':{self.port}' if self.port else ''}"


def ssh_failure(stderr: str, destination: Destination) -> EdgeattnError:
    """One clear error for a failed ssh connection (exit status 255), from the client's message."""
    text = stderr.strip()
    last = text.splitlines()[-1] if text else "no message"
    where = str(destination)
    port = destination.port or 22
    if "Could not resolve hostname" in text:
        return EdgeattnError(f"cannot resolve the device's host name {destination.host!r}",
                             "check the name, or use its IP address or a Host alias from ~/.ssh/config")
    if "Connection refused" in text:
        return EdgeattnError(f"cannot reach {where}: connection refused on port {port}",
                             "check the host and port (--remote user@host:port) and that sshd runs on the device")
    if re.search(r"timed out|No route to host|Network is unreachable", text):
        return EdgeattnError(f"cannot reach {where}: {last}",
                             "is the device on and on this network? (ping it; check VPN and firewall)")
    if "Host key verification failed" in text or "HOST IDENTIFICATION HAS CHANGED" in text:
        return EdgeattnError(f"the host key of {destination.host} is unknown or has changed",
                             f"connect once with `ssh {destination.target}` to check and accept its key")
    if "Permission denied" in text or "Too many authentication failures" in text:
        return EdgeattnError(f"authentication refused by {where}",
                             "edgeattn uses your SSH keys and agent and never prompts: install a key with "
                             f"`ssh-copy-id {destination.target}` or set IdentityFile in ~/.ssh/config")
    return EdgeattnError(f"ssh to {where} failed: {last}", f"run `ssh -v {destination.target}` to see why")


def remote_shell(script: str) -> str:
    """The command line that runs ``script`` in a POSIX shell on the device, whatever the login shell."""
    return "sh -c " + shlex.quote(script)


class Connection:
    """A master SSH connection; ``run``/``popen`` send commands through it. Use as a context manager."""

    def __init__(self, destination: Destination, extra_options: Iterable[str] | None = None) -> None:
        if shutil.which("ssh") is None:
            raise MissingDependencyError("the OpenSSH client `ssh` is not installed here",
                                         "install it (Debian/Ubuntu: apt-get install openssh-client)")
        self.destination = destination
        env_options = shlex.split(os.environ.get(SSH_OPTIONS_ENV, ""))
        self.extra = [*env_options, *(extra_options or [])]
        self._control_dir = Path(tempfile.mkdtemp(prefix="ea-ssh-", dir="/tmp" if Path("/tmp").is_dir() else None))
        self._master: subprocess.Popen[bytes] | None = None

    def _args(self, master: bool = False) -> list[str]:
        args = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
                "-o", f"ControlPath={self._control_dir}/%C", "-o", "ControlMaster=" + ("yes" if master else "no"),
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
        if self.destination.port:
            args += ["-p", str(self.destination.port)]
        return [*args, *self.extra, self.destination.target]

    def open(self) -> Connection:
        """Connect and authenticate once; EdgeattnError (unreachable, refused, ...) when that fails."""
        err = tempfile.TemporaryFile()
        self._master = subprocess.Popen([*self._args(master=True)[:-1], "-N", self.destination.target],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                        start_new_session=True)
        try:
            if self._wait_for_master(err):
                return self
        except BaseException:
            self.close()
            raise
        self.close()
        raise EdgeattnError(f"ssh to {self.destination} did not finish connecting in {CONNECT_TIMEOUT_S * 3} s",
                            f"run `ssh -v {self.destination.target}` to see where it stops")

    def _wait_for_master(self, err: IO[bytes]) -> bool:
        """True once the master connection is up; raises the classified failure when it exits."""
        assert self._master is not None
        deadline = time.monotonic() + CONNECT_TIMEOUT_S * 3
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                err.seek(0)
                raise ssh_failure(err.read().decode(errors="replace"), self.destination)
            check = subprocess.run([*self._args()[:-1], "-O", "check", self.destination.target],
                                   capture_output=True, start_new_session=True)
            if check.returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def run(self, script: str, stdin: bytes | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run ``script`` (POSIX sh) on the device and wait; raises for a failed connection (status 255)."""
        result = subprocess.run([*self._args(), remote_shell(script)], input=stdin or b"", capture_output=True,
                                timeout=timeout, start_new_session=True)
        if result.returncode == 255:
            raise ssh_failure(result.stderr.decode(errors="replace"), self.destination)
        return result

    def popen(self, script: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``script`` on the device without waiting (stdin/stdout/stderr as given)."""
        return subprocess.Popen([*self._args(), remote_shell(script)], start_new_session=True, **kwargs)

    def upload(self, files: Iterable[tuple[Path, str]], remote_dir: str) -> None:
        """Copy local files into ``remote_dir`` (created) as a tar stream, under the given names."""
        process = self.popen(f"mkdir -p {shlex.quote(remote_dir)} && tar -xf - -C {shlex.quote(remote_dir)}",
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert process.stdin is not None
        try:
            with tarfile.open(fileobj=process.stdin, mode="w|") as tar:
                for path, name in files:
                    tar.add(str(path), arcname=name, recursive=False)
        except BrokenPipeError:
            pass
        finally:
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass
        assert process.stderr is not None
        stderr = process.stderr.read()
        process.wait()
        if process.returncode != 0:
            raise self._transfer_error("copying the bundle to", process.returncode, stderr)

    def download(self, remote_dir: str, local_dir: Path) -> None:
        """Copy the contents of ``remote_dir`` into ``local_dir`` (tar stream; unsafe paths refused)."""
        process = self.popen(f"tar -cf - -C {shlex.quote(remote_dir)} .", stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        _extract(process.stdout, local_dir)
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise self._transfer_error("fetching the results from", process.returncode, stderr)

    def _transfer_error(self, what: str, code: int, stderr: bytes) -> EdgeattnError:
        if code == 255:
            return ssh_failure(stderr.decode(errors="replace"), self.destination)
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        return EdgeattnError(f"{what} {self.destination} failed: {tail[0]}",
                             "check the free space and that `tar` exists on the device")

    def close(self) -> None:
        """Close the master connection and remove its control socket folder."""
        if self._master is not None:
            subprocess.run([*self._args()[:-1], "-O", "exit", self.destination.target], capture_output=True,
                           start_new_session=True)
            try:
                self._master.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._master.kill()
                self._master.wait()
            self._master = None
        shutil.rmtree(self._control_dir, ignore_errors=True)

    def __enter__(self) -> Connection:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _extract(stream: IO[bytes], local_dir: Path) -> None:
    local_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(local_dir, filter="data")
