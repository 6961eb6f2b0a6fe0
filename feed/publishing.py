"""Announcing stored tweets to viewers through the channel layer.

One message per topic batch goes to the topic's group. Web processes receive it in their hub
(feed/hub.py), which turns it into one frame and writes the same bytes to every local socket.
"""

import asyncio
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from feed.services import TopicBatch

HUB_MESSAGE_TYPE = "feed.batch"
# The worker's heartbeat: {"type": HEARTBEAT_MESSAGE_TYPE, "seqs": {slug: newest published seq}}.
HEARTBEAT_GROUP = "feed.heartbeat"
HEARTBEAT_MESSAGE_TYPE = "feed.heartbeat"


def group_name(slug: str) -> str:
    # Slugs are ASCII [-a-zA-Z0-9_] and at most 80 characters, so this passes Channels' group
    # name check (ASCII, "-_.", under 100 characters).
    return f"topic.{slug}"


def batch_message(batch: TopicBatch) -> dict[str, Any]:
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
    """Send each batch to its topic's group; raises if the channel layer is unreachable."""
    layer = get_channel_layer()
    for batch in batches:
        await layer.group_send(group_name(batch.topic_slug), batch_message(batch))


# The admin waits this long for Redis before telling the moderator that pages were not told.
SYNC_PUBLISH_TIMEOUT_S = 3.0


def publish_batches_sync(batches: Iterable[TopicBatch]) -> None:
    async def publish(batches: list[TopicBatch]) -> None:
        async with asyncio.timeout(SYNC_PUBLISH_TIMEOUT_S):
            await publish_batches(batches)

    async_to_sync(publish)(list(batches))
