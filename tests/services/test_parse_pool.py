"""The parse pool's worker processes end with the process that made the pool, even one
killed -9 (which cannot tell them to stop)."""

import os
import signal
import subprocess
import sys

import psutil

MAKES_A_POOL = r"""
import sys
from logctl.services.contracts import FormatSpec
from logctl.services.processing import ParsePool

pool = ParsePool(2)
line = b'{"time": "2025-06-01T00:00:00Z", "method": "GET", "path": "/a", "status": 200}\n'
pool.parse(FormatSpec("jsonl"), line * 50).result()
print("parsed", flush=True)
sys.stdin.read()  # until killed
"""


def test_workers_end_when_the_process_that_made_the_pool_is_killed_9() -> None:
    maker = subprocess.Popen([sys.executable, "-c", MAKES_A_POOL], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    helpers: list[psutil.Process] = []
    try:
        assert maker.stdout is not None and maker.stdout.readline() == "parsed\n"
        helpers = psutil.Process(maker.pid).children(recursive=True)
        assert len(helpers) >= 2  # the fork server and the worker it made
        os.kill(maker.pid, signal.SIGKILL)
        maker.wait(10)
        _, alive = psutil.wait_procs(helpers, timeout=10)
        assert alive == []
    finally:
        if maker.poll() is None:
            maker.kill()
            maker.wait(10)
        for each in helpers:  # what a failure left: ended by pid
            if each.is_running():
                each.kill()
