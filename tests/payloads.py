"""Stream messages in the X API v2 payload shape, for tests that do not need the emulator."""

import itertools
from typing import Any

from feed.normalize import normalize
from feed.services import REVIEW, TopicBatch, tweets_ingest

_ids = itertools.count(1862000000000000001)


def x_message(
    text: str, *, tags: list[str], tweet_id: str | None = None, username: str = "alice", author_id: str = "42"
) -> dict:
    tweet_id = tweet_id or str(next(_ids))
    return {
        "data": {
            "id": tweet_id,
            "text": text,
            "author_id": author_id,
            "created_at": "2026-11-25T10:00:00.000Z",
            "lang": "en",
            "edit_history_tweet_ids": [tweet_id],
        },
        "includes": {
            "users": [
                {
                    "id": author_id,
                    "username": username,
                    "name": username.title(),
                    "profile_image_url": "https://pbs.twimg.com/a.jpg",
                }
            ]
        },
        "matching_rules": [{"id": "1", "tag": tag} for tag in tags],
    }


def ingest(*texts: str, tags: list[str], **kwargs: Any):
    """Store one tweet per text through the real ingest path; returns the topic batches."""
    return tweets_ingest(tweets=[normalize(x_message(text, tags=tags, **kwargs)) for text in texts])


def for_viewers(batches: list[TopicBatch]) -> list[TopicBatch]:
    """The batches the topics' viewers get: all but the moderators' REVIEW batches."""
    return [batch for batch in batches if batch.kind != REVIEW]
