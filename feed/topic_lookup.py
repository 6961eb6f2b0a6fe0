"""Which slugs are live topics, read fresh for each wave of connects, and their moderation marks.

A connect must not be answered from a stale cache (a topic switched off, a hide just stored), yet a
storm of connects must not cost a query each: concurrent callers share one read that began after
they asked (FreshRead). A slug that is no active topic is remembered for a while instead (bounded),
so a page left open on a removed topic, or a script trying slugs, costs one query per slug per period.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async

from feed.selectors import topic_get_with_mark

MAX_SLUG_LENGTH = 80  # Topic.slug's max_length
UNKNOWN_TOPIC_CACHE_S = 5.0
MAX_UNKNOWN_TOPICS = 10_000


class TopicLookup:
    def __init__(self) -> None:
        self._reads: dict[str, FreshRead] = {}
        self._unknown: OrderedDict[str, float] = OrderedDict()  # slug -> until (monotonic)

    async def check(self, slug: str) -> tuple[bool, int]:
        """(active, newest moderation mark), read after this call began; (False, 0) for no topic."""
        until = self._unknown.get(slug)
        if (until is not None and until > time.monotonic()) or len(slug) > MAX_SLUG_LENGTH:
            return False, 0
        read = self._reads.get(slug)
        if read is None:
            read = self._reads[slug] = FreshRead(lambda: _read_topic(slug))
        try:
            active, mark = await read()
        finally:
            if read.idle and self._reads.get(slug) is read:
                del self._reads[slug]
        if not active:
            self.forget(slug)
        return active, mark

    def forget(self, slug: str) -> None:
        """Answer "no such topic" for `slug` from memory for a while (it was switched off)."""
        self._unknown[slug] = time.monotonic() + UNKNOWN_TOPIC_CACHE_S
        self._unknown.move_to_end(slug)
        while len(self._unknown) > MAX_UNKNOWN_TOPICS:
            self._unknown.popitem(last=False)


async def _read_topic(slug: str) -> tuple[bool, int]:
    return await database_sync_to_async(topic_get_with_mark)(slug=slug)


class FreshRead:
    """A read shared by concurrent callers, each of whom gets a result read after it asked.

    A connect storm costs one query per wave instead of one per socket, and no caller gets an answer
    older than its own arrival: a caller that arrives while a read runs waits for the next one.
    """

    def __init__(self, read: Callable[[], Awaitable[Any]]) -> None:
        self._read = read
        self._running: asyncio.Future | None = None
        self._next: asyncio.Future | None = None

    @property
    def idle(self) -> bool:
        return self._running is None

    async def __call__(self) -> Any:
        if self._running is None:
            self._running = self._start()
            return await asyncio.shield(self._running)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._next)

    def _start(self) -> asyncio.Future:
        running = asyncio.ensure_future(self._read())
        running.add_done_callback(self._done)
        return running

    def _done(self, finished: asyncio.Future) -> None:
        if not finished.cancelled():
            finished.exception()  # retrieved here: callers that went away must not log it
        self._running = None
        waiting, self._next = self._next, None
        if waiting is None:
            return
        self._running = self._start()
        self._running.add_done_callback(lambda result: _copy_outcome(result, waiting))


def _copy_outcome(source: asyncio.Future, target: asyncio.Future) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())
