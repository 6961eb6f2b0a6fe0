"""What a network says happened to a post after it was stored: deleted, or edited.

A deleted post leaves every topic at once, as a moderator's hide does (stored as a "system" decision,
so every open screen drops it and it stays out of history and the API); the row is kept for the
audit. An edit replaces the stored text, entities and payload, so history and the API serve the new
version, and records an "edit" event on each topic that shows the post: screens replace it in place,
in mark order with the moderators' decisions, and a page that was away reads it on its way back.
"""

import logging

from django.db import transaction

from feed.models import ModerationDecision, ModerationEvent, Topic, TopicPost, Tweet
from feed.moderation import review_batches, tweets_set_hidden
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


def post_edit(*, post: NormalizedTweet) -> list[TopicBatch] | None:
    """Store the new version of an edited post, and tell the screens that show it.

    None if it was never stored (nothing to edit). Otherwise the batches to publish after commit: a
    nudge for each topic where the post is visible (its pages replace it) and the post as moderators
    see it now, for each topic that has it in any state.
    """
    with transaction.atomic():
        tweet = Tweet.objects.filter(source=post.source, network_id=post.network_id).first()
        if tweet is None:
            return None
        topic_ids = set(TopicPost.objects.filter(tweet=tweet).values_list("topic_id", flat=True))
        # The topics' locks, in pk order as every writer takes them: the event's mark commits in order,
        # and the posts' states are read under them, so a hide made meanwhile is seen here.
        slugs = dict(
            Topic.objects.select_for_update()
            .filter(pk__in=topic_ids)
            .order_by("pk")
            .values_list("pk", "slug")
        )
        topic_posts = list(TopicPost.objects.filter(tweet=tweet))
        tweet.text, tweet.entities, tweet.raw, tweet.lang = post.text, post.entities, post.raw, post.lang
        tweet.media, tweet.quote = list(post.media), post.quote
        tweet.reply_to, tweet.reposted_by = post.reply_to, post.reposted_by
        # A Bluesky post delivered before its author's profile arrived gets the author this way.
        tweet.author_username = post.author_username
        tweet.author_name = post.author_name
        tweet.author_avatar_url = post.author_avatar_url
        tweet.save(
            update_fields=[
                "text",
                "entities",
                "media",
                "quote",
                "reply_to",
                "reposted_by",
                "raw",
                "lang",
                "author_username",
                "author_name",
                "author_avatar_url",
            ]
        )
        shown = [p for p in topic_posts if p.state == TopicPost.State.VISIBLE]
        events = ModerationEvent.objects.bulk_create(
            ModerationEvent(topic_id=p.topic_id, tweet=tweet, action=ModerationEvent.Action.EDIT)
            for p in shown
        )
    marks = {event.topic_id: event.pk for event in events}
    nudges = [TopicBatch(slugs[pk], "moderation", (), mod=mark) for pk, mark in marks.items()]
    newest = {pk: marks.get(pk, 0) for pk in slugs}
    return [*nudges, *review_batches(topic_posts, slugs, newest)]
