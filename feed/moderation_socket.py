"""The moderators' WebSocket, /ws/topics/<slug>/moderate/: every post of the topic as moderators see it.

Not the viewers' path: moderators are few, so each socket joins the topic's moderate group on the
channel layer itself (no hub), and reads its snapshot from the database. Frames, server to client:

- `{"type":"snapshot","mod":<mark>,"posts":[moderation_wire…],"counts":[{"state","reason","hour","day"}]}`
  on connect: pending posts oldest first, then the newest shown, hidden and blocked
  (feed.selectors.topic_moderation_snapshot), as of decision mark `mod`. It replaces what the page
  holds; it is sent again if a decision's announcement was lost (see `_refresh`).
- `{"type":"posts","mod":<mark or 0>,"posts":[moderation_wire…]}`: posts as they are now; new ones
  from ingest (`mod` 0), or those a decision changed (`mod`: the decision's mark on the topic). A post
  the page holds with a newer mark keeps it: the frame is older than what the page shows.
- `{"type":"counts","counts":[…]}`: the counts by reason (feed.selectors.topic_reason_counts) when
  they change, checked every REFRESH_EVERY_S.

Decisions go through the staff API (POST /api/topics/<slug>/decisions/), never this socket: a client
that sends a frame is closed with 4400. Refused: an anonymous or unpermitted session (4403, after
accepting, so the page can tell it from a network error), an unknown or inactive topic (4404); a
foreign Origin never gets this far (AllowedHostsOriginValidator in tweetsite/asgi.py). A topic switched
off closes its moderation sockets with 4404 too: at once when the close is published, else at the
next refresh, which reads whether the topic is still active.
"""

import asyncio
import dataclasses
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from feed.api import MODERATE_PERMISSION
from feed.consumers import CLOSE_UNEXPECTED_FRAME
from feed.hub import CLOSE_UNKNOWN_TOPIC
from feed.models import Topic
from feed.publishing import moderate_group_name
from feed.rendering import encode
from feed.selectors import (
    topic_get_active,
    topic_moderation_mark,
    topic_moderation_snapshot,
    topic_reason_counts,
)

logger = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
# Counts by reason are for the last hour and day: ten seconds old is fresh enough, and costs one
# grouped query per moderator every ten seconds. The same tick finds a decision whose announcement
# was lost (Redis away when it was made): the page gets a new snapshot within two ticks.
REFRESH_EVERY_S = 10.0


class ModerationConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.slug: str = self.scope["url_route"]["kwargs"]["slug"]
        # Connection state
        self.joined = False
        self.refresher: asyncio.Future | None = None
        self.mark = 0  # the newest decision mark sent on this socket (snapshot or posts frame)
        self.counts: list[dict] | None = None
        # A snapshot and a live frame never interleave: a frame sent before a snapshot read earlier
        # than its decision would be undone by that snapshot.
        self.sending = asyncio.Lock()
        await self.accept()
        if not await _may_moderate(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.topic: Topic | None = await database_sync_to_async(topic_get_active)(slug=self.slug)
        if self.topic is None:
            await self.close(code=CLOSE_UNKNOWN_TOPIC)
            return
        # Join first, then read: a post stored in between arrives twice at worst, never not at all.
        await self.channel_layer.group_add(moderate_group_name(self.slug), self.channel_name)
        self.joined = True
        await self._send_snapshot()
        self.refresher = asyncio.ensure_future(self._refresh())

    async def disconnect(self, code: int) -> None:
        if self.refresher is not None:
            self.refresher.cancel()
        if self.joined:
            await self.channel_layer.group_discard(moderate_group_name(self.slug), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        logger.info("moderation socket %s sent a frame; closing", self.slug)
        await self.close(code=CLOSE_UNEXPECTED_FRAME)

    async def moderate_posts(self, message: dict[str, Any]) -> None:
        """A REVIEW batch (feed.publishing): its items are pre-encoded moderation_wire posts."""
        mod = message.get("mod") or 0
        async with self.sending:
            self.mark = max(self.mark, mod)
            await self.send(
                text_data=f'{{"type":"posts","mod":{mod},"posts":[{",".join(message["items"])}]}}'
            )

    async def moderate_closed(self, message: dict[str, Any]) -> None:
        """The topic was switched off (feed.publishing): nothing is left to moderate here."""
        await self.close(code=CLOSE_UNKNOWN_TOPIC)

    async def _send_snapshot(self) -> None:
        async with self.sending:
            mark, posts = await database_sync_to_async(topic_moderation_snapshot)(topic=self.topic)
            self.counts = await _counts(self.topic)
            self.mark = max(self.mark, mark)
            await self.send(
                text_data=encode({"type": "snapshot", "mod": mark, "posts": posts, "counts": self.counts})
            )

    async def _refresh(self) -> None:
        """Every REFRESH_EVERY_S: new counts, and a new snapshot if a decision stayed unannounced.

        A decision is announced right after its commit, so a mark ahead of this socket's on one tick
        may only be in flight; still ahead on the next, its announcement was lost.
        """
        behind: int | None = None
        while True:
            await asyncio.sleep(REFRESH_EVERY_S)
            try:
                if await database_sync_to_async(topic_get_active)(slug=self.slug) is None:
                    # Switched off (or deleted), and its close message lost: the database says so.
                    await self.close(code=CLOSE_UNKNOWN_TOPIC)
                    return
                if behind is not None and self.mark < behind:
                    logger.info(
                        "moderation socket %s missed decisions up to %d; new snapshot", self.slug, behind
                    )
                    await self._send_snapshot()
                counts = await _counts(self.topic)
                if counts != self.counts:
                    self.counts = counts
                    await self.send(text_data=encode({"type": "counts", "counts": counts}))
                mark = await database_sync_to_async(topic_moderation_mark)(topic=self.topic)
                behind = mark if mark > self.mark else None
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception(
                    "moderation socket %s: refresh failed; next in %.0f s", self.slug, REFRESH_EVERY_S
                )


@database_sync_to_async
def _may_moderate(user: Any) -> bool:
    return user is not None and user.is_authenticated and user.has_perm(MODERATE_PERMISSION)


async def _counts(topic: Topic) -> list[dict]:
    counts = await database_sync_to_async(topic_reason_counts)(topic=topic, now=timezone.now())
    return [dataclasses.asdict(count) for count in counts]
