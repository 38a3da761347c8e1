"""One exception hierarchy; the CLI (and later the REST/gRPC layers) map it once to
messages and exit codes."""


class LogctlError(Exception):
    """Base of every error logctl reports to a user. `exit_code`: 1 for a runtime failure
    (missing file, unreadable database, unreachable peer), 2 for a usage error."""

    exit_code = 1


class UsageError(LogctlError):
    """The user asked for something that cannot make sense (bad option value, unknown name)."""

    exit_code = 2


class InputError(LogctlError):
    """An input path is missing, unreadable or holds no logs."""

    exit_code = 1


class AddressInUse(LogctlError):
    """A daemon's address is taken by another process (named in the message)."""

    exit_code = 1


class ParseError(LogctlError):
    """A log format or pattern cannot be used (not a malformed line: those are counted)."""

    exit_code = 2


class StoreError(LogctlError):
    """The metrics database cannot be opened, written or read."""

    exit_code = 1


class PeerError(LogctlError):
    """Another logctl service cannot be reached, or refused the call. `retryable` says
    whether the same call may succeed later (unreachable, overloaded, timed out);
    `retry_after` is the peer's own hint in seconds, when it gave one."""

    exit_code = 1

    def __init__(self, message: str, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Overloaded(PeerError):
    """This service is full (bounded queue or spool): the caller should wait and retry.
    Over HTTP it is 429 (too many requests at once) unless a subclass says otherwise."""

    http_status = 429

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message, retryable=True, retry_after=retry_after)


class DiskFull(Overloaded):
    """The store's disk is full: nothing of the write was kept. A daemon answers 503
    (RESOURCE_EXHAUSTED over gRPC) with Retry-After, so writers spool and wait; the
    embedded ingest stops, and a later run resumes from its checkpoint."""

    http_status = 503

    def __init__(self, where: str, retry_after: float = 5.0) -> None:
        super().__init__(f"disk full: cannot write to {where}; free some space and the "
                         "write is retried (logctl ingest: run it again, it resumes where "
                         "the stored data ends)", retry_after=retry_after)


class Forbidden(LogctlError):
    """The caller may not touch this (a path outside the allowed roots); over HTTP, 403."""

    exit_code = 1
