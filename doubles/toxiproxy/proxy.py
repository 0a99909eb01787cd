"""The TCP side: proxies (listeners) and connections with their toxics.

Hand-written because no maintained Python library implements Toxiproxy's toxics (see
docs/toxiproxy.md). Each connection runs two directions, ``upstream`` (client -> upstream)
and ``downstream`` (upstream -> client). A reader task timestamps chunks as they arrive; a
writer task applies the toxics that are active *now* to each chunk, so toxics added, updated
or removed while a connection is open act on it, as in Toxiproxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import socket
import struct
from dataclasses import dataclass, field

from doubles.toxiproxy.addresses import TcpAddress
from doubles.toxiproxy.toxics import (
    ApiError,
    Toxic,
    connection_rng,
    latency_delay_ms,
    slice_sizes,
    toxic_applies,
)

log = logging.getLogger("doubles.toxiproxy")

READ_SIZE = 32 * 1024
QUEUE_CHUNKS = 16  # bounded, so a slow destination pushes back on the source
UPSTREAM_CONNECT_TIMEOUT_S = 10.0


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:80"``, ``"localhost:80"``, ``"[::1]:80"``, ``":80"`` -> (host, port)."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ApiError(f"invalid address {address!r}: expected host:port", 400)
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Chunk:
    data: bytes
    arrived: float  # loop time when read from the source


@dataclass
class ToxicState:
    """A toxic as it acts on one connection."""

    toxic: Toxic
    applies: bool
    timer: asyncio.TimerHandle | None = None
    bytes_passed: int = 0  # limit_data
    pace_at: float = 0.0  # bandwidth: when the previous bytes finished "transmitting"

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(eq=False)  # identity semantics: connections live in a set
class Connection:
    proxy: Proxy
    number: int
    client_reader: asyncio.StreamReader
    client_writer: asyncio.StreamWriter
    upstream_reader: asyncio.StreamReader | None = None
    upstream_writer: asyncio.StreamWriter | None = None
    states: dict[str, ToxicState] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _eof_forwarded: set[str] = field(default_factory=set)

    # ---- toxics ---------------------------------------------------------------------
    def sync_toxics(self, toxics: list[Toxic]) -> None:
        """Start new/updated toxics on this connection, stop removed ones (in toxic order)."""
        wanted = {toxic.name: toxic for toxic in toxics}
        cleanup = False
        for name in list(self.states):
            if name not in wanted:
                removed = self.states.pop(name)
                removed.cancel_timer()
                # Toxiproxy's TimeoutToxic.Cleanup closes its stub when the toxic is removed
                # (link.go RemoveToxic), so the bytes it dropped never look like a live
                # stream. Cleanup runs on every link of that stream whose stub is still open,
                # whether or not the toxicity draw made the toxic act on it.
                if removed.toxic.type == "timeout":
                    cleanup = cleanup or removed.toxic.direction not in self._eof_forwarded
        if cleanup:
            log.info("proxy %s: timeout toxic removed: connection closed", self.proxy.name)
            self.close()
            return
        for toxic in toxics:
            state = self.states.get(toxic.name)
            if state is not None and state.toxic.generation == toxic.generation:
                continue
            applies = toxic_applies(self.proxy.seed, self.proxy.name, self.number, toxic)
            new_state = ToxicState(toxic, applies)
            if state is not None:
                state.cancel_timer()
                # an update keeps what the toxic counted on this connection, as Toxiproxy's
                # stateful toxics do (limit_data goes on from the bytes already passed)
                new_state.bytes_passed = state.bytes_passed
            state = new_state
            self.states[toxic.name] = state
            if applies and toxic.type == "timeout":
                self._arm_timeout(state)
        # wake writers sleeping on a toxic, so they re-read the current set
        self._changed.set()
        self._changed = asyncio.Event()

    def active(self, stream: str) -> list[ToxicState]:
        return [s for s in self.states.values() if s.applies and s.toxic.direction == stream]

    def _arm_timeout(self, state: ToxicState) -> None:
        # Toxiproxy restarts the timer whenever data reaches the toxic (it is dropped).
        state.cancel_timer()
        timeout_ms = state.toxic.attributes["timeout"]
        if timeout_ms > 0:
            state.timer = asyncio.get_running_loop().call_later(timeout_ms / 1000, self.close)

    async def _wait_change(self, seconds: float | None) -> bool:
        """Sleep ``seconds`` (None: for ever); return True early if the toxics changed."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), None if seconds is None else max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    # ---- lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        try:
            # Toxiproxy does not check ``upstream`` when the proxy is created: a bad one only
            # fails this dial, and the client is closed
            host, port = split_host_port(self.proxy.upstream)
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), UPSTREAM_CONNECT_TIMEOUT_S
            )
        except (ApiError, OSError, TimeoutError) as exc:
            log.warning(
                "proxy %s: upstream %s unreachable: %s", self.proxy.name, self.proxy.upstream, exc
            )
            self.close()
            return
        if self.closed:  # disabled while connecting
            upstream_writer.close()
            return
        self.upstream_reader, self.upstream_writer = upstream_reader, upstream_writer
        self.sync_toxics(self.proxy.toxics)
        queues: dict[str, asyncio.Queue[Chunk | None]] = {
            "upstream": asyncio.Queue(QUEUE_CHUNKS),
            "downstream": asyncio.Queue(QUEUE_CHUNKS),
        }
        rngs = {s: connection_rng(self.proxy.seed, self.proxy.name, self.number, s) for s in queues}
        self.tasks = [
            asyncio.create_task(self._read(self.client_reader, queues["upstream"])),
            asyncio.create_task(self._read(upstream_reader, queues["downstream"])),
            asyncio.create_task(
                self._write("upstream", queues["upstream"], upstream_writer, rngs["upstream"])
            ),
            asyncio.create_task(
                self._write(
                    "downstream", queues["downstream"], self.client_writer, rngs["downstream"]
                )
            ),
        ]
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.close()

    def close(self) -> None:
        """Close both sides normally (FIN) and stop the pumps."""
        self._shutdown(reset=False)

    def reset(self) -> None:
        """Close both sides with a TCP RST (SO_LINGER 0), as reset_peer does."""
        self._shutdown(reset=True)

    def _shutdown(self, reset: bool) -> None:
        if self.closed:
            return
        self.closed = True
        for state in self.states.values():
            state.cancel_timer()
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        for writer in (self.client_writer, self.upstream_writer):
            if writer is None:
                continue
            if reset:
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                writer.transport.abort()
            else:
                writer.close()
        self.proxy.connections.discard(self)

    # ---- pumps ----------------------------------------------------------------------
    async def _read(self, reader: asyncio.StreamReader, queue: asyncio.Queue[Chunk | None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await reader.read(READ_SIZE):
                await queue.put(Chunk(data, loop.time()))
        except (ConnectionError, OSError):
            self.close()
            return
        await queue.put(None)

    async def _write(
        self,
        stream: str,
        queue: asyncio.Queue[Chunk | None],
        writer: asyncio.StreamWriter,
        rng: random.Random,
    ) -> None:
        try:
            while not self.closed:
                chunk = await queue.get()
                if chunk is None:
                    await self._forward_eof(stream, writer)
                    return
                await self._deliver(stream, chunk, writer, rng)
        except (ConnectionError, OSError):
            self.close()

    async def _forward_eof(self, stream: str, writer: asyncio.StreamWriter) -> None:
        """The source of ``stream`` closed: close its destination, as Toxiproxy does.

        Toxiproxy closes the destination socket outright (no half-close); the other direction
        then sees that socket end and closes its own destination, through its own toxics
        (so a downstream ``slow_close`` also delays a close the client started).
        """
        states = self.active(stream)
        delays = [s.toxic.attributes["delay"] for s in states if s.toxic.type == "slow_close"]
        if delays and not any(s.toxic.type in ("timeout", "limit_data") for s in states):
            await asyncio.sleep(max(delays) / 1000)
        self._eof_forwarded.add(stream)
        if len(self._eof_forwarded) == 2:
            self.close()
        else:
            writer.close()

    async def _deliver(
        self, stream: str, chunk: Chunk, writer: asyncio.StreamWriter, rng: random.Random
    ) -> None:
        loop = asyncio.get_running_loop()
        states = self.active(stream)
        for state in states:
            if state.toxic.type == "timeout":
                self._arm_timeout(state)  # data is dropped on the ground
                return
            if state.toxic.type == "reset_peer":
                await asyncio.sleep(state.toxic.attributes["timeout"] / 1000)
                self.reset()
                return
        # latency: each chunk leaves `latency ± jitter` after it arrived; a toxic removed
        # meanwhile stops delaying it (the wait re-checks the current toxics)
        drawn: dict[str, float] = {}
        while True:
            delay_ms = 0.0
            for state in self.active(stream):
                if state.toxic.type == "latency":
                    if state.toxic.name not in drawn:
                        drawn[state.toxic.name] = latency_delay_ms(state.toxic.attributes, rng)
                    delay_ms += drawn[state.toxic.name]
            remaining = chunk.arrived + delay_ms / 1000 - loop.time()
            if remaining <= 0 or not await self._wait_change(remaining):
                break
        states = self.active(stream)
        if any(s.toxic.type in ("timeout", "reset_peer") for s in states):
            return await self._deliver(stream, chunk, writer, rng)
        if any(s.toxic.type == "bandwidth" and s.toxic.attributes["rate"] <= 0 for s in states):
            # Toxiproxy's bandwidth toxic never forwards a chunk at rate 0 (its split loop cuts
            # empty pieces for ever) and panics below 0; the data is held until the toxic is
            # removed or updated, then handled by whatever toxics are active then
            await self._wait_change(None)
            return await self._deliver(stream, chunk, writer, rng)
        data = chunk.data
        close_after = False
        limits = [s for s in states if s.toxic.type == "limit_data"]
        for state in limits:
            allowed = state.toxic.attributes["bytes"] - state.bytes_passed
            if len(data) >= allowed:
                data = data[: max(0, allowed)]
                close_after = True
        for state in limits:
            state.bytes_passed += len(data)
        slicers = [s for s in states if s.toxic.type == "slicer"]
        if slicers:
            attrs = slicers[0].toxic.attributes
            sizes = slice_sizes(len(data), attrs["average_size"], attrs["size_variation"], rng)
            slice_delay = attrs["delay"] / 1_000_000
        else:
            sizes, slice_delay = ([len(data)] if data else []), 0.0
        bandwidths = [
            s for s in states if s.toxic.type == "bandwidth" and s.toxic.attributes["rate"] > 0
        ]
        limiter = min(bandwidths, key=lambda s: s.toxic.attributes["rate"]) if bandwidths else None
        offset = 0
        for index, size in enumerate(sizes):
            piece = data[offset : offset + size]
            offset += size
            if limiter is not None:
                await self._pace(limiter, piece, writer)
            else:
                writer.write(piece)
                await writer.drain()
            if slice_delay and index < len(sizes) - 1:
                await asyncio.sleep(slice_delay)
        if close_after:
            self.close()

    async def _pace(self, state: ToxicState, piece: bytes, writer: asyncio.StreamWriter) -> None:
        """Send at ``rate`` KB/s: pieces of at most 100 ms worth, each after its transmit time."""
        loop = asyncio.get_running_loop()
        bytes_per_s = state.toxic.attributes["rate"] * 1000
        step = max(1, bytes_per_s // 10)
        for start in range(0, len(piece), step):
            part = piece[start : start + step]
            state.pace_at = max(state.pace_at, loop.time()) + len(part) / bytes_per_s
            await asyncio.sleep(max(0.0, state.pace_at - loop.time()))
            writer.write(part)
            await writer.drain()


class Proxy:
    """One named proxy: a listener on ``listen`` forwarding to ``upstream``."""

    def __init__(self, name: str, listen: str, upstream: str, seed: int) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.seed = seed
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._accepted = 0

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }

    async def start(self, address: TcpAddress) -> None:
        """Listen on ``address``, this proxy's ``listen`` as resolved (see addresses.py).

        Only that one address is bound (a name's first IPv4 address, as Go's ``net.Listen``),
        and an empty host binds 127.0.0.1 (Toxiproxy: every interface).
        """
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(
                self._on_client, address.host or "127.0.0.1", address.port, reuse_address=True
            )
        except OSError as exc:
            # as Go's net.Listen words it, naming the resolved address:
            # "listen tcp 127.0.0.1:P: bind: address already in use"
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise ApiError(f"listen tcp {address}: bind: {reason}", 500) from exc
        bound = self._server.sockets[0].getsockname()
        # report (and on re-enable, reuse) the actual port when 0 was asked for
        self.listen = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
        self.enabled = True
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    async def stop(self) -> None:
        """Close the listener and drop every open connection."""
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
            log.info(
                "proxy %s stopped: listener closed, %d open connections dropped",
                self.name,
                len(self.connections),
            )
        for connection in list(self.connections):
            connection.close()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    def set_toxics(self, toxics: list[Toxic]) -> None:
        self.toxics = toxics
        for connection in list(self.connections):
            connection.sync_toxics(toxics)

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._accepted += 1
        connection = Connection(self, self._accepted, reader, writer)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            connection.close()
