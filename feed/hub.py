"""The per-process fan-out hub.

One hub per event loop (per web process) holds every local viewer socket, grouped by topic. It owns a
single channel-layer channel, adds it to each viewed topic's group once, and reads it with one task
that is never cancelled: cancelling a pending pub/sub receive unsubscribes the channel and drops its
queue. Each published batch becomes one pre-encoded frame, written as the same string to every local
socket of the topic. Sockets have no channel-layer channel of their own, so a connect or disconnect
costs no Redis round trip.

The hub also keeps each topic's history frame (the newest tweets), so a storm of connects costs one
database query per topic rather than one per socket.
"""

import asyncio
import json
import logging
import time
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from feed.direct_write import text_frame
from feed.publishing import HEARTBEAT_GROUP, HEARTBEAT_MESSAGE_TYPE, HUB_MESSAGE_TYPE, group_name
from feed.selectors import HISTORY_LIMIT, topic_get_active, topic_history_items, topic_items_after
from feed.viewer import CLOSE_TOO_SLOW, ViewerSocket, tweets_frame

logger = logging.getLogger(__name__)

# After a channel-layer failure (Redis away) the reader retries with this backoff, capped so a web
# process is back within a few seconds of Redis.
READ_RETRY_INITIAL_S = 0.1
READ_RETRY_MAX_S = 5.0
# Pages reconnect after 60 s without any frame; a ping every 25 s keeps quiet topics above that.
PING_EVERY_S = 25.0
PING_FRAME = '{"type":"ping"}'
PING_WIRE = text_frame(PING_FRAME)
CLOSE_UNKNOWN_TOPIC = 4404
MAX_SLUG_LENGTH = 80  # Topic.slug's max_length
# A topic switched off in the admin stops taking new viewers within this many seconds.
TOPIC_CACHE_S = 2.0


