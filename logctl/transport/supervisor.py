"""`logctl serve --all` and `serve processing --instances N`: one process tree. Each
service instance runs as a child `logctl serve NAME`; the parent starts them in
dependency order (storage first), waits until each answers its health check, and on
SIGINT/SIGTERM stops them in reverse order (ingest first, storage last) so every
service can drain into one that is still up."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from logctl.config import SERVICES, Settings
from logctl.errors import LogctlError
from logctl.transport.lifeline import PARENT_ENV
from logctl.transport.rest.client import trust
from logctl.transport.serve import address, check_free, instance_list, nth

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
MAX_RESTARTS = 5  # per child within RESTART_WINDOW_S, then the tree stops
RESTART_WINDOW_S = 60.0


@dataclass
class Child:
    """One running service instance, and when it was restarted."""

    name: str
    instance: int
    url: str
    command: list[str]
    process: subprocess.Popen
    many: bool = False  # one of several instances of its service: named with its index
    restarts: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name}.{self.instance}" if self.many else self.name


PORT_STEP = 100  # 7402, 7502, 7602...: clear of every other default port (74xx)


def spread(urls: tuple[str, ...] | list[str], instances: int) -> tuple[str, ...]:
    """Addresses for `instances` (at least as many as configured): the configured ones,
    then the first one's port plus 100 for each further instance."""
    if instances <= len(urls):
        return tuple(urls)
    host, port = address(urls[0])
    ports = [port + PORT_STEP * i for i in range(instances)]
    if "//" not in urls[0]:
        return tuple(f"{host}:{p}" for p in ports)
    parts = urlsplit(urls[0])
    return tuple(urlunsplit(parts._replace(netloc=f"{host}:{p}")) for p in ports)


class Supervisor:
    """Starts, watches and stops the children of one `logctl serve`."""

    def __init__(self, settings: Settings, flags: list[str], env: dict[str, str],
                 say: Callable[[str], None]) -> None:
        self.settings = settings
        self.flags = flags
        self.env = env
        self.say = say
        self.children: list[Child] = []
        self.child_env: dict[str, str] = {}
        self.stopping = False

    def run(self, services: list[str], instances: int, storage_instances: int = 1) -> int:
        """Start the services, wait for a signal or a child's death, stop all."""
        settings = self.settings
        storage_rest = spread(instance_list(settings.storage_url), storage_instances)
        storage_grpc = spread(instance_list(settings.storage_grpc), storage_instances)
        self.urls = {"processing": spread(settings.processing_urls, instances),
                     "storage": storage_rest}
        self.child_env = {**os.environ, **self.env,
                          "LOGCTL_PROCESSING_URLS": ",".join(self.urls["processing"]),
                          "LOGCTL_STORAGE_URL": ",".join(storage_rest),
                          "LOGCTL_STORAGE_GRPC": ",".join(storage_grpc),
                          PARENT_ENV: str(os.getpid())}
        plan = [(name, instance) for name in SERVICES if name in services
                for instance in range(len(self.urls.get(name, (None,))))]
        for name, instance in plan:  # a taken port stops the start, naming its holder
            for where in self._addresses(name, instance, storage_grpc):
                check_free(where)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            for name, instance in plan:
                if self.stopping:
                    return 0
                self._start(name, instance)
            self.say(f"all up: {len(self.children)} processes (Ctrl-C or SIGTERM stops all)")
            return self._wait()
        finally:
            self._stop_all()

    def _addresses(self, name: str, instance: int, storage_grpc: tuple[str, ...]) -> list[str]:
        """What one service instance listens on: its REST URL, and gRPC for storage and
        analytics."""
        rest = self._rest_url(name, instance)
        if name == "storage":
            return [rest, nth(storage_grpc, instance, "storage gRPC")]
        if name == "analytics":
            return [rest, self.settings.analytics_grpc]
        return [rest]

    def _rest_url(self, name: str, instance: int) -> str:
        """The REST URL of one service instance (spread over ports for several)."""
        if name in self.urls:
            return self.urls[name][instance]
        return getattr(self.settings, f"{name}_url")

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _start(self, name: str, instance: int) -> None:
        command = [sys.executable, "-m", "logctl", "serve", name, "--instance", str(instance),
                   *self.flags]
        process = subprocess.Popen(command, env=self.child_env, start_new_session=True)
        child = Child(name, instance, self._rest_url(name, instance), command, process,
                      many=len(self.urls.get(name, ())) > 1)
        self.children.append(child)
        self._await_health(child)

    def _restart(self, child: Child) -> bool:
        """Start a child that died again, unless it keeps dying; False to give up."""
        now = time.monotonic()
        child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_S]
        if len(child.restarts) >= MAX_RESTARTS:
            self.say(f"{child.label} died {MAX_RESTARTS} times within "
                     f"{RESTART_WINDOW_S:.0f}s; stopping the others")
            return False
        child.restarts.append(now)
        self.say(f"{child.label} exited with code {child.process.returncode}; restarting it")
        child.process = subprocess.Popen(child.command, env=self.child_env,
                                         start_new_session=True)
        self._await_health(child)
        return True

    def _await_health(self, child: Child) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not self.stopping:
            if child.process.poll() is not None:
                raise LogctlError(f"{child.label} exited with code {child.process.returncode}"
                                  " while starting (see its message above)")
            try:
                health = httpx.get(f"{child.url}/v1/health", timeout=1.0,
                                   verify=trust(self.settings.tls_ca))
                if health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        if not self.stopping:
            raise LogctlError(f"{child.label} did not answer at {child.url} within "
                              f"{START_TIMEOUT_S:.0f}s")

    def _wait(self) -> int:
        """Watch the children; restart one that dies (a crash must not take the pipeline
        down: storage commits before it acks, ingest checkpoints after, so a restarted
        service picks up where the acknowledged work ends)."""
        while not self.stopping:
            for child in self.children:
                if child.process.poll() is not None and not self.stopping:
                    try:
                        if not self._restart(child):
                            return 1
                    except LogctlError as exc:
                        self.say(f"{exc}; stopping the others")
                        return 1
            time.sleep(0.2)
        return 0

    def _stop_all(self) -> None:
        """Stop in reverse start order, each given time to drain, then killed."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
                try:
                    child.process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.say(f"{child.label} did not stop in {STOP_TIMEOUT_S:.0f}s; killing it")
                    child.process.kill()
                    child.process.wait()
        if self.children:
            self.say("stopped")


def serve_flags(options: dict[str, object], insecure: bool = False) -> list[str]:
    """The options of `serve` the user gave (flag -> value, None when not given), passed
    on to every child so they all read the same settings."""
    flags: list[str] = []
    for name, value in options.items():
        if value is not None:
            flags += [name, str(value)]
    return flags + (["--insecure"] if insecure else [])
