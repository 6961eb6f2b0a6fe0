"""What a network says happened to a post after it was stored: deleted, or edited.

A deleted post leaves every topic at once, as a moderator's hide does (stored as a "system" decision,
so every open screen drops it and it stays out of history and the API); the row is kept for the
audit. An edit replaces the stored text, entities and payload, so history and the API serve the new
version; open pages see it on their next load (a live replacement comes with the wall's work).
"""

import logging

from feed.models import ModerationDecision, Tweet
from feed.moderation import tweets_set_hidden
from feed.normalize import NormalizedTweet
from feed.services import TopicBatch

logger = logging.getLogger(__name__)


def posts_remove(*, source: str, network_ids: list[str]) -> list[TopicBatch]:
    """Hide the stored posts their network deleted, on every topic; unknown ids are ignored."""
    tweets = list(Tweet.objects.filter(source=source, network_id__in=network_ids))
    if not tweets:
        return []
    logger.info("%s: %d stored posts deleted on their network; hiding them", source, len(tweets))
    return tweets_set_hidden(
        tweets=tweets, hidden=True, via=ModerationDecision.Via.SYSTEM, reason=f"deleted on {source}"
    )


def post_edit(*, post: NormalizedTweet) -> bool:
    """Store the new version of an edited post; False if it was never stored (nothing to edit)."""
    updated = Tweet.objects.filter(source=post.source, network_id=post.network_id).update(
        text=post.text,
        entities=post.entities,
        raw=post.raw,
        lang=post.lang,
        # A Bluesky post delivered before its author's profile arrived gets the author this way.
        author_username=post.author_username,
        author_name=post.author_name,
        author_avatar_url=post.author_avatar_url,
    )
    return bool(updated)