class TopicHub:
    def __init__(self) -> None:
        self._layer = get_channel_layer()
        self._channel: str | None = None
        self._reader: asyncio.Task | None = None
        self._pinger: asyncio.Task | None = None
        self._subscribed: dict[str, asyncio.Future] = {}
        # Viewers, by topic slug.
        self._sockets: dict[str, set[ViewerSocket]] = {}
        self._topic_active: dict[str, tuple[bool, float]] = {}
        # History: the newest tweets seen live (always kept) and the cached history frame.
        self._recent: dict[str, list[tuple[int, str]]] = {}
        self._stored: dict[str, list[tuple[int, str]]] = {}
        self._generation: dict[str, int] = {}
        self._history: dict[str, tuple[str, int]] = {}
        self._history_loads: dict[str, asyncio.Future] = {}
        # Recovery: the newest seq delivered per topic, and catch-ups under way.
        self._seen_seq: dict[str, int] = {}
        self._catching_up: dict[str, asyncio.Task] = {}
        self._held: dict[str, list[dict[str, Any]]] = {}

    # --- Topics ---------------------------------------------------------------------------
    async def topic_is_active(self, slug: str) -> bool:
        """Whether viewers may watch `slug`; cached briefly, so a connect storm costs one query."""
        now = time.monotonic()
        cached = self._topic_active.get(slug)
        if cached is not None and cached[1] > now:
            return cached[0]
        if len(slug) > MAX_SLUG_LENGTH:
            return False
        active = await database_sync_to_async(topic_get_active)(slug=slug) is not None
        if active:  # only real topics are cached: made-up slugs must not grow this dict
            self._topic_active[slug] = (active, now + TOPIC_CACHE_S)
        return active

    # --- Viewers ----------------------------------------------------------------------------
    async def attach(self, slug: str, socket: ViewerSocket) -> None:
        """Register `socket`, then send it the history and what arrived meanwhile, in order.

        Registering first means no tweet falls between the snapshot and the live stream; frames
        already covered by the snapshot are dropped by the socket (see ViewerSocket.start).
        """
        self._sockets.setdefault(slug, set()).add(socket)
        try:
            await self._subscribe(slug)
            frame, seq = await self._history_frame(slug)
        except BaseException:
            self.detach(slug, socket)  # the consumer's disconnect never runs after a failed connect
            raise
        socket.start(frame, seq)

    def detach(self, slug: str, socket: ViewerSocket) -> None:
        sockets = self._sockets.get(slug)
        if sockets is not None:
            sockets.discard(socket)
        socket.stop()

    def viewer_count(self, slug: str) -> int:
        return len(self._sockets.get(slug, ()))

    # --- Channel layer ----------------------------------------------------------------------
    async def _subscribe(self, slug: str) -> None:
        subscribed = self._subscribed.get(slug)
        if subscribed is None:
            subscribed = self._subscribed[slug] = asyncio.ensure_future(self._group_add(slug))
        try:
            await asyncio.shield(subscribed)
        except Exception:
            if self._subscribed.get(slug) is subscribed:
                del self._subscribed[slug]  # Redis was away: the next viewer tries again
            raise

    async def _group_add(self, slug: str) -> None:
        if self._channel is None:
            channel = await self._layer.new_channel(prefix="hub")
            await self._layer.group_add(HEARTBEAT_GROUP, channel)
            self._channel = channel
            self._reader = asyncio.create_task(self._read_forever(), name="feed-hub-reader")
            self._pinger = asyncio.create_task(self._ping_forever(), name="feed-hub-pinger")
        await self._layer.group_add(group_name(slug), self._channel)

    async def _read_forever(self) -> None:
        delay = READ_RETRY_INITIAL_S
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: channel layer receive failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, READ_RETRY_MAX_S)
                continue
            delay = READ_RETRY_INITIAL_S
            try:
                self.dispatch(message)
            except Exception:
                logger.exception("hub: could not deliver message %.200r", message)

    async def _ping_forever(self) -> None:
        """Tell every socket the server is alive, so pages notice a silently dead connection."""
        while True:
            await asyncio.sleep(PING_EVERY_S)
            for sockets in self._sockets.values():
                for socket in tuple(sockets):
                    socket.push(0, PING_FRAME, None, PING_WIRE)

    def dispatch(self, message: dict[str, Any]) -> None:
        """Deliver one published batch to this process's viewers of its topic."""
        if message.get("type") == HEARTBEAT_MESSAGE_TYPE:
            self._check_heartbeat(message["seqs"])
            return
        if message.get("type") != HUB_MESSAGE_TYPE:
            logger.warning("hub: ignoring message of type %r", message.get("type"))
            return
        slug = message["topic"]
        seqs = message["seqs"]
        if message["kind"] == "close":
            self._topic_active[slug] = (False, time.monotonic() + TOPIC_CACHE_S)
            for socket in tuple(self._sockets.get(slug, ())):
                socket.close(CLOSE_UNKNOWN_TOPIC, "this topic was switched off")
            return
        if slug in self._held:  # a catch-up is filling a gap: it replays these in order
            self._held[slug].append(message)
            return
        if message["kind"] == "hide":
            self._hide(slug, seqs, message["ids"])
            return
        seen, previous = self._seen_seq.get(slug), message.get("prev_seq")
        if seen is not None and previous is not None and previous > seen:
            self._gap(slug, held=[message])
            return
        self._deliver(slug, seqs, message["items"])

    def _hide(self, slug: str, seqs: list[int], ids: list[str]) -> None:
        self._forget(slug, set(seqs))
        frame = '{"type":"hide","ids":' + _json_list(ids) + "}"
        for socket in tuple(self._sockets.get(slug, ())):
            socket.push(max(seqs), frame, None)

    def _deliver(self, slug: str, seqs: list[int], items: list[str]) -> None:
        self._seen_seq[slug] = max(self._seen_seq.get(slug, 0), *seqs)
        self._remember(slug, list(zip(seqs, items, strict=True)))
        inner = ",".join(items)
        frame = tweets_frame(inner)
        wire = text_frame(frame)  # the same bytes for every socket on the direct path
        top = max(seqs)
        for socket in tuple(self._sockets.get(slug, ())):
            socket.push(top, frame, inner, wire)

    # --- Recovery ---------------------------------------------------------------------------
    # The channel layer delivers at most once: while Redis is away, published batches are lost to
    # this process. Two signs of a gap: a batch whose `prev_seq` (the topic's previous published
    # seq) is above what this process has seen, and a heartbeat whose newest seq is. Either way
    # the topic is caught up from the database, once for all its viewers, while its live batches
    # are held back so everything goes out in seq order.

    def _check_heartbeat(self, seqs: dict[str, int]) -> None:
        for slug, newest in seqs.items():
            seen = self._seen_seq.get(slug)
            if seen is not None and newest > seen and slug not in self._held:
                self._gap(slug, held=[], target=newest)

    def _gap(self, slug: str, *, held: list[dict[str, Any]], target: int = 0) -> None:
        if not self._sockets.get(slug):
            # Nobody to send the missed tweets to: forget what is cached, so the next viewer's
            # history comes from the database, gap included.
            self._invalidate(slug)
            for message in held:
                self.dispatch(message)
            return
        self._held[slug] = held
        task = asyncio.create_task(self._catch_up(slug, target), name=f"hub-catch-up-{slug}")
        self._catching_up[slug] = task

    async def _catch_up(self, slug: str, target: int) -> None:
        try:
            while pairs := await database_sync_to_async(topic_items_after)(
                slug=slug, seq=self._seen_seq[slug]
            ):
                logger.warning(
                    "hub: %s: %d tweets missed on the channel layer, sent from the database", slug, len(pairs)
                )
                self._deliver(slug, [seq for seq, _ in pairs], [item for _, item in pairs])
        except Exception:
            logger.exception("hub: catch-up of %s failed; its pages reconnect and catch up themselves", slug)
            self._catching_up.pop(slug, None)
            self._held.pop(slug, None)
            self._invalidate(slug)
            for socket in tuple(self._sockets.get(slug, ())):
                socket.close(CLOSE_TOO_SLOW, "the server lost its place in the stream; catching up")
            return
        self._catching_up.pop(slug, None)
        # Hidden tweets count in the worker's heartbeat but are never sent: don't chase them.
        self._seen_seq[slug] = max(self._seen_seq[slug], target)
        for message in self._held.pop(slug, []):  # no await since the last read: all in order
            self._replay(slug, message)

    def _replay(self, slug: str, message: dict[str, Any]) -> None:
        if message["kind"] != "tweets" or message.get("prev_seq") is None:
            self.dispatch(message)  # hides, closes and moderators' unhides go out as they are
            return
        fresh = [
            (s, i) for s, i in zip(message["seqs"], message["items"], strict=True) if s > self._seen_seq[slug]
        ]
        if fresh:
            self._deliver(slug, [s for s, _ in fresh], [i for _, i in fresh])

    def _invalidate(self, slug: str) -> None:
        self._stored.pop(slug, None)
        self._history.pop(slug, None)
        self._seen_seq.pop(slug, None)
        self._generation[slug] = self._generation.get(slug, 0) + 1

    # --- History ----------------------------------------------------------------------------
    # The history frame is built from the tweets last loaded from the database (`_stored`) merged
    # with the newest tweets seen live (`_recent`). Live tweets only rebuild the frame; a hide
    # drops `_stored` and bumps the topic's generation, so the next connect reloads once.

    def _remember(self, slug: str, pairs: list[tuple[int, str]]) -> None:
        recent = self._recent.setdefault(slug, [])
        recent.extend(pairs)
        recent.sort(key=lambda pair: -pair[0])
        del recent[HISTORY_LIMIT:]
        self._history.pop(slug, None)

    def _forget(self, slug: str, seqs: set[int]) -> None:
        self._recent[slug] = [p for p in self._recent.get(slug, []) if p[0] not in seqs]
        self._stored.pop(slug, None)
        self._history.pop(slug, None)
        self._generation[slug] = self._generation.get(slug, 0) + 1

    async def _history_frame(self, slug: str) -> tuple[str, int]:
        while (stored := self._stored.get(slug)) is None:
            generation = self._generation.get(slug, 0)
            load = self._history_loads.get(slug)
            if load is None:
                load = self._history_loads[slug] = asyncio.ensure_future(self._load(slug))
            try:
                items = await asyncio.shield(load)
            finally:
                if self._history_loads.get(slug) is load:
                    del self._history_loads[slug]
            if self._generation.get(slug, 0) == generation:
                self._stored[slug] = items  # else a hide raced the load: load again
                # Only a first load sets it: raising it later could hide a gap from the viewers
                # already attached.
                self._seen_seq.setdefault(slug, items[0][0] if items else 0)
        cached = self._history.get(slug)
        if cached is None:
            merged = dict(stored)
            merged.update(self._recent.get(slug, []))
            newest = sorted(merged.items(), key=lambda pair: -pair[0])[:HISTORY_LIMIT]
            frame = '{"type":"history","tweets":[' + ",".join(item for _, item in newest) + "]}"
            cached = self._history[slug] = (frame, newest[0][0] if newest else 0)
        return cached

    async def _load(self, slug: str) -> list[tuple[int, str]]:
        return await database_sync_to_async(topic_history_items)(slug=slug)


def _json_list(values: list[str]) -> str:
    return json.dumps(values)


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TopicHub]" = weakref.WeakKeyDictionary()


def get_hub() -> TopicHub:
    """The hub of the running event loop (one per process in production; one per test loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = TopicHub()
    return hub
