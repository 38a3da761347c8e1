"""Shared by the benchmark scripts: run a command and measure it (wall time, peak RSS of
its whole process tree), and replace one section of RESULTS.md without touching others."""

import os
import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"
SAMPLE_EVERY = 0.1


@dataclass
class Run:
    """One timed command: wall seconds, peak RSS in MB of its largest process (wait4) and
    of the sum over its process tree (sampled), and what it printed."""

    seconds: float
    rss_mb: int
    tree_mb: int
    stdout: str


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> Run:
    """Run a command to the end; raise SystemExit with its stderr when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        sampler.stop()
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{cmd} failed: {err.read().decode()[-2000:]}")
        largest = max(usage.ru_maxrss, sampler.largest)
        return Run(seconds, largest // 1024, sampler.peak // 1024, out.read().decode())


class TreeSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants from /proc: the peak of the
    sum (what the machine had to hold) and the largest single process. wait4 alone misses
    grandchildren their parent never waited for (a fork server's workers)."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak = 0
        self.largest = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(SAMPLE_EVERY):
            sizes = [rss_kb(pid) for pid in descendants(self.root)]
            self.peak = max(self.peak, sum(sizes))
            self.largest = max(self.largest, *sizes, 0)

    def stop(self) -> None:
        self._done.set()
        self.join()


def descendants(root: int) -> list[int]:
    """The process and its descendants (by parent pid, from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_kb(pid: int) -> int:
    """Resident set size of a process in KB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_section(title: str, body: str) -> None:
    """Replace the `## title` section of RESULTS.md (or append it), keeping the others."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)
