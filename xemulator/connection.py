"""One open ``GET /2/tweets/search/stream`` response and its writer loop."""

from __future__ import annotations

import asyncio
from collections import deque

from aiohttp import web

from . import payloads as p

KEEPALIVE = b"\r\n"
_CLOSE = object()  # sentinel: finish the chunked body cleanly


class StreamConnection:
    """One open ``GET /2/tweets/search/stream`` response."""

    def __init__(self, conn_id: int, request: web.Request) -> None:
        self.id = conn_id
        self.request = request
        query = request.query
        self.fields = {
            "tweet_fields": p.split_param(query.get("tweet.fields")),
            "expansions": p.split_param(query.get("expansions")),
            "user_fields": p.split_param(query.get("user.fields")),
            "media_fields": p.split_param(query.get("media.fields")),
        }
        self.opened_at = p.iso_now()
        self.stalled = False
        self.closed = False
        self.messages_sent = 0
        self.keepalives_sent = 0
        self._buffer: deque = deque()
        self._wakeup = asyncio.Event()

    def send(self, line: bytes) -> bool:
        """Queue one line; False if the connection is stalled or closing."""
        if self.closed or self.stalled:
            return False
        self._push(line)
        return True

    def close(self, last_line: bytes | None = None) -> None:
        """Send ``last_line`` (if any), then end the chunked body cleanly."""
        if last_line is not None and not self.closed:
            self._push(last_line)
        self.closed = True
        self._push(_CLOSE)

    def abort(self) -> None:
        """Drop the TCP connection at once, mid-stream (no final chunk)."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self._push(_CLOSE)

    def is_dead(self) -> bool:
        transport = self.request.transport
        return self.closed or transport is None or transport.is_closing()

    def _push(self, item: object) -> None:
        self._buffer.append(item)
        self._wakeup.set()

    async def pump(self, resp: web.StreamResponse, keepalive_interval: float) -> None:
        """Write queued lines, and a keep-alive after each idle interval."""
        while True:
            if not self._buffer:
                self._wakeup.clear()
                try:
                    async with asyncio.timeout(keepalive_interval):
                        await self._wakeup.wait()
                except TimeoutError:
                    if not self.stalled and not self.closed:
                        await resp.write(KEEPALIVE)
                        self.keepalives_sent += 1
                    continue
            item = self._buffer.popleft()
            if item is _CLOSE:
                transport = self.request.transport
                if transport is not None and not transport.is_closing():
                    await resp.write_eof()
                return
            await resp.write(item)
            if item != KEEPALIVE:
                self.messages_sent += 1
