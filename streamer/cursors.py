"""A source's stream position kept in the database (StreamCursor), for sources that can replay.

The source saves its position every SAVE_EVERY_S while it moves, and reads it once at start; a
position older than RESUME_MAX_AGE_S is not resumed (a replay of hours would flood every wall with
old posts), so a worker that was off for long starts live.
"""

import asyncio
import logging
import time
from collections.abc import Callable

from channels.db import database_sync_to_async

from streamer.models import StreamCursor

logger = logging.getLogger(__name__)

SAVE_EVERY_S = 5.0
RESUME_MAX_AGE_S = 30 * 60


class DatabaseCursor:
    def __init__(self, source: str, *, save_every_s: float = SAVE_EVERY_S) -> None:
        self.source = source
        self.save_every_s = save_every_s
        self._saved: int | None = None

    async def load(self, *, now_us: int | None = None) -> int | None:
        """The saved position (µs since the epoch), if recent enough to resume from."""
        try:
            position = await database_sync_to_async(_load)(self.source)
        except Exception:
            logger.exception("%s: could not read its saved position; starting live", self.source)
            return None
        now_us = now_us if now_us is not None else time.time_ns() // 1000
        if position is None or now_us - position > RESUME_MAX_AGE_S * 1_000_000:
            return None
        self._saved = position
        return position

    async def keep_saving(self, position: Callable[[], int | None]) -> None:
        """Save `position()` every SAVE_EVERY_S when it moved, until cancelled; a failed save is
        retried at the next tick (the database may be away for a while)."""
        while True:
            await asyncio.sleep(self.save_every_s)
            current = position()
            if current is None or current == self._saved:
                continue
            try:
                await database_sync_to_async(_save)(self.source, current)
                self._saved = current
            except Exception as error:
                logger.warning("%s: could not save its position: %r", self.source, error)


def _load(source: str) -> int | None:
    return StreamCursor.objects.filter(source=source).values_list("position", flat=True).first()


def _save(source: str, position: int) -> None:
    StreamCursor.objects.update_or_create(source=source, defaults={"position": position})
