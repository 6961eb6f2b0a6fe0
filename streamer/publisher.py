"""Publishing committed batches, through Redis outages.

The database already holds every tweet when it is published, so a failed publish loses nothing that
matters: the batch waits in a bounded buffer and goes out when Redis is back. Every second the worker
also publishes a heartbeat with the newest seq per topic; a web process that finds itself behind
(it missed messages while Redis was away) catches up from the database.
"""

import asyncio
import logging
import time
from collections import deque
from dataclasses import replace
from datetime import datetime

from channels.layers import get_channel_layer
from django.utils import timezone

from feed.publishing import HEARTBEAT_GROUP, HEARTBEAT_MESSAGE_TYPE, publish_batches
from feed.services import TopicBatch

logger = logging.getLogger(__name__)

# Batches kept while Redis is away: at a busy event's ~50 tweets/s, over three minutes. Past it the
# oldest are dropped (and counted): pages still get them, from the database, by seq.
MAX_BUFFERED_BATCHES = 10_000
# A publish that takes longer than this counts as failed (redis-py can wait long on a dead socket).
PUBLISH_TIMEOUT_S = 2.0
RETRY_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 1.0


class Publisher:
    def __init__(self) -> None:
        self._buffer: deque[TopicBatch] = deque()
        # The newest published seq per topic, sent with each batch as `prev_seq`. It starts from the
        # newest stored seq (see `start_from`), so tweets a killed worker stored but never published
        # show up as a gap to the web processes, which fetch them.
        self._last_seq: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self.published = 0
        self.dropped = 0
        self.outage_since: float | None = None
        self.outage_started_at: datetime | None = None  # the same moment, for operators
        self.last_error = ""

    def start_from(self, seqs: dict[str, int]) -> None:
        self._last_seq = dict(seqs)

    @property
    def buffered(self) -> int:
        return len(self._buffer) + self._lock.locked()  # the lock is held while a batch is in flight

    async def publish(self, batches: list[TopicBatch]) -> None:
        """Queue `batches` behind anything still buffered, then try to send all; never raises."""
        for batch in batches:
            if len(self._buffer) >= MAX_BUFFERED_BATCHES:
                lost = self._buffer.popleft()
                self.dropped += 1
                if lost.kind == "tweets":
                    # Count it as published: the next batch's prev_seq then shows web processes
                    # the gap, and they fetch the dropped tweets from the database.
                    self._last_seq[lost.topic_slug] = max(self._last_seq.get(lost.topic_slug, 0), *lost.seqs)
            self._buffer.append(batch)
        await self.flush()

    async def flush(self) -> bool:
        """Send what is buffered, in order; False if the channel layer is still unreachable.

        The batch being sent is taken out of the buffer while its send is awaited, so `publish`,
        shedding the oldest batch meanwhile, can never shed the one in flight, and a sent batch
        never takes an unsent one with it. A failed send goes back to the front.
        """
        async with self._lock:
            while self._buffer:
                batch = self._buffer.popleft()
                sent = False
                try:
                    await self._send(batch)
                    sent = True
                except Exception as error:
                    self._note_outage(error)
                    return False
                finally:
                    if not sent:  # failed or cancelled: still the oldest, still to be sent
                        self._buffer.appendleft(batch)
                self.published += 1
            if self.outage_since is not None:
                logger.warning(
                    "publisher: channel layer back after %.1f s; %d batches dropped in all",
                    time.monotonic() - self.outage_since,
                    self.dropped,
                )
                self.outage_since = self.outage_started_at = None
            return True

    async def _send(self, batch: TopicBatch) -> None:
        if batch.kind == "tweets":
            batch = replace(batch, prev_seq=self._last_seq.get(batch.topic_slug))
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await publish_batches([batch])
        if batch.kind == "tweets":
            self._last_seq[batch.topic_slug] = max(self._last_seq.get(batch.topic_slug, 0), *batch.seqs)

    async def run(self) -> None:
        """Retry buffered batches and send heartbeats until cancelled."""
        while True:
            await asyncio.sleep(min(RETRY_EVERY_S, HEARTBEAT_EVERY_S))
            if await self.flush() and self._last_seq:
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                        await self._heartbeat()
                except Exception as error:
                    self._note_outage(error)

    async def _heartbeat(self) -> None:
        message = {"type": HEARTBEAT_MESSAGE_TYPE, "seqs": dict(self._last_seq)}
        await get_channel_layer().group_send(HEARTBEAT_GROUP, message)

    def _note_outage(self, error: Exception) -> None:
        self.last_error = f"channel layer: {error!r}"[:300]
        if self.outage_since is None:
            self.outage_since, self.outage_started_at = time.monotonic(), timezone.now()
            logger.error("publisher: channel layer unreachable (%r); buffering", error)
