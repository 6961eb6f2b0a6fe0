"""The per-process fan-out hub.

One hub per event loop (per web process) holds every local viewer socket, grouped by topic. It owns a
single channel-layer channel, adds it to each viewed topic's group once, and reads it with one task
that is never cancelled: cancelling a pending pub/sub receive unsubscribes the channel and drops its
queue. Each published batch becomes one pre-encoded frame, written as the same string to every local
socket of the topic. Sockets have no channel-layer channel of their own, so a connect or disconnect
costs no Redis round trip.

The hub also keeps each topic's history frame (the newest tweets), so a storm of connects costs one
database query per topic rather than one per socket. Everything it holds for a topic lives in one
TopicState (feed/topic_state.py).

Moderation decisions are stored (feed.models.ModerationEvent) before anyone is told. The pub/sub
message about one is only a nudge to read the new decisions now; the hub also polls for them, and
checks for them before it serves a cached history, so a hide reaches every screen even when the
message is lost (Redis away) and never comes back from a cache.
"""

import asyncio
import logging
import weakref
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from feed.direct_write import text_frame
from feed.publishing import HEARTBEAT_GROUP, HEARTBEAT_MESSAGE_TYPE, HUB_MESSAGE_TYPE, group_name
from feed.selectors import (
    topic_history_items,
    topic_items_after,
    topic_moderation_items_after,
    topics_moderation_marks,
)
from feed.topic_lookup import TopicLookup
from feed.topic_state import TopicState
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
# Moderation decisions normally arrive as a nudge within milliseconds; this poll is the fallback
# when the nudge is lost (Redis away when the moderator acted). One query per process per period.
MODERATION_POLL_S = 2.0


