"""Jetstream's ``/subscribe`` (v1 wire): the subscriber filter and one subscriber's socket.

From the Jetstream v1 README ("Consuming Jetstream", "Subscriber Sourced messages") and its
server code (``pkg/server/server.go``, ``subscriber.go``), as kept in the v2 rewrite's
``internal/subscribe/doc.go``:

* ``wantedCollections`` (repeatable, at most 100): exact NSIDs, or prefixes ending in ``.*``
  (``app.bsky.feed.*``, also ``app.bsky.*``); an incomplete prefix (``app.bsky.graph.fo*``) is not
  an NSID and is refused. Identity and account events ignore this filter.
* ``wantedDids`` (repeatable, at most 10,000), applied to every kind of event.
* ``maxMessageSizeBytes``: events whose JSON is longer are skipped; 0, negative or malformed = no cap.
* Invalid options are a plain-text HTTP 400 before the upgrade ("invalid subscriber options: …").
* ``options_update`` messages replace the filter; an invalid one closes the socket; other message
  types are ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger("blueskyemulator")

MAX_WANTED_COLLECTIONS = 100  # v1 README: "at most 100 wanted collections/prefixes"
MAX_WANTED_DIDS = 10_000  # v1 README: "at most 10,000 wanted DIDs"
OUTBOX_LIMIT = 10_000  # v1 subscriber.go: outbox channel of 10,000; a full one drops a live subscriber
MAX_CLIENT_MESSAGE = 10_000_000  # v1 README: an options update "can be at most 10MB in size"

# atproto NSID syntax: a reversed domain authority, then a name (letters and digits).
_NSID_RE = re.compile(
    r"^[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z][a-zA-Z0-9]{0,62}$"
)
_DID_RE = re.compile(r"^did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]$")


class OptionsError(ValueError):
    """Options Jetstream refuses (HTTP 400 before the upgrade, or a close after options_update)."""


@dataclass(frozen=True)
class Event:
    """One emitted Jetstream event, serialized once for every subscriber."""

    time_us: int
    did: str
    kind: str  # "commit" | "identity" | "account"
    collection: str  # "" unless kind == "commit"
    text: str  # the JSON text frame
    size: int  # len(text) in UTF-8 bytes, for maxMessageSizeBytes


@dataclass
class Filter:
    collections: frozenset[str] | None = None  # None: every collection
    prefixes: tuple[str, ...] = ()
    dids: frozenset[str] = frozenset()
    max_size: int = 0

    def wants(self, event: Event) -> bool:
        """subscriber.go ``emitToSubscriber``: collection, then DID, then size."""
        if self.collections is not None and event.collection:
            if event.collection not in self.collections and not event.collection.startswith(self.prefixes):
                return False
        if self.dids and event.did not in self.dids:
            return False
        return not (self.max_size and event.size > self.max_size)


def parse_max_size(value: object) -> int:
    """subscriber.go ``ParseMaxMessageSizeBytes``: malformed or negative means 0 (no cap)."""
    try:
        size = int(str(value).strip())
    except ValueError:
        return 0
    return max(size, 0)


def parse_filter(collections: list[str], dids: list[str], max_size: object) -> Filter:
    """Build a Filter as ``parseSubscriberOptions`` does; OptionsError on what it refuses."""
    exact, prefixes = set(), set()
    for wanted in collections:
        if wanted.endswith(".*"):
            prefixes.add(wanted[:-1])  # "app.bsky.feed.*" matches "app.bsky.feed.<anything>"
        elif _NSID_RE.match(wanted):
            exact.add(wanted)
        else:
            raise OptionsError(f"invalid subscriber options: invalid collection: {wanted}")
    for did in dids:
        if not _DID_RE.match(did):
            raise OptionsError("invalid subscriber options")
    if len(set(dids)) > MAX_WANTED_DIDS:
        raise OptionsError("invalid subscriber options: too many wanted DIDs")
    if len(exact) + len(prefixes) > MAX_WANTED_COLLECTIONS:
        raise OptionsError("invalid subscriber options: too many wanted collections")
    return Filter(
        collections=frozenset(exact) if collections else None,
        prefixes=tuple(sorted(prefixes, key=len)),
        dids=frozenset(dids),
        max_size=parse_max_size(max_size),
    )


def parse_options_update(data: str) -> Filter | None:
    """A subscriber-sourced text message: a new Filter for ``options_update``, None for other types.

    OptionsError if it is not JSON or its payload is invalid (Jetstream then closes the socket)."""
    try:
        message = json.loads(data)
    except ValueError as exc:
        raise OptionsError(f"failed to unmarshal subscriber sourced message: {exc}") from exc
    if not isinstance(message, dict) or message.get("type") != "options_update":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise OptionsError("failed to unmarshal subscriber options update")
    collections = payload.get("wantedCollections") or []
    dids = payload.get("wantedDids") or []
    if not isinstance(collections, list) or not isinstance(dids, list):
        raise OptionsError("failed to unmarshal subscriber options update")
    return parse_filter(
        [str(c) for c in collections], [str(d) for d in dids], payload.get("maxMessageSizeBytes", 0)
    )


@dataclass
class Subscriber:
    """One ``/subscribe`` socket: its filter, its bounded outbox and its writer loop.

    Events are offered synchronously on the emulator's loop (``offer``) and written by ``pump``,
    so emitting never waits on a slow reader. A live subscriber whose outbox passes
    OUTBOX_LIMIT is dropped without a close frame, as Jetstream v1 drops one whose buffer is full.
    """

    id: int
    request: web.Request
    ws: web.WebSocketResponse
    filter: Filter
    cursor: int | None
    # Connection state
    started: bool = False  # False while a requireHello subscriber waits for its options_update
    closed: bool = False
    frames_sent: int = 0
    frames_queued: int = 0
    last_time_us: int = 0
    close_reason: str = ""
    _outbox: deque = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def queue(self, event: Event, *, replay: bool = False) -> bool:
        """Queue an event this subscriber wants; a replayed one is never a reason to drop it."""
        if self.closed or not self.started or not self.filter.wants(event):
            return False
        if not replay and len(self._outbox) >= OUTBOX_LIMIT:
            self.abort(f"outbox full ({OUTBOX_LIMIT} frames)")
            return False
        self._outbox.append(event.text)
        self.last_time_us = event.time_us
        self.frames_queued += 1
        self._wakeup.set()
        return True

    def queue_text(self, text: str) -> bool:
        """Queue a frame as it is, past the filter: a fault (not JSON, an odd event), never kept."""
        if self.closed or not self.started:
            return False
        self._outbox.append(text)
        self.frames_queued += 1
        self._wakeup.set()
        return True

    def abort(self, reason: str) -> None:
        """Cut the TCP connection at once: no close frame, as a network failure would."""
        self.closed = True
        self.close_reason = reason
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self._wakeup.set()

    def close(self, reason: str) -> None:
        """A clean close (1000) with ``reason``, as v1 ``Subscriber.Terminate`` sends."""
        self.closed = True
        self.close_reason = reason
        self._outbox.append(None)
        self._wakeup.set()

    async def pump(self) -> None:
        """Write queued frames in order until closed."""
        while True:
            while self._outbox:
                text = self._outbox.popleft()
                if text is None:
                    await self.ws.close(code=1000, message=self.close_reason.encode()[:120])
                    return
                await self.ws.send_str(text)
                self.frames_sent += 1
            if self.closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()
