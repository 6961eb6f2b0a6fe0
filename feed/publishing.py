"""Announcing stored tweets to viewers through the channel layer.

One message per topic batch goes to the topic's group. Web processes receive it in their hub
(feed/hub.py), which turns it into one frame and writes the same bytes to every local socket. REVIEW
batches go to the topic's moderate group instead, which only moderation sockets join.
"""

import asyncio
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from feed.services import REVIEW, TopicBatch

HUB_MESSAGE_TYPE = "feed.batch"
# The worker's heartbeat: {"type": HEARTBEAT_MESSAGE_TYPE, "seqs": {slug: newest published seq}}.
HEARTBEAT_GROUP = "feed.heartbeat"
HEARTBEAT_MESSAGE_TYPE = "feed.heartbeat"


# REVIEW batches: {"type": REVIEW_MESSAGE_TYPE, "topic", "mod", "items"} to the topic's moderate group,
# read by each moderation socket (feed/moderation_socket.py), never by the hub.
REVIEW_MESSAGE_TYPE = "moderate.posts"
# The topic was switched off: its moderation sockets close (4404), as its pages do.
MODERATE_CLOSE_MESSAGE_TYPE = "moderate.closed"


def group_name(slug: str) -> str:
    # Slugs are ASCII [-a-zA-Z0-9_] and at most 80 characters, so this passes Channels' group
    # name check (ASCII, "-_.", under 100 characters).
    return f"topic.{slug}"


def moderate_group_name(slug: str) -> str:
    return f"moderate.{slug}"  # at most 89 characters, as group_name


def batch_group(batch: TopicBatch) -> str:
    """Where a batch goes: REVIEW to the topic's moderators, everything else to its viewers' hub."""
    return moderate_group_name(batch.topic_slug) if batch.kind == REVIEW else group_name(batch.topic_slug)


def batch_message(batch: TopicBatch) -> dict[str, Any]:
    if batch.kind == REVIEW:
        return {
            "type": REVIEW_MESSAGE_TYPE,
            "topic": batch.topic_slug,
            "mod": batch.mod,
            "items": list(batch.items),
        }
    return {
        "type": HUB_MESSAGE_TYPE,
        "topic": batch.topic_slug,
        "kind": batch.kind,
        "seqs": list(batch.seqs),
        "items": list(batch.items),
        "prev_seq": batch.prev_seq,
        "mod": batch.mod,
    }


async def publish_batches(batches: Iterable[TopicBatch]) -> None:
    """Send each batch to its group (`batch_group`); raises if the channel layer is unreachable.
    A topic switched off ("close") is told to its moderators too."""
    layer = get_channel_layer()
    for batch in batches:
        await layer.group_send(batch_group(batch), batch_message(batch))
        if batch.kind == "close":
            await layer.group_send(
                moderate_group_name(batch.topic_slug), {"type": MODERATE_CLOSE_MESSAGE_TYPE}
            )


# The admin waits this long for Redis before telling the moderator that pages were not told.
SYNC_PUBLISH_TIMEOUT_S = 3.0


def publish_batches_sync(batches: Iterable[TopicBatch]) -> None:
    async def publish(batches: list[TopicBatch]) -> None:
        async with asyncio.timeout(SYNC_PUBLISH_TIMEOUT_S):
            await publish_batches(batches)

    async_to_sync(publish)(list(batches))
