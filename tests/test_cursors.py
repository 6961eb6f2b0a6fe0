"""A replayable source's saved position: resumed after a restart, unless too old to replay."""

import pytest

from streamer.cursors import RESUME_MAX_AGE_S, DatabaseCursor
from streamer.models import StreamCursor

pytestmark = pytest.mark.django_db(transaction=True)

NOW_US = 1_800_000_000_000_000


async def test_a_recent_position_is_resumed_and_an_old_one_is_not():
    await StreamCursor.objects.acreate(source="bluesky", position=NOW_US - 60_000_000)  # a minute ago
    assert await DatabaseCursor("bluesky").load(now_us=NOW_US) == NOW_US - 60_000_000
    later = NOW_US + RESUME_MAX_AGE_S * 1_000_000
    assert await DatabaseCursor("bluesky").load(now_us=later) is None  # hours of posts: start live


async def test_nothing_saved_starts_live():
    assert await DatabaseCursor("bluesky").load(now_us=NOW_US) is None
