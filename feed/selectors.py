"""Read-side queries: pages, the API and the hub's history all read through these."""

import threading
import time
from collections.abc import Iterable

from django.db.models import Count, Max, Q, QuerySet

from feed.models import ModerationEvent, Topic, Tweet
from feed.rendering import encode, tweet_wire

HISTORY_LIMIT = 50  # tweets a socket gets on connect; the page shows at most this many at first
API_MAX_LIMIT = 200  # one API page; catch-up loops with `after` until has_more is false


def topic_get_active(*, slug: str) -> Topic | None:
    return Topic.objects.filter(slug=slug, is_active=True).first()


def topics_active_with_counts() -> QuerySet[Topic]:
    visible = Q(tweets__hidden=False)
    return Topic.objects.filter(is_active=True).annotate(tweet_count=Count("tweets", filter=visible))


# The home page and /api/topics/ count every visible tweet of every active topic, and open home pages
# poll the API: at an event that is many identical counts a second. A count up to a second old is
# fresh enough for a number that only grows, and costs one query a second per web process.
TOPIC_COUNTS_MAX_AGE_S = 1.0


class RecentTopicCounts:
    """`topics_active_with_counts`, counted at most once per TOPIC_COUNTS_MAX_AGE_S in this process.

    In-process rather than Django's cache framework: LocMemCache would pickle and unpickle the
    topics on every request, and a shared cache (Redis) would add a round trip per request to save
    one query a second. Under a lock, so requests that arrive together while it is stale wait for
    one count instead of each counting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topics: list[Topic] | None = None
        self._counted_at = 0.0

    def get(self) -> list[Topic]:
        with self._lock:
            now = time.monotonic()
            if self._topics is None or now - self._counted_at >= TOPIC_COUNTS_MAX_AGE_S:
                self._topics = list(topics_active_with_counts())
                self._counted_at = now
            return self._topics

    def clear(self) -> None:
        with self._lock:
            self._topics = None


recent_topic_counts = RecentTopicCounts()


def topics_active_with_recent_counts() -> list[Topic]:
    """Active topics with tweet counts at most TOPIC_COUNTS_MAX_AGE_S old: for pages and the API."""
    return recent_topic_counts.get()


def _visible_tweets(topic: Topic) -> QuerySet[Tweet]:
    return Tweet.objects.filter(topics=topic, hidden=False).prefetch_related("topics")


def tweets_page(
    *, topic: Topic, after: int | None = None, before: int | None = None, limit: int = HISTORY_LIMIT
) -> tuple[list[Tweet], bool]:
    """Tweets of `topic`, newest first, and whether more exist in the paging direction.

    With `after`, the page holds the `limit` tweets just after that seq (catch-up pages forward);
    otherwise the newest `limit` tweets below `before` (paging back).
    """
    limit = max(1, min(limit, API_MAX_LIMIT))
    tweets = _visible_tweets(topic)
    if before is not None:
        tweets = tweets.filter(pk__lt=before)
    if after is not None:
        rows = list(tweets.filter(pk__gt=after).order_by("pk")[: limit + 1])
        return list(reversed(rows[:limit])), len(rows) > limit
    rows = list(tweets.order_by("-pk")[: limit + 1])
    return rows[:limit], len(rows) > limit


def topic_slugs(topics: Iterable[Topic]) -> list[str]:
    """A tweet's topics as clients see them: by name, then id. Sorted here rather than by the
    database, whose collation could order names differently from the live announcement."""
    return [topic.slug for topic in sorted(topics, key=lambda topic: (topic.name, topic.pk))]


def tweet_item(tweet: Tweet, topic_slugs: list[str]) -> tuple[int, str]:
    """(seq, pre-encoded wire JSON): the unit the hub caches and frames."""
    return tweet.pk, encode(tweet_wire(tweet, topic_slugs))


def tweet_items(tweets: list[Tweet]) -> list[tuple[int, str]]:
    """`tweet_item` for tweets fetched with their topics prefetched."""
    return [tweet_item(t, topic_slugs(t.topics.all())) for t in tweets]


def topic_history_items(*, slug: str, limit: int = HISTORY_LIMIT) -> tuple[int, list[tuple[int, str]]]:
    """The topic's moderation mark and its newest visible tweets, pre-encoded, newest first.

    The mark is read first: the tweets then reflect at least every decision up to it (a decision
    that lands in between is applied again later, which is harmless).
    """
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return 0, []
    mark = topic_moderation_mark(topic=topic)
    return mark, tweet_items(list(_visible_tweets(topic).order_by("-pk")[:limit]))


def topic_get_with_mark(*, slug: str) -> tuple[bool, int]:
    """Whether `slug` is an active topic, and its newest moderation mark: one query per connect wave."""
    row = (
        Topic.objects.filter(slug=slug)
        .annotate(mark=Max("moderation_events__id"))
        .values_list("is_active", "mark")
        .first()
    )
    return (False, 0) if row is None else (row[0], row[1] or 0)


def topics_moderation_marks(*, slugs: list[str]) -> dict[str, int]:
    """The newest moderation mark of each of these topics that has one."""
    rows = ModerationEvent.objects.filter(topic__slug__in=slugs).values_list("topic__slug")
    return dict(rows.annotate(mark=Max("id")).values_list("topic__slug", "mark"))


def topic_moderation_mark(*, topic: Topic) -> int:
    return ModerationEvent.objects.filter(topic=topic).aggregate(mark=Max("id"))["mark"] or 0


MODERATION_PAGE = 500  # decisions per read; a moderator's bulk action is rarely more


def topic_moderation_after(
    *, topic: Topic, after: int, limit: int = MODERATION_PAGE
) -> list[ModerationEvent]:
    """The topic's moderation events after mark `after`, oldest first, with their tweets' topics."""
    events = ModerationEvent.objects.filter(topic=topic, pk__gt=after).order_by("pk")
    return list(events.select_related("tweet").prefetch_related("tweet__topics")[:limit])


def topic_moderation_items_after(*, slug: str, after: int) -> list[tuple[int, str, int, str, str | None]]:
    """For the hub: (mark, action, seq, X id, pre-encoded tweet for "show" else None), oldest first."""
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return []
    return [
        (
            event.pk,
            event.action,
            event.tweet_id,
            event.tweet.x_id,
            tweet_item(event.tweet, topic_slugs(event.tweet.topics.all()))[1]
            if event.action == "show"
            else None,
        )
        for event in topic_moderation_after(topic=topic, after=after)
    ]


def topic_items_after(*, slug: str, seq: int, limit: int = API_MAX_LIMIT) -> list[tuple[int, str]]:
    """Up to `limit` visible tweets of the topic after `seq`, oldest first, pre-encoded."""
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return []
    return tweet_items(list(_visible_tweets(topic).filter(pk__gt=seq).order_by("pk")[:limit]))


def topic_pending_posts(*, topic: Topic) -> list[Tweet]:
    """The topic's posts waiting for a moderator's decision, oldest first, with their topics.

    Approve mode (issue 9) fills this: a topic that shows only approved posts holds new ones here
    until a moderator approves or hides them. Until then every post is shown as it arrives, so no
    post is pending and the queue is always empty.
    """
    return []


MODERATION_HIDDEN_LIMIT = 50  # hidden posts the moderation page opens with: as many as the history


def topic_hidden_posts(*, topic: Topic, limit: int = MODERATION_HIDDEN_LIMIT) -> list[dict]:
    """The topic's newest hidden posts in the tweet shape plus `post_id`, newest first."""
    rows = Tweet.objects.filter(topics=topic, hidden=True).prefetch_related("topics").order_by("-pk")
    return [{**tweet_wire(t, topic_slugs(t.topics.all())), "post_id": t.pk} for t in rows[:limit]]
