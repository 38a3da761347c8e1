"""A child daemon's tie to its supervisor: when `logctl serve --all` dies, even by
SIGKILL, every child it started stops too instead of living on with its ports.

On Linux the kernel sends the child SIGTERM when its parent dies (PR_SET_PDEATHSIG), and
one look at the parent pid right after covers a parent that died before that; elsewhere a
thread that watches the parent pid is the portable fallback."""

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PARENT_ENV = "LOGCTL_SUPERVISOR_PID"  # set by the supervisor in each child's environment
WATCH_INTERVAL_S = 0.5
_PR_SET_PDEATHSIG = 1


def tie_to_parent(parent: int,
                  interval: float = WATCH_INTERVAL_S) -> threading.Thread | None:
    """Stop this process (SIGTERM, so it drains as on Ctrl-C) once `parent` is gone: the
    kernel's death signal where it has one (checked once, for a parent that died before
    it was set), else a thread watching the parent pid. Either way, one SIGTERM."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
            return None
    watcher = threading.Thread(target=_watch, args=(parent, interval), daemon=True,
                               name="parent-watch")
    watcher.start()
    return watcher


def _watch(parent: int, interval: float) -> None:
    """Poll the parent pid; an orphan is re-parented, so a new ppid means it died."""
    while os.getppid() == parent:
        time.sleep(interval)
    os.kill(os.getpid(), signal.SIGTERM)


def tie_from_environment() -> None:
    """Tie to the supervisor named in the environment, when there is one."""
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():
        tie_to_parent(int(parent))
