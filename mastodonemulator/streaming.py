"""One WebSocket client of ``/api/v1/streaming`` and its subscriptions.

From ``content/en/methods/streaming.md`` ("Establishing a WebSocket connection"): one socket
carries many streams; the client sends ``{"type":"subscribe","stream":"hashtag","tag":"foo"}``
and ``{"type":"unsubscribe",...}``; each event is ``{"stream":[...],"event":...,"payload":...}``
where ``payload`` is the entity JSON *as a string* (the status id for ``delete``); a bad
request on the socket gets ``{"error":"Unknown stream type","status":400}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from aiohttp import web

from .content import normalize_tag

log = logging.getLogger("mastodonemulator")

# Streams the emulator serves (streaming.md "Streaming timelines/categories"); user, list
# and direct need a home timeline, which this emulator does not keep.
STATUS_STREAMS = {
    "public",
    "public:media",
    "public:local",
    "public:local:media",
    "public:remote",
    "public:remote:media",
    "hashtag",
    "hashtag:local",
}
SEND_QUEUE_LIMIT = 10_000  # events buffered per socket; past it the emulator closes the socket
CLOSE_OVERFLOW = 1011  # the emulator's own choice: Mastodon buffers without a documented bound


class StreamError(Exception):
    """A refused subscribe; ``status`` as in streaming.md's error JSON."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Subscription:
    name: str  # e.g. "hashtag:local"
    tag: str | None  # as the client wrote it: echoed back in the event's "stream"

    @property
    def key(self) -> tuple[str, str | None]:
        return self.name, normalize_tag(self.tag) if self.tag else None

    @property
    def stream(self) -> list[str]:
        return [self.name, self.tag] if self.tag is not None else [self.name]

    def matches(self, status) -> bool:
        """Hashtag and public streams carry public, original (not boosted) statuses only:
        a boost has no tags of its own (Status.md: the boost's fields are empty)."""
        if status.visibility != "public" or status.reblog_of is not None:
            return False
        if ":local" in self.name and not status.local:
            return False
        if ":remote" in self.name and status.local:
            return False
        if self.name.endswith(":media") and not status.has_media:
            return False
        return not self.name.startswith("hashtag") or self.key[1] in status.tags


def parse_subscription(message: dict) -> Subscription:
    name = message.get("stream")
    if name not in STATUS_STREAMS:
        raise StreamError("Unknown stream type")
    tag = message.get("tag")
    if name.startswith("hashtag") and not (isinstance(tag, str) and tag.strip()):
        raise StreamError("No tag for stream provided")
    return Subscription(name, tag.lstrip("#") if name.startswith("hashtag") else None)


class StreamConnection:
    def __init__(self, conn_id: int, ws: web.WebSocketResponse, request: web.Request, token: str) -> None:
        self.id = conn_id
        self.ws = ws
        self.request = request
        self.token = token
        # Connection state
        self.subscriptions: dict[tuple[str, str | None], Subscription] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=SEND_QUEUE_LIMIT)
        self.events_sent = 0
        self.closing = False

    def subscribe(self, sub: Subscription) -> None:
        self.subscriptions.setdefault(sub.key, sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.pop(sub.key, None)

    def offer(self, status, event: str, payload: str) -> int:
        """Queue one event per matching subscription (a status tagged #a and #b reaches a
        socket subscribed to both twice, once per stream). Never blocks."""
        queued = 0
        for sub in list(self.subscriptions.values()):
            if sub.matches(status):
                self.push({"stream": sub.stream, "event": event, "payload": payload})
                queued += 1
        return queued

    def push(self, message: dict) -> None:
        self.push_text(json.dumps(message, ensure_ascii=False))

    def push_text(self, text: str) -> None:
        """Queue one text frame as it is (a fault may send what is not JSON at all)."""
        if self.closing:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("stream #%d: %d events queued, closing", self.id, self.queue.qsize())
            self.closing = True
            asyncio.get_running_loop().create_task(self.ws.close(code=CLOSE_OVERFLOW, message=b"too slow"))

    async def pump(self) -> None:
        """Write queued events in order until cancelled or the socket closes."""
        while True:
            text = await self.queue.get()
            if self.ws.closed:
                return
            await self.ws.send_str(text)
            self.events_sent += 1

    def abort(self) -> None:
        """Cut the TCP connection without a close frame (a network drop)."""
        self.closing = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def describe(self) -> dict:
        return {
            "id": self.id,
            "subscriptions": [s.stream for s in self.subscriptions.values()],
            "events_sent": self.events_sent,
            "queued": self.queue.qsize(),
        }
