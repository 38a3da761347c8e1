"""Small SQLite files a process keeps for itself (checkpoints, the spool): opened once,
shared by its threads (callers take turns on their own lock), waiting out another
process's lock instead of failing, and reported as a StoreError when they cannot open."""

import sqlite3
from pathlib import Path

from logctl.errors import StoreError

# The page size of a new file, whichever connection makes it: a sparse day's point blocks
# (store/blocks.py) are a few kB each, and 4 kB pages held one each with a quarter of the
# page left over (16 kB pages: a sparse day's database 10.4 -> 9.5 MB).
PAGE_SIZE = 16384
# WAL pages between checkpoints for every connection to a metrics database (64 MiB): a
# checkpoint every 1,000 pages (the default) came every few batches, and whichever
# connection crossed it did the work, so the store and the checkpoint book on the same file
# must agree.
WAL_CHECKPOINT_PAGES = 64 * 2**20 // PAGE_SIZE


def open_local(path: Path, what: str, *statements: str) -> sqlite3.Connection:
    """Open (creating) `path` in autocommit mode and run `statements` (pragmas, schema)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the first table, or ignored
        conn.execute("PRAGMA busy_timeout = 60000")
        for statement in statements:
            conn.execute(statement)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open {what} {path}: {exc}") from None
    return conn
