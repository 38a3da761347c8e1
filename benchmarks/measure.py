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
OUT = Path(__file__).parent / "out"  # generated logs and databases (ignored by git)
# The baseline every ingest figure is compared with: a plain-Python regex loop that parses
# a combined log and counts per (minute, method, path, status), with no storage.
RE_LOOP = r'''
import re, sys
LINE = re.compile(rb'^(\S+) \S+ \S+ \[([^\]:]+:\d+:\d+):\d+ ([^\]]+)\] '
                  rb'"(\S+) (\S+)[^"]*" (\d{3}) (\d+|-)(?: "[^"]*" "[^"]*"(?: ([\d.]+))?)?')
counts = {}
with open(sys.argv[1], "rb") as f:
    for line in f:
        m = LINE.match(line)
        if m is None:
            continue
        key = (m[2], m[4], m[5].split(b"?")[0], m[6])
        c = counts.get(key)
        if c is None:
            c = counts[key] = [0, 0, 0.0]
        c[0] += 1
        c[1] += 0 if m[7] == b"-" else int(m[7])
        if m[8]:
            c[2] += float(m[8])
print(sum(c[0] for c in counts.values()))
'''
SAMPLE_EVERY = 0.1


def prepare() -> None:
    """Make the output folder and logctl's bytecode before anything is timed: an installed
    package has its bytecode (pip compiles on install), while a checkout run with
    PYTHONDONTWRITEBYTECODE set compiles every module again on every command (~80 ms a
    command on the benchmark machine, which measured that rather than logctl)."""
    import compileall

    import logctl

    OUT.mkdir(exist_ok=True)
    compileall.compile_dir(Path(logctl.__file__).parent, quiet=1)


@dataclass
class Run:
    """One timed command: wall seconds, peak RSS in MB of its largest process and of the
    sum over its process tree (sampled: 0 for a command that ended before the first
    sample), and what it printed."""

    seconds: float
    rss_mb: int
    tree_mb: int
    stdout: str


class TimedOut(Exception):
    """The command ran longer than its time limit and was killed."""


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
          timeout: float | None = None) -> Run:
    """Run a command to the end (killed after `timeout` s: TimedOut); raise SystemExit with
    its stderr when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        limit = threading.Timer(timeout, proc.kill) if timeout else None
        if limit:
            limit.start()
        _, status, _ = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        sampler.stop()
        if limit:
            limit.cancel()
            if seconds >= timeout:
                raise TimedOut(f"{cmd[0]} killed after {timeout:.0f} s")
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{cmd} failed: {err.read().decode()[-2000:]}")
        return Run(seconds, sampler.largest // 1024, sampler.peak // 1024, out.read().decode())


class TreeSampler(threading.Thread):
    """Samples the RSS of a process and all its descendants from /proc: the peak of the
    sum (what the machine had to hold) and the largest single process. wait4's ru_maxrss
    misses grandchildren their parent never waited for (a fork server's workers), and
    includes the benchmark's own memory, which the forked child held before exec."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak = 0
        self.largest = 0
        self._done = threading.Event()

    def run(self) -> None:
        self._sample()
        while not self._done.wait(SAMPLE_EVERY):
            self._sample()

    def _sample(self) -> None:
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