class TopicHub:
    def __init__(self) -> None:
        self._layer = get_channel_layer()
        self._channel: str | None = None
        self._tasks: list[asyncio.Task] = []  # reader, pinger, moderation poller: never cancelled
        self._topics: dict[str, TopicState] = {}
        self._lookup = TopicLookup()

    # --- Topics ---------------------------------------------------------------------------
    async def topic_is_active(self, slug: str) -> bool:
        """Whether viewers may watch `slug`, read after this call began (one query per connect
        wave), which also brings the topic's moderation mark up to date for `attach`."""
        active, mark = await self._lookup.check(slug)
        if not active:
            return False
        topic = self._topic(slug)
        topic.wanted_mark = max(topic.wanted_mark, mark)
        return True

    def _topic(self, slug: str) -> TopicState:
        topic = self._topics.get(slug)
        if topic is None:
            topic = self._topics[slug] = TopicState(slug)
        return topic

    # --- Viewers ----------------------------------------------------------------------------
    async def attach(self, slug: str, socket: ViewerSocket) -> None:
        """Register `socket`, then send it the history and what arrived meanwhile, in order.

        Registering first means no tweet or decision falls between the snapshot and the live
        stream; frames already covered by the snapshot are dropped by the socket (ViewerSocket.start).
        """
        topic = self._topic(slug)
        topic.sockets.add(socket)
        try:
            await self._subscribe(topic)
            frame, seq, mark = await self._history_frame(topic)
        except BaseException:
            self.detach(slug, socket)  # the consumer's disconnect never runs after a failed connect
            raise
        socket.start(frame, seq, mark)

    def detach(self, slug: str, socket: ViewerSocket) -> None:
        topic = self._topics.get(slug)
        if topic is not None:
            topic.sockets.discard(socket)
        socket.stop()

    def viewer_count(self, slug: str) -> int:
        topic = self._topics.get(slug)
        return len(topic.sockets) if topic else 0

    def _push(
        self,
        topic: TopicState,
        seq: int,
        frame: str,
        inner: str | None,
        wire: bytes | None = None,
        mark: int = 0,
    ) -> None:
        """One frame to every socket of the topic; a socket that fails is closed, the rest go on."""
        for socket in tuple(topic.sockets):
            try:
                socket.push(seq, frame, inner, wire, mark)
            except Exception:
                logger.exception(
                    "hub: %s: writing to viewer %s failed; dropping it", topic.slug, socket.label
                )
                topic.sockets.discard(socket)
                socket.stop()

    # --- Channel layer ----------------------------------------------------------------------
    async def _subscribe(self, topic: TopicState) -> None:
        subscribed = topic.subscribed
        if subscribed is None:
            subscribed = topic.subscribed = asyncio.ensure_future(self._group_add(topic.slug))
        try:
            await asyncio.shield(subscribed)
        except Exception:
            if topic.subscribed is subscribed:
                topic.subscribed = None  # Redis was away: the next viewer tries again
            raise

    async def _group_add(self, slug: str) -> None:
        if self._channel is None:
            channel = await self._layer.new_channel(prefix="hub")
            await self._layer.group_add(HEARTBEAT_GROUP, channel)
            self._channel = channel
            self._tasks = [
                asyncio.create_task(self._read_forever(), name="feed-hub-reader"),
                asyncio.create_task(self._ping_forever(), name="feed-hub-pinger"),
                asyncio.create_task(self._poll_moderation_forever(), name="feed-hub-moderation"),
            ]
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
            for topic in tuple(self._topics.values()):
                self._push(topic, 0, PING_FRAME, None, PING_WIRE)

    def dispatch(self, message: dict[str, Any]) -> None:
        """Deliver one published batch to this process's viewers of its topic."""
        if message.get("type") == HEARTBEAT_MESSAGE_TYPE:
            self._check_heartbeat(message["seqs"])
            return
        if message.get("type") != HUB_MESSAGE_TYPE:
            logger.warning("hub: ignoring message of type %r", message.get("type"))
            return
        topic = self._topics.get(message["topic"])
        if topic is None:
            return  # not viewed here
        kind = message["kind"]
        if kind == "close":
            self._lookup.forget(topic.slug)
            for socket in tuple(topic.sockets):
                socket.close(CLOSE_UNKNOWN_TOPIC, "this topic was switched off")
            return
        if kind == "moderation":
            self._moderation_ahead(topic, message["mod"])
            return
        if kind == "wall":  # the wall's settings changed: every socket is told, as a ping is
            self._push(topic, 0, message["items"][0], None)
            return
        if topic.held is not None:  # a catch-up is filling a gap: it replays these in order
            topic.held.append(message)
            return
        seqs, seen, previous = message["seqs"], topic.seen_seq, message.get("prev_seq")
        if seen is not None and previous is not None:
            if previous > seen:
                self._gap(topic, held=[message])
                return
            if max(seqs) <= seen:
                return  # published twice (a retry after a timeout that had gone through)
        self._deliver(topic, seqs, message["items"])

    def _deliver(self, topic: TopicState, seqs: list[int], items: list[str]) -> None:
        topic.seen_seq = max(topic.seen_seq or 0, *seqs)
        seqs, items = topic.visible(seqs, items)
        if not seqs:
            return
        topic.remember(list(zip(seqs, items, strict=True)))
        inner = ",".join(items)
        frame = tweets_frame(inner)
        wire = text_frame(frame)  # the same bytes for every socket on the direct path
        self._push(topic, max(seqs), frame, inner, wire)

    # --- Recovery ---------------------------------------------------------------------------
    # The channel layer delivers at most once: while Redis is away, published batches are lost to
    # this process. Two signs of a gap: a batch whose `prev_seq` (the topic's previous published
    # seq) is above what this process has seen, and a heartbeat whose newest seq is. Either way
    # the topic is caught up from the database, once for all its viewers, while its live batches
    # are held back so everything goes out in seq order.

    def _check_heartbeat(self, seqs: dict[str, int]) -> None:
        for slug, newest in seqs.items():
            topic = self._topics.get(slug)
            if topic is None or topic.seen_seq is None or topic.held is not None:
                continue
            if newest > topic.seen_seq:
                self._gap(topic, held=[], target=newest)

    def _gap(self, topic: TopicState, *, held: list[dict[str, Any]], target: int = 0) -> None:
        if not topic.sockets:
            # Nobody to send the missed tweets to: forget what is cached, so the next viewer's
            # history comes from the database, gap included.
            topic.invalidate()
            topic.seen_seq = None
            for message in held:
                self.dispatch(message)
            return
        topic.held = held
        topic.catching_up = asyncio.create_task(
            self._catch_up(topic, target), name=f"hub-catch-up-{topic.slug}"
        )

    async def _catch_up(self, topic: TopicState, target: int) -> None:
        try:
            while pairs := await database_sync_to_async(topic_items_after)(
                slug=topic.slug, seq=topic.seen_seq
            ):
                logger.warning(
                    "hub: %s: %d tweets missed on the channel layer, sent from the database",
                    topic.slug,
                    len(pairs),
                )
                self._deliver(topic, [seq for seq, _ in pairs], [item for _, item in pairs])
            # Hidden tweets count in the worker's heartbeat but are never sent: don't chase them.
            topic.seen_seq = max(topic.seen_seq, target)
            held, topic.held, topic.catching_up = topic.held or [], None, None
            for message in held:  # no await since the last read: all in order
                self._replay(topic, message)
        except Exception:
            logger.exception(
                "hub: catch-up of %s failed; its pages reconnect and catch up themselves", topic.slug
            )
            topic.held = topic.catching_up = None
            topic.invalidate()
            topic.seen_seq = None
            for socket in tuple(topic.sockets):
                socket.close(CLOSE_TOO_SLOW, "the server lost its place in the stream; catching up")

    def _replay(self, topic: TopicState, message: dict[str, Any]) -> None:
        if message["kind"] != "tweets" or message.get("prev_seq") is None:
            self.dispatch(message)
            return
        fresh = [(s, i) for s, i in zip(message["seqs"], message["items"], strict=True) if s > topic.seen_seq]
        if fresh:
            self._deliver(topic, [s for s, _ in fresh], [i for _, i in fresh])

    # --- Moderation -------------------------------------------------------------------------
    # A topic's decisions are applied in mark order, by one task at a time, from the database.

    def _moderation_ahead(self, topic: TopicState, mark: int) -> None:
        topic.wanted_mark = max(topic.wanted_mark, mark)
        if topic.mark is None:
            return  # nothing loaded or sent yet: the first history load reads the decisions
        if topic.wanted_mark > topic.mark and topic.moderating is None:
            topic.moderating = asyncio.create_task(self._moderate(topic), name=f"hub-moderate-{topic.slug}")

    async def _moderate(self, topic: TopicState) -> None:
        try:
            while topic.mark is not None and topic.wanted_mark > topic.mark:
                rows = await database_sync_to_async(topic_moderation_items_after)(
                    slug=topic.slug, after=topic.mark
                )
                if not rows:
                    topic.mark = topic.wanted_mark  # the topic is gone, or the mark was another's
                    break
                self._apply_decisions(topic, rows)
        except Exception:
            logger.exception(
                "hub: %s: reading moderation decisions failed; the next poll retries", topic.slug
            )
        finally:
            topic.moderating = None

    def _apply_decisions(self, topic: TopicState, rows: list[tuple[int, str, int, str, str | None]]) -> None:
        """Send each tweet's latest decision to every socket; the topic drops its cached history."""
        mark, frames = topic.apply_decisions(rows)
        for frame in frames:
            self._push(topic, 0, frame, None, None, mark)

    async def _poll_moderation_forever(self) -> None:
        """The fallback for a lost nudge: every viewed topic's newest decision, one query for all."""
        while True:
            await asyncio.sleep(MODERATION_POLL_S)
            try:
                viewed = [slug for slug, topic in self._topics.items() if topic.mark is not None]
                if not viewed:
                    continue
                marks = await database_sync_to_async(topics_moderation_marks)(slugs=viewed)
                for slug, mark in marks.items():
                    if (topic := self._topics.get(slug)) is not None:
                        self._moderation_ahead(topic, mark)
            except Exception:
                logger.exception("hub: polling for moderation decisions failed; trying again")

    # --- History ----------------------------------------------------------------------------
    async def _history_frame(self, topic: TopicState) -> tuple[str, int, int]:
        """The topic's history frame, reflecting every decision stored before this connect began."""
        needed = topic.wanted_mark  # as read by topic_is_active, after this connect began
        while True:
            await self._load_history(topic)
            if topic.mark is not None and needed > topic.mark:
                self._moderation_ahead(topic, needed)
                if topic.moderating is not None:
                    await asyncio.shield(topic.moderating)
                if needed > topic.mark:
                    raise RuntimeError(f"{topic.slug}: moderation decisions could not be read")
            if topic.stored is not None:
                return topic.history_frame()

    async def _load_history(self, topic: TopicState) -> None:
        while topic.stored is None:
            generation = topic.generation
            load = topic.history_load
            if load is None:
                load = topic.history_load = asyncio.ensure_future(
                    database_sync_to_async(topic_history_items)(slug=topic.slug)
                )
            try:
                mark, items, pinned = await asyncio.shield(load)
            finally:
                if topic.history_load is load:
                    topic.history_load = None
            if topic.generation != generation:
                continue  # a decision raced the load: load again
            topic.stored, topic.stored_mark, topic.stored_pinned = items, mark, pinned
            topic.history = None
            # Only a first load sets these: raising seen_seq later could hide a gap from the
            # viewers already attached, and `mark` is what those viewers were sent.
            if topic.seen_seq is None:
                topic.seen_seq = items[0][0] if items else 0
            if topic.mark is None:
                topic.mark = mark


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TopicHub]" = weakref.WeakKeyDictionary()


def get_hub() -> TopicHub:
    """The hub of the running event loop (one per process in production; one per test loop)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = TopicHub()
    return hub
