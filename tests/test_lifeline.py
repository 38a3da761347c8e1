"""A supervisor that dies takes its children with it: after SIGKILL of `logctl serve --all`
no daemon lives on with its ports, and a port another process holds stops the next start
with one line naming that process, exit 1, instead of a restart loop."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from logctl.transport.serve import address
from tests.cluster import free_ports, health, running_cluster, wait_until


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_sigkill_of_the_supervisor_stops_every_child(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "home") as cluster:
        urls = [*cluster.urls.values(), *cluster.processing_urls]
        pids = [health(url)["pid"] for url in urls]
        ports = [address(url)[1] for url in [*urls, cluster.storage_grpc,
                                              cluster.analytics_grpc]]
        cluster.process.send_signal(signal.SIGKILL)
        cluster.process.wait()
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (
                    living(pids) or any(listening(port) for port in ports)):
                time.sleep(0.1)
            assert living(pids) == [], "children alive 5 s after the supervisor's SIGKILL"
            assert [port for port in ports if listening(port)] == []
        finally:
            for pid in living(pids):  # only on failure: the children this test started
                psutil.Process(pid).kill()


def living(pids: list[int]) -> list[int]:
    return [pid for pid in pids
            if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_a_taken_port_names_its_holder_and_exits_1(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "first") as first:
        storage_pid = health(first.urls["storage"])["pid"]
        second = tmp_path / "second"
        second.mkdir()
        config = first.home / "logctl.toml"
        done = subprocess.run([sys.executable, "-m", "logctl", "serve", "--all", "--home",
                               str(second), "--config", str(config)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        port = address(first.urls["storage"])[1]  # storage starts first
        lines = [line for line in done.stderr.splitlines() if "cannot listen" in line]
        assert len(lines) == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert f":{port}: Address already in use (held by pid " in lines[0]
        assert "logctl serve" in lines[0]
        assert health(first.urls["storage"])["pid"] == storage_pid  # the first tree stands


def test_the_parent_watch_stops_an_orphan_without_pdeathsig(tmp_path: Path) -> None:
    """The portable fallback on its own: a child of a process that exits is re-parented,
    and the watch sends it SIGTERM."""
    marker = tmp_path / "child.pid"
    script = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import os, sys, time\\n"
        "from logctl.transport import lifeline\\n"
        "lifeline.sys = type(\"P\", (), {\"platform\": \"other\"})\\n"
        "lifeline.tie_to_parent(os.getppid(), 0.05)\\n"
        "open(sys.argv[1], \"w\").write(str(os.getpid()))\\n"
        "time.sleep(60)', sys.argv[1]], start_new_session=True)\n"
        "import time\n"
        "while not os.path.exists(sys.argv[1]) or not open(sys.argv[1]).read():\n"
        "    time.sleep(0.02)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(marker)], check=True, timeout=30)
    pid = int(marker.read_text())
    wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
               5, what=f"orphan {pid} to stop")



def test_fewer_storage_grpc_addresses_than_instances_is_one_clear_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ports = free_ports(3)
    (home / "logctl.toml").write_text(
        f'storage_url = "http://127.0.0.1:{ports[0]},http://127.0.0.1:{ports[1]}"\n'
        f'storage_grpc = "127.0.0.1:{ports[2]}"\n')
    done = subprocess.run([sys.executable, "-m", "logctl", "serve", "--all", "--home",
                           str(home), "--config", str(home / "logctl.toml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "storage gRPC" in done.stderr.splitlines()[-1]
