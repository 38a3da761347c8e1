"""Tokens and roles for the daemons. The embedded mode needs none.

A token is `lct_<id>_<secret>`: the id finds its record, the secret is checked against
a stored SHA-256 with a constant-time comparison. Secrets are 32 random bytes, so a fast
hash is enough (nothing to brute-force); only hashes are stored, in `LOGCTL_HOME/tokens`
(mode 0600), and a token is shown once, when created. Roles: `ingest` sends logs, `read`
queries, `admin` may do everything."""

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from logctl.errors import UsageError

ROLES = ("ingest", "read", "admin")
PREFIX = "lct_"
ADMIN_FILE = "admin.token"
BOOK_FILE = "tokens"


@dataclass(frozen=True)
class TokenRecord:
    """A token as stored: never its secret."""

    id: str
    role: str
    name: str
    created: float
    hash: str


def allows(role: str, needed: str) -> bool:
    """Whether a token of `role` may do what needs `needed` (admin may do anything)."""
    return role == "admin" or role == needed


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(partial, 0o600)
    partial.replace(path)


# How often a daemon looks at the token file for known tokens (a revocation counts within
# this), and at most how often an unknown token makes it look (a new token counts at once).
RECHECK_S = 1.0
UNKNOWN_RECHECK_S = 0.01


class TokenBook:
    """The tokens of one LOGCTL_HOME. Daemons re-read the file when it changes: a token
    created while they run is accepted on its first use, a revoked one is refused within a
    second."""

    def __init__(self, home: Path) -> None:
        self.path = home / BOOK_FILE
        self.lock = threading.Lock()
        self.records: dict[str, TokenRecord] = {}
        self.seen: tuple[int, int] | None = None
        self.checked = 0.0

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self.records, self.seen = {}, None
            return
        if self.seen == (stat.st_mtime_ns, stat.st_size):
            return
        try:
            data = json.loads(self.path.read_text())
            self.records = {r["id"]: TokenRecord(**r) for r in data["tokens"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"unreadable token file {self.path}: {exc}") from None
        self.seen = (stat.st_mtime_ns, stat.st_size)

    def _fresh(self, interval: float = RECHECK_S) -> dict[str, TokenRecord]:
        """The records, after looking at the file if it was last looked at `interval` ago
        (it is re-read only when its mtime or size changed)."""
        with self.lock:
            if time.monotonic() - self.checked > interval:
                self._load()
                self.checked = time.monotonic()
            return self.records

    def _save(self) -> None:
        write_private(self.path, json.dumps(
            {"tokens": [asdict(r) for r in self.records.values()]}, indent=1))
        self.checked = 0.0

    def create(self, role: str, name: str = "") -> str:
        """A new token of `role`; the only time its secret is seen."""
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self.lock:
            self._load()
            self.records[token_id] = TokenRecord(token_id, role, name, time.time(),
                                                 _hash(secret))
            self._save()
        return f"{PREFIX}{token_id}_{secret}"

    def revoke(self, token_id: str) -> None:
        with self.lock:
            self._load()
            if self.records.pop(token_id, None) is None:
                raise UsageError(f"no token with id {token_id!r} (see `logctl token list`)")
            self._save()

    def list(self) -> list[TokenRecord]:
        with self.lock:
            self._load()
            return sorted(self.records.values(), key=lambda r: r.created)

    def role_of(self, token: str | None) -> str | None:
        """The role of a valid token, None for a missing, malformed or unknown one."""
        if not token or not token.startswith(PREFIX):
            return None
        token_id, _, secret = token[len(PREFIX):].partition("_")
        record = self._fresh().get(token_id)
        if record is None:  # perhaps created a moment ago
            record = self._fresh(UNKNOWN_RECHECK_S).get(token_id)
        if record is None or not hmac.compare_digest(record.hash, _hash(secret)):
            return None
        return record.role


def ensure_token(home: Path, file_name: str, role: str, name: str) -> tuple[str, bool]:
    """The token kept in `home/file_name`, created (and registered) on first use; True
    when it was created now."""
    path = home / file_name
    if path.is_file():
        return path.read_text().strip(), False
    token = TokenBook(home).create(role, name)
    write_private(path, token + "\n")
    return token, True


def caller_token(given: str | None, home: Path) -> str | None:
    """The token a command sends: the one given (--token, LOGCTL_TOKEN), else the local
    admin token `logctl serve` left in `home`."""
    return given or local_token(home)


def local_token(home: Path) -> str | None:
    """The admin token `logctl serve` left in this home, if it is readable."""
    try:
        return (home / ADMIN_FILE).read_text().strip() or None
    except OSError:
        return None
