"""Hand-rolled WebSocket client protocols for the load generator.

There are thousands of sockets per process on a 2-core machine that also runs the server, so the
clients must cost far less than the server they measure: a `CheapClient` does the upgrade by hand,
then only walks frame headers to count frames and bytes and never touches a payload (except
control frames: a ping must be answered or the server closes the socket after ~20 s). A
`ProbeClient` reassembles and JSON-decodes every text frame to measure latency and delivery.
"""

import asyncio
import base64
import json
import os
import re
import time

# Tweets are emitted as "bench {n} t={emit ms} ..." (xemulator rate and bench.reference alike).
TWEET_TEXT = re.compile(r"bench (\d+) t=(\d+)")

OP_CLOSE, OP_PING = 0x8, 0x9


def upgrade_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://{host}:{port}\r\n\r\n"
    ).encode()


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """Client frames must be masked (RFC 6455 5.3); only tiny control frames are ever sent."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + body


class CheapClient(asyncio.Protocol):
    """Counts frames and bytes; the hot path is one length check per read for a mid-frame chunk."""

    __slots__ = (
        "_hs_buf",
        "_pend",
        "_request",
        "_skip",
        "close_code",
        "closed_at",
        "connected_at",
        "first_frame_at",
        "frames",
        "handshake",
        "nbytes",
        "transport",
    )

    def __init__(self, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self._request = request
        self.handshake: asyncio.Future = loop.create_future()
        self._hs_buf = b""
        self._skip = 0  # payload bytes of the current data frame still to come
        self._pend = b""  # a partial frame header, or a whole partial control frame
        self.transport: asyncio.Transport | None = None
        self.frames = 0
        self.nbytes = 0
        self.connected_at: float | None = None
        self.first_frame_at: float | None = None  # the history frame, fully received
        self.closed_at: float | None = None
        self.close_code: int | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc) -> None:
        self.closed_at = time.monotonic()
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during handshake: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            data = self._handshake(data)
            if not data:
                return
        self.nbytes += len(data)
        skip = self._skip
        if skip:
            if skip > len(data):
                self._skip = skip - len(data)
                return
            self._skip = 0
            self._frame_done()
            if skip == len(data):
                return
            data = data[skip:]
        if self._pend:
            data = self._pend + data
            self._pend = b""
        self._parse(data)

    def _handshake(self, data: bytes) -> bytes:
        buf = self._hs_buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self._hs_buf = buf
            return b""
        self._hs_buf = b""
        status = buf[: buf.find(b"\r\n")]
        if b" 101 " not in status:
            self.handshake.set_exception(ConnectionError(status.decode("latin-1")))
            self.transport.close()
            return b""
        self.connected_at = time.monotonic()
        self.handshake.set_result(None)
        return buf[end + 4 :]

    def _parse(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            if n - i < 2:
                self._pend = data[i:]
                return
            b0, b1 = data[i], data[i + 1] & 0x7F
            if b1 < 126:
                start, length = i + 2, b1
            elif b1 == 126:
                start = i + 4
                if start > n:
                    self._pend = data[i:]
                    return
                length = int.from_bytes(data[i + 2 : start], "big")
            else:
                start = i + 10
                if start > n:
                    self._pend = data[i:]
                    return
                length = int.from_bytes(data[i + 2 : start], "big")
            end = start + length
            opcode = b0 & 0x0F
            if opcode >= OP_CLOSE:  # control frames are tiny: wait until whole, then handle
                if end > n:
                    self._pend = data[i:]
                    return
                self._control(opcode, data[start:end])
                i = end
                continue
            self.frames += 1
            if end > n:
                self._skip = end - n
                return
            self._frame_done()
            i = end

    def _frame_done(self) -> None:
        if self.first_frame_at is None:
            self.first_frame_at = time.monotonic()

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self.transport.write(masked_frame(0xA, payload))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if not self.transport.is_closing():
                self.transport.write(masked_frame(OP_CLOSE, payload[:2]))
                self.transport.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            self.transport.close()


class ProbeClient(CheapClient):
    """Decodes every text frame; records per-tweet latency (now − emit time) and which n arrived."""

    __slots__ = ("_buf", "_msg", "latencies", "latency_of", "received", "recording")

    def __init__(self, request: bytes, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(request, loop)
        self._buf = bytearray()
        self._msg = bytearray()  # a fragmented message being reassembled
        self.recording = False
        self.latencies: list[float] = []
        self.latency_of: dict[int, float] = {}  # n → its latency (the later, if it came twice)
        self.received: dict[int, int] = {}  # n → times received (a repeat is a duplicate)

    def data_received(self, data: bytes) -> None:
        if not self.handshake.done():
            data = self._handshake(data)
            if not data:
                return
        now_ms = time.time() * 1000.0  # before decoding, so our own parsing isn't counted
        self.nbytes += len(data)
        buf = self._buf
        buf += data
        i, n = 0, len(buf)
        while n - i >= 2:
            b0, b1 = buf[i], buf[i + 1] & 0x7F
            start, length = i + 2, b1
            if b1 >= 126:
                start = i + (4 if b1 == 126 else 10)
                if start > n:
                    break
                length = int.from_bytes(buf[i + 2 : start], "big")
            end = start + length
            if end > n:
                break
            opcode, payload = b0 & 0x0F, bytes(buf[start:end])
            i = end
            if opcode >= OP_CLOSE:
                self._control(opcode, payload)
                continue
            self._msg += payload
            if b0 & 0x80:  # FIN: the message is whole
                self.frames += 1
                self._frame_done()
                message, self._msg = bytes(self._msg), bytearray()
                self._record(message, now_ms)
        del buf[:i]

    def _record(self, message: bytes, now_ms: float) -> None:
        if not self.recording:
            return
        frame = json.loads(message)
        if frame.get("type") != "tweets":
            return  # history holds earlier runs' tweets; only live frames count
        for tweet in frame["tweets"]:
            match = TWEET_TEXT.match(tweet.get("text", ""))
            if match is None:
                continue
            n = int(match.group(1))
            self.received[n] = self.received.get(n, 0) + 1
            latency = now_ms - int(match.group(2))
            self.latencies.append(latency)
            self.latency_of[n] = max(latency, self.latency_of.get(n, 0.0))
