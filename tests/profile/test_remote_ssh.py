"""`edgeattn profile --remote` against a real OpenSSH server on a loopback port.

The "device" is this machine: sshd runs as the current user with a throw-away host key and client
key, and the remote side runs edgeattn from this same Python (PYTHONPATH set by the server). No
TensorRT runs here: the trtexec path is exercised up to its failures (no trtexec, failed build).
CI needs Debian's openssh-server (and, as root, sshd's /run/sshd folder).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgeattn.errors import EdgeattnError
from edgeattn.profile.commands import profile_command, remote_profile_command
from edgeattn.profile.remote import RemoteInterrupted, _Left, copy_bundle
from edgeattn.profile.remote_files import plan_bundle
from edgeattn.profile.remote_scripts import RemotePaths
from edgeattn.profile.schema import validate_run
from edgeattn.profile.ssh import Connection, Destination

REPO = Path(__file__).resolve().parents[2]
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
REMOTE_EDGEATTN = f"{sys.executable} -m edgeattn"


def _skip_reason() -> str | None:
    if not Path(SSHD).is_file():
        return "OpenSSH server not installed (Debian: apt-get install -y openssh-server)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "OpenSSH client not installed (Debian: apt-get install -y openssh-client)"
    if os.geteuid() == 0 and not Path("/run/sshd").is_dir():
        return "sshd started as root needs its privilege separation folder: mkdir -p -m 0755 /run/sshd"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@dataclass
class Server:
    port: int
    folder: Path
    client_config: Path

    @property
    def destination(self) -> str:
        return f"127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _client_config(folder: Path, name: str, key: Path, known_hosts: Path) -> Path:
    config = folder / name
    config.write_text(f"Host *\n  IdentityFile {key}\n  IdentitiesOnly yes\n  IdentityAgent none\n"
                      f"  UserKnownHostsFile {known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                      "  StrictHostKeyChecking yes\n  LogLevel ERROR\n")
    return config


def _wait_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {log.read_text()[-500:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail("sshd did not start listening in 15 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp("sshd")
    host_key = _keygen(folder / "host_key")
    (folder / "authorized_keys").write_text(_keygen(folder / "client_key") + "\n")
    _keygen(folder / "other_key")
    port = _free_port()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_key.split()[:2])}\n")
    (folder / "empty_known_hosts").write_text("")
    (folder / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nAcceptEnv TRTEXEC\n"
        f"SetEnv PYTHONPATH={REPO}\n")
    _client_config(folder, "ssh_config", folder / "client_key", folder / "known_hosts")
    _client_config(folder, "ssh_config_wrong_key", folder / "other_key", folder / "known_hosts")
    _client_config(folder, "ssh_config_unknown_host", folder / "client_key", folder / "empty_known_hosts")
    log = folder / "sshd.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen([SSHD, "-f", str(folder / "sshd_config"), "-D", "-e", "-p", str(port)],
                                   stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_listening(process, port, log)
        yield Server(port=port, folder=folder, client_config=folder / "ssh_config")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def device(server, tmp_path, monkeypatch) -> Path:
    """Point the client at the test server; returns the device-side work folder (absent before a run)."""
    work = tmp_path / "device-work"
    monkeypatch.setenv("EDGEATTN_SSH_OPTIONS", f"-F {server.client_config}")
    monkeypatch.setenv("EDGEATTN_REMOTE_DIR", str(work))
    return work


@pytest.fixture(scope="module")
def tiny_bundle(tiny_onnx, tmp_path_factory) -> Path:
    """A bundle-shaped folder: model.onnx (TinyNet, batch dynamic) and a manifest naming the model."""
    folder = tmp_path_factory.mktemp("bundle") / "tiny_bundle"
    folder.mkdir()
    shutil.copy(tiny_onnx, folder / "model.onnx")
    from edgeattn.bundle_files import BUNDLE_FORMAT, sha256_file

    graph = folder / "model.onnx"
    files = [{"path": "model.onnx", "bytes": graph.stat().st_size, "sha256": sha256_file(graph)}]
    manifest = {"format": BUNDLE_FORMAT, "model": {"name": "tiny_net"}, "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def trt_bundle(tiny_bundle, tmp_path_factory) -> Path:
    """tiny_bundle plus the build_engine.sh edgeattn writes for a Jetson Orin target."""
    from edgeattn.exporters.build_script import render_build_script
    from edgeattn.exporters.targets import get_target

    folder = tmp_path_factory.mktemp("trt") / "tiny_trt_bundle"
    shutil.copytree(tiny_bundle, folder)
    script = folder / "build_engine.sh"
    script.write_text(render_build_script("tiny_net", get_target("jetson-orin"), {}, "test"))
    script.chmod(0o755)
    return folder


def _remote(bundle: Path, server: Server, out: Path, **options) -> Path:
    settings = {"backend": "ort-cpu", "batch": 2, "threads": 1, "warmup": 1, "iters": 6,
                "remote_edgeattn": REMOTE_EDGEATTN, "show_progress": False, **options}
    return remote_profile_command(str(bundle), server.destination, out=out, **settings)


def test_remote_ort_cpu_run_matches_the_local_run(device, server, tiny_bundle, tmp_path, monkeypatch):
    relative = f".cache/edgeattn-remote-test-{os.getpid()}"  # the default form: relative to the login's home
    monkeypatch.setenv("EDGEATTN_REMOTE_DIR", relative)
    remote = json.loads(_remote(tiny_bundle, server, tmp_path / "remote").read_text())
    assert not (Path.home() / relative).exists(), "the run left its work folder on the device"
    local = json.loads(profile_command(str(tiny_bundle), backend="ort-cpu", batch=2, threads=1, warmup=1, iters=6,
                                       out=tmp_path / "local", show_progress=False).read_text())
    validate_run(remote)
    for key in ("name", "origin", "params", "gflops", "input_shapes", "output_names"):
        assert remote["model"][key] == local["model"][key], key
    assert remote["settings"] == local["settings"] == {"batch": 2, "threads": 1, "warmup": 1, "iters": 6, "seed": 42}
    assert remote["latency"]["count"] == len(remote["samples_ms"]) == local["latency"]["count"] == 6
    for key in ("by_op_type", "by_block", "by_kind", "by_edgeattn_op"):
        assert {r["name"] for r in remote["op_breakdown"][key]} == {r["name"] for r in local["op_breakdown"][key]}, key
    assert ([(t["target"], t["estimated_latency_ms"]) for t in remote["roofline"]["targets"]]
            == [(t["target"], t["estimated_latency_ms"]) for t in local["roofline"]["targets"]])
    assert remote["remote"]["files_copied"] == 2 and remote["remote"]["files_reused"] == 0
    assert remote["device"]["os"].startswith("Linux") and remote["device"]["tegrastats"] is None
    assert "(remote)" in (tmp_path / "remote" / "tiny_net_ort-cpu_b2_t1_127.0.0.1.html").read_text()


def test_a_second_copy_of_the_same_bundle_copies_nothing(device, server, tiny_bundle):
    plan = plan_bundle(tiny_bundle, "ort-cpu")
    with Connection(Destination.parse(server.destination)) as conn:
        first, second = _Left(), _Left()
        copy_bundle(conn, RemotePaths(str(device), plan.digest, "run-1", tiny_bundle.name), plan, first)
        copy_bundle(conn, RemotePaths(str(device), plan.digest, "run-2", tiny_bundle.name), plan, second)
    assert len(first.objects) == 2 and first.bundle and first.copied_bytes == plan.bytes
    assert second.objects == [] and not second.bundle and second.reused == 2 and second.copied_bytes == 0
    rebuilt = device / "bundles" / plan.digest / tiny_bundle.name
    assert (rebuilt / "model.onnx").read_bytes() == (tiny_bundle / "model.onnx").read_bytes()


def test_wrong_port_is_a_clear_error(device, tiny_bundle, tmp_path):
    with pytest.raises(EdgeattnError, match=r"connection refused on port \d+") as error:
        remote_profile_command(str(tiny_bundle), f"127.0.0.1:{_free_port()}", out=tmp_path, show_progress=False)
    assert "sshd runs on the device" in error.value.hint and not any(tmp_path.iterdir())


def test_wrong_key_is_refused(device, server, tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEATTN_SSH_OPTIONS", f"-F {server.folder / 'ssh_config_wrong_key'}")
    with pytest.raises(EdgeattnError, match="authentication refused") as error:
        _remote(tiny_bundle, server, tmp_path / "out")
    assert "ssh-copy-id" in error.value.hint and not (tmp_path / "out").exists()


def test_unknown_host_key_is_not_accepted_silently(device, server, tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEATTN_SSH_OPTIONS", f"-F {server.folder / 'ssh_config_unknown_host'}")
    with pytest.raises(EdgeattnError, match="host key of 127.0.0.1 is unknown"):
        _remote(tiny_bundle, server, tmp_path / "out")


def test_missing_edgeattn_on_the_device(device, server, tiny_bundle, tmp_path):
    with pytest.raises(EdgeattnError, match="`/nonexistent/edgeattn` not found on 127.0.0.1") as error:
        _remote(tiny_bundle, server, tmp_path / "out", remote_edgeattn="/nonexistent/edgeattn")
    assert "--remote-edgeattn" in error.value.hint
    assert not device.exists() and not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("trtexec") is not None or Path("/usr/src/tensorrt/bin/trtexec").exists(),
                    reason="trtexec is installed here")
def test_no_trtexec_on_the_device(device, server, trt_bundle, tmp_path):
    with pytest.raises(EdgeattnError, match="no trtexec on 127.0.0.1"):
        _remote(trt_bundle, server, tmp_path / "out", backend="trtexec")
    assert not device.exists()


def test_engine_build_failure_shows_the_device_log_tail(device, server, trt_bundle, tmp_path, monkeypatch):
    # A "trtexec" that is not one (echo): build_engine.sh cannot read a TensorRT version and stops.
    monkeypatch.setenv("EDGEATTN_SSH_OPTIONS", f"-F {server.client_config} -o SetEnv=TRTEXEC=/bin/echo")
    with pytest.raises(EdgeattnError, match=r"engine build \(build_engine.sh\) failed on the device") as error:
        _remote(trt_bundle, server, tmp_path / "out", backend="trtexec")
    assert "could not read the TensorRT version from trtexec" in error.value.hint
    assert not device.exists()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def python_sigint():
    """SIGINT raises KeyboardInterrupt, as in a CLI process (a test runner's worker may handle it otherwise)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_remote_processes_and_removes_the_run_folder(device, server, tiny_bundle, tmp_path,
                                                                      python_sigint):
    seen: dict[str, int] = {}
    finished = threading.Event()

    def interrupt_when_running() -> None:  # Ctrl-C, as the terminal sends it, once the device runs edgeattn
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not finished.is_set():
            found = list(device.glob("runs/*/pgid"))
            if found and found[0].read_text().strip():
                seen["pgid"] = int(found[0].read_text())
                time.sleep(0.5)
                if not finished.is_set():
                    os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=interrupt_when_running, daemon=True)
    watcher.start()
    try:
        with pytest.raises(RemoteInterrupted, match="remote processes were stopped"):
            _remote(tiny_bundle, server, tmp_path / "out", keep_remote=True)
    finally:
        finished.set()
        watcher.join()
    assert "pgid" in seen and not _group_alive(seen["pgid"])
    assert not list(device.glob("runs/*")), "the interrupted run folder is still on the device"
    assert list(device.glob("objects/*")), "--keep-remote keeps the bundle cache even when interrupted"
    assert not (tmp_path / "out").exists()
