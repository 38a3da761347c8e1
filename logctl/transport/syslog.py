"""Syslog listeners for the ingest daemon: UDP (a message a datagram) and TCP framed as
RFC 6587 says (octet counting, `123 <34>1 ...`, or one message a line), over TLS when the
daemon has a certificate. Messages go into a SyslogBuffer, flushed to processing about
every second; a TCP sender is not read from while its buffer is full (it waits), a UDP
datagram that finds it full is dropped and counted."""

import asyncio
import contextlib
import logging
import os
import ssl
from collections.abc import AsyncIterator, Iterator

from logctl.errors import AddressInUse, LogctlError, UsageError
from logctl.services.syslog_receiver import SyslogBuffer

log = logging.getLogger("logctl.syslog")
FLUSH_S = 1.0
MAX_MESSAGE = 1024 * 1024
MAX_COUNT_DIGITS = 8


def host_port(address: str, setting: str) -> tuple[str, int]:
    """'127.0.0.1:5514' (or '[::1]:5514') as host and port."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"bad {setting} address {address!r}: use HOST:PORT (127.0.0.1:5514)")
    return host.strip("[]"), int(port)


class UdpListener(asyncio.DatagramProtocol):
    """One message per datagram (a trailing newline is allowed)."""

    def __init__(self, buffer: SyslogBuffer) -> None:
        self.buffer = buffer

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.buffer.add(data)


async def frames(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The messages of one TCP stream, each frame octet-counted or ended by LF (the two
    may not be mixed by RFC 6587, but each frame says which it is by its first byte)."""
    while True:
        first = await reader.read(1)
        while first in (b"\n", b"\r", b" "):  # between frames (a sender's trailing LF)
            first = await reader.read(1)
        if not first:
            return
        if first.isdigit():
            count = first + (await reader.readuntil(b" "))[:-1]
            if len(count) > MAX_COUNT_DIGITS or not count.isdigit() or \
                    int(count) > MAX_MESSAGE:
                raise ValueError(f"bad octet count {count[:16]!r}")
            yield await reader.readexactly(int(count))
        else:
            try:
                yield first + await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:  # the last message, unterminated
                yield first + exc.partial
                return


async def serve_tcp_client(buffer: SyslogBuffer, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter,
                           clients: set[asyncio.StreamWriter]) -> None:
    clients.add(writer)
    try:
        async for message in frames(reader):
            while buffer.full:
                await asyncio.sleep(0.05)
            buffer.add(message)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
            ConnectionError) as exc:
        log.warning("syslog over TCP from %s closed: %s", writer.get_extra_info("peername"),
                    exc)
    finally:
        clients.discard(writer)
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def keep_flushing(buffers: list[SyslogBuffer], stop: asyncio.Event) -> None:
    """Flush every buffer about every second until `stop`, then once more. A failed
    delivery (processing away) is kept and tried again on the next round."""
    while True:
        stopping = stop.is_set()
        for buffer in buffers:
            try:
                await asyncio.to_thread(buffer.flush)
            except LogctlError as exc:
                log.warning("syslog delivery failed (kept, retried): %s", exc)
            except Exception:  # a bug must not stop every later flush
                log.exception("syslog delivery failed (kept, retried)")
        if stopping:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FLUSH_S)


@contextlib.asynccontextmanager
async def listening(udp: SyslogBuffer | None, udp_address: str | None,
                    tcp: SyslogBuffer | None, tcp_address: str | None,
                    tls: ssl.SSLContext | None) -> AsyncIterator[None]:
    """The listeners asked for, open while the body runs, flushed to the end after."""
    loop = asyncio.get_running_loop()
    closers = []
    buffers = [b for b in (udp, tcp) if b is not None]
    if udp is not None and udp_address:
        where = host_port(udp_address, "syslog_udp")
        with bound("UDP", where):
            transport, _ = await loop.create_datagram_endpoint(lambda: UdpListener(udp),
                                                               local_addr=where)
        closers.append(transport.close)
    server = None
    clients: set[asyncio.StreamWriter] = set()
    if tcp is not None and tcp_address:
        host, port = host_port(tcp_address, "syslog_tcp")
        with bound("TCP", (host, port)):
            server = await asyncio.start_server(
                lambda r, w: serve_tcp_client(tcp, r, w, clients), host, port, ssl=tls,
                limit=MAX_MESSAGE + 64)
    stop = asyncio.Event()
    flusher = asyncio.create_task(keep_flushing(buffers, stop))
    try:
        yield
    finally:
        for close in closers:
            close()
        if server is not None:
            server.close()
            for writer in list(clients):
                writer.close()
            await server.wait_closed()
        stop.set()
        await flusher


@contextlib.contextmanager
def bound(kind: str, where: tuple[str, int]) -> Iterator[None]:
    """One clear line when a syslog address cannot be listened on (taken, or not ours)."""
    try:
        yield
    except OSError as exc:
        raise AddressInUse(f"cannot listen for syslog over {kind} on {where[0]}:{where[1]}: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from None


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The TCP listener's TLS context when the daemon has a certificate."""
    if not cert or not key:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
