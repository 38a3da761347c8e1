"""Lines of a chunk, and the one guarded call through which every engine parses a line:
whatever a line holds, it becomes a record or counts as malformed, never fails its chunk."""

from collections.abc import Iterable

from logctl.formats.record import LineParser, Record

MAX_LINE = 64 * 1024


def iter_lines(data: bytes) -> Iterable[bytes]:
    """Non-empty lines of a chunk, without their LF or CRLF ending."""
    for raw in data.split(b"\n"):
        line = strip_eol(raw)
        if line.strip():
            yield line


def strip_eol(line: bytes) -> bytes:
    """A line without the CR of a CRLF ending."""
    return line[:-1] if line.endswith(b"\r") else line


def parse_bounded(parse_line: LineParser, line: bytes) -> Record | None:
    """Parse a line; one longer than MAX_LINE, or one on which the parser raises anything
    (a hostile value no check foresaw), is malformed: one line never fails a chunk."""
    if len(line) > MAX_LINE:
        return None
    try:
        return parse_line(line)
    except Exception:
        return None
