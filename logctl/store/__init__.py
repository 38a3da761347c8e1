"""Metric storage: the Store protocol, its SQLite and PostgreSQL implementations, and
`open_store`, which picks one from a target string."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from logctl.errors import StoreError, UsageError
from logctl.metrics.route import ROUTE_CAP
from logctl.store.base import Store

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str | Path) -> bool:
    """True for a postgresql:// or postgres:// URL."""
    return str(target).startswith(POSTGRES_SCHEMES)


def redact(target: str | Path) -> str:
    """A store target fit for messages and reports: a URL loses its password."""
    text = str(target)
    if not is_postgres(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def sqlite_path(target: str | Path) -> Path | None:
    """The file of a SQLite target (`sqlite:PATH` or a plain path), None for PostgreSQL."""
    if is_postgres(target):
        return None
    text = str(target)
    if text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:").removeprefix("//")
        if not text:
            raise UsageError("empty SQLite path in the store target: use sqlite:PATH")
    return Path(text).expanduser()


def open_store(target: str | Path, route_cap: int = ROUTE_CAP, durable: bool = False,
               check: bool = False) -> Store:
    """Open the store a target names: a postgresql:// URL opens PostgresStore (imported only
    then, so SQLite users need no driver), `sqlite:PATH` or a plain path opens SQLiteStore.
    `durable`: a commit is on disk when a write returns (PostgreSQL always is); `check`: a
    damaged SQLite file is refused at once (PostgreSQL checks its own pages)."""
    path = sqlite_path(target)
    if path is None:
        try:
            from logctl.store.postgres import PostgresStore
        except ImportError as exc:  # the driver is an extra: `pip install -e .` leaves it out
            raise StoreError(f"{redact(target)} needs PostgreSQL support, which is not "
                             f"installed (no module {exc.name!r}): pip install "
                             "'logctl[postgres]'") from None
        return PostgresStore(str(target), route_cap=route_cap)
    from logctl.store.sqlite import SQLiteStore

    return SQLiteStore(path, route_cap=route_cap, durable=durable, check=check)
