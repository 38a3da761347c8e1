"""One exception hierarchy; the CLI (and later the REST/gRPC layers) map it once to
messages and exit codes."""


class LogctlError(Exception):
    """Base of every error logctl reports to a user; `exit_code` follows DESIGN.md §3."""

    exit_code = 1


class UsageError(LogctlError):
    """The user asked for something that cannot make sense (bad option value, unknown name)."""

    exit_code = 2


class InputError(LogctlError):
    """An input path is missing, unreadable or holds no logs."""

    exit_code = 1


class ParseError(LogctlError):
    """A log format or pattern cannot be used (not a malformed line: those are counted)."""

    exit_code = 2


class StoreError(LogctlError):
    """The metrics database cannot be opened, written or read."""

    exit_code = 1


class PeerError(LogctlError):
    """Another logctl service cannot be reached, or refused the call."""

    exit_code = 1
