"""Syslog received over UDP and TCP: messages buffered per app name and flushed as chunks
(about every second, or sooner when a buffer fills). The message part of a line is read
by its own format when it is an access log (nginx `access_log syslog:`, HAProxy `log`),
so its requests count as a file's would; other lines count as syslog events, as in a
syslog file. The app name is the source.

Syslog has no acknowledgements: what the daemon has read but not yet stored is lost if
it dies, and UDP drops what arrives while the buffer is full (counted as dropped)."""

import threading
import uuid
from dataclasses import dataclass, field

from logctl.errors import LogctlError, ParseError
from logctl.formats import FormatOptions
from logctl.formats.detect import detect_format
from logctl.formats.syslog import split_message
from logctl.services.receivers import Decoded, Pushed, Receiver

ACCESS_FORMATS = ("combined", "common", "haproxy", "envoy", "aws_lb", "s3", "jsonl")
MAX_BUFFER = 8 * 1024 * 1024


@dataclass
class Held:
    """One app's lines since the last flush: whole lines and their message parts."""

    lines: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)


class SyslogBuffer:
    """Lines received by one listener (`name`: syslog_udp or syslog_tcp), held until the
    next flush hands them to the receiver."""

    def __init__(self, name: str, receiver: Receiver, options: FormatOptions,
                 limit: int = MAX_BUFFER) -> None:
        self.name = name
        self.receiver = receiver
        self.options = options
        self.limit = limit
        self.held: dict[tuple[str, str], Held] = {}  # by app name and host
        self.size = 0
        self.dropped = 0
        self.messages = 0
        self.failed = 0
        self.prefix = uuid.uuid4().hex
        self.flushes = 0
        self.pending: tuple[Decoded, str, int] | None = None
        self.lock = threading.Lock()

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def add(self, line: bytes) -> bool:
        """Hold one syslog line (without its framing); False when the buffer is full and
        the line was dropped."""
        line = line.rstrip(b"\r\n").replace(b"\n", b" ")
        if not line:
            return True
        with self.lock:
            if self.full:
                self.dropped += 1
                return False
            split = split_message(line)
            app, host, message = split if split else ("syslog", "", line)
            held = self.held.setdefault((app or "syslog", host), Held())
            held.lines.append(line + b"\n")
            held.messages.append(message + b"\n")
            self.size += len(line) + 1
            self.messages += 1
            return True

    def flush(self) -> int:
        """Deliver what is held (blocking until processing acknowledges it); returns the
        lines delivered. A delivery that failed is sent again first, as it was, under the
        same batch ids: if it was stored after all, it is not stored twice."""
        delivered = 0
        if self.pending is not None:
            delivered += self._deliver(*self.pending)
        with self.lock:
            held, self.held, size, self.size = self.held, {}, self.size, 0
        if held:
            self.flushes += 1
            decoded = Decoded([self._chunk(app, host, part)
                               for (app, host), part in sorted(held.items())])
            self.pending = (decoded, f"{self.prefix}:{self.flushes}", size)
            delivered += self._deliver(*self.pending)
        return delivered

    def _deliver(self, decoded: Decoded, key: str, size: int) -> int:
        try:
            self.receiver.deliver(self.name, decoded, key, size)
        except LogctlError:
            self.failed += 1
            raise
        self.pending = None
        return sum(chunk.records for chunk in decoded.chunks)

    def _chunk(self, app: str, host: str, held: Held) -> Pushed:
        """An app's lines from one host as one chunk: the message parts in their
        access-log format when they are one (the header's host given to records that
        name none), else the whole lines as syslog events."""
        messages = b"".join(held.messages)
        try:
            name = detect_format(messages, self.options).name
        except (ParseError, ValueError):
            name = "syslog"
        if name in ACCESS_FORMATS:
            return Pushed(app, messages, name, len(held.messages), host)
        return Pushed(app, b"".join(held.lines), "syslog", len(held.lines))

    def figures(self) -> dict[str, int]:
        return {"messages": self.messages, "buffered_bytes": self.size,
                "dropped": self.dropped, "failed_flushes": self.failed}
