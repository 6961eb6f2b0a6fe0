"""Read-side queries: pages, the API and the hub's history all read through these."""

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet

from feed.models import ModerationEvent, Topic, TopicPost
from feed.rendering import encode, tweet_wire

HISTORY_LIMIT = 50  # tweets a socket gets on connect; the page shows at most this many at first
API_MAX_LIMIT = 200  # one API page; catch-up loops with `after` until has_more is false


def topic_get_active(*, slug: str) -> Topic | None:
    return Topic.objects.filter(slug=slug, is_active=True).first()


def topics_active_with_counts() -> QuerySet[Topic]:
    visible = Q(posts__state=TopicPost.State.VISIBLE)
    return Topic.objects.filter(is_active=True).annotate(tweet_count=Count("posts", filter=visible))


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


def _posts(topic: Topic, state: str = TopicPost.State.VISIBLE) -> QuerySet[TopicPost]:
    """The topic's posts in `state`, with their tweets and the tweets' topics (for the wire)."""
    posts = TopicPost.objects.filter(topic=topic, state=state)
    return posts.select_related("tweet").prefetch_related("tweet__topics")


def tweets_page(
    *, topic: Topic, after: int | None = None, before: int | None = None, limit: int = HISTORY_LIMIT
) -> tuple[list[TopicPost], bool]:
    """Visible posts of `topic`, newest first, and whether more exist in the paging direction.

    With `after`, the page holds the `limit` posts just after that seq (catch-up pages forward);
    otherwise the newest `limit` posts below `before` (paging back).
    """
    limit = max(1, min(limit, API_MAX_LIMIT))
    posts = _posts(topic)
    if before is not None:
        posts = posts.filter(pk__lt=before)
    if after is not None:
        rows = list(posts.filter(pk__gt=after).order_by("pk")[: limit + 1])
        return list(reversed(rows[:limit])), len(rows) > limit
    rows = list(posts.order_by("-pk")[: limit + 1])
    return rows[:limit], len(rows) > limit


def topic_slugs(topics: Iterable[Topic]) -> list[str]:
    """A tweet's topics as clients see them: by name, then id. Sorted here rather than by the
    database, whose collation could order names differently from the live announcement."""
    return [topic.slug for topic in sorted(topics, key=lambda topic: (topic.name, topic.pk))]


def post_wire(post: TopicPost) -> dict:
    """The post in the tweet shape, for a post fetched with its tweet and the tweet's topics."""
    return tweet_wire(post.tweet, topic_slugs(post.tweet.topics.all()), seq=post.pk, at=post.created_at)


def post_items(posts: list[TopicPost]) -> list[tuple[int, str]]:
    """(seq, pre-encoded wire JSON), the unit the hub caches and frames, for posts fetched as
    `_posts` fetches them."""
    return [(post.pk, encode(post_wire(post))) for post in posts]


PINNED_LIMIT = 10  # pinned posts a page shows on top: more is no longer "on top"


def topic_history_items(
    *, slug: str, limit: int = HISTORY_LIMIT
) -> tuple[int, list[tuple[int, str]], list[tuple[int, str]]]:
    """The topic's moderation mark, its newest visible posts and its pinned posts (newest pin first),
    pre-encoded, newest first.

    The mark is read first: the posts then reflect at least every decision up to it (a decision
    that lands in between is applied again later, which is harmless).
    """
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return 0, [], []
    mark = topic_moderation_mark(topic=topic)
    pinned = _posts(topic).filter(pinned_at__isnull=False).order_by("-pinned_at")[:PINNED_LIMIT]
    return mark, post_items(list(_posts(topic).order_by("-pk")[:limit])), post_items(list(pinned))


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
# The events whose post goes with them on the wire: a screen shows it (again, on top, or as edited).
TWEET_ACTIONS = (ModerationEvent.Action.SHOW, ModerationEvent.Action.PIN, ModerationEvent.Action.EDIT)


def topic_moderation_after(
    *, topic: Topic, after: int, limit: int = MODERATION_PAGE
) -> list[tuple[ModerationEvent, TopicPost]]:
    """The topic's moderation events after mark `after`, oldest first, each with the post as it is
    now on the topic (its seq is where a "show" puts it back), fetched for the wire."""
    events = list(ModerationEvent.objects.filter(topic=topic, pk__gt=after).order_by("pk")[:limit])
    posts = _posts_of(topic, [event.tweet_id for event in events])
    return [(event, posts[event.tweet_id]) for event in events if event.tweet_id in posts]


def _posts_of(topic: Topic, tweet_ids: list[int]) -> dict[int, TopicPost]:
    posts = TopicPost.objects.filter(topic=topic, tweet_id__in=set(tweet_ids))
    return {post.tweet_id: post for post in posts.select_related("tweet").prefetch_related("tweet__topics")}


def topic_moderation_items_after(*, slug: str, after: int) -> list[tuple[int, str, int, str, str | None]]:
    """For the hub: (mark, action, seq, network id, pre-encoded tweet for TWEET_ACTIONS else None),
    oldest first."""
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return []
    return [
        (
            event.pk,
            event.action,
            post.pk,
            post.tweet.network_id,
            encode(post_wire(post)) if carries_post(event, post) else None,
        )
        for event, post in topic_moderation_after(topic=topic, after=after)
    ]


def carries_post(event: ModerationEvent, post: TopicPost) -> bool:
    """Whether the event's frame carries the post as it is now: a show, a pin, and an edit of a post
    still visible (a post hidden since its edit stays out of every frame and the API)."""
    if event.action == ModerationEvent.Action.EDIT:
        return post.state == TopicPost.State.VISIBLE
    return event.action in TWEET_ACTIONS


def topic_items_after(*, slug: str, seq: int, limit: int = API_MAX_LIMIT) -> list[tuple[int, str]]:
    """Up to `limit` visible posts of the topic after `seq`, oldest first, pre-encoded."""
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return []
    return post_items(list(_posts(topic).filter(pk__gt=seq).order_by("pk")[:limit]))


QUEUE_LIMIT = 500  # pending posts per read of the queue: a moderator works from the oldest


def topic_pending_posts(*, topic: Topic, limit: int = QUEUE_LIMIT) -> list[TopicPost]:
    """The topic's posts waiting for a moderator's approval (approve mode), oldest first."""
    return list(_posts(topic, TopicPost.State.PENDING).order_by("pk")[:limit])


# Shown, hidden and blocked posts each that a moderation socket opens with: as many as a wall's history.
MODERATION_NEWEST_LIMIT = 50


def moderation_wire(post: TopicPost) -> dict:
    """A post as moderators see it: the tweet shape plus `post_id` (the stored tweet's id, the same
    on every topic and across approval), its state on this topic, and why it is blocked."""
    return _moderation_fields(post_wire(post), post)


def moderation_item(wire: dict, post: TopicPost) -> str:
    """`moderation_wire`, pre-encoded, from the post's tweet shape already built (ingest)."""
    return encode(_moderation_fields(wire, post))


def _moderation_fields(wire: dict, post: TopicPost) -> dict:
    pinned = post.pinned_at is not None
    return {**wire, "post_id": post.tweet_id, "state": post.state, "reason": post.reason, "pinned": pinned}


def topic_posts_in_state(*, topic: Topic, state: str, limit: int = MODERATION_NEWEST_LIMIT) -> list[dict]:
    """The topic's newest posts in `state`, in moderation_wire shape, newest first."""
    return [moderation_wire(post) for post in _posts(topic, state).order_by("-pk")[:limit]]


@dataclass(frozen=True)
class ReasonCount:
    state: str  # "blocked" (one row per reason) or "pending" (one row: pending posts have no reason)
    reason: str
    hour: int  # posts that arrived in the last hour and are in this state with this reason now
    day: int  # the same over the last day


def topic_reason_counts(*, topic: Topic, now: datetime) -> list[ReasonCount]:
    """The topic's blocked posts by reason, and its pending posts, that arrived in the last hour and
    day (`TopicPost.created_at`); most in the day first. One grouped query over the last day's posts
    (index topic_post_created).

    Counted as they are now: a post blocked at ingest and released since is not counted, and an
    approved post is no longer pending.
    """
    hour_ago = Q(created_at__gte=now - timedelta(hours=1))
    rows = (
        TopicPost.objects.filter(
            topic=topic,
            created_at__gte=now - timedelta(days=1),
            state__in=[TopicPost.State.BLOCKED, TopicPost.State.PENDING],
        )
        .values_list("state", "reason")
        .annotate(hour=Count("id", filter=hour_ago), day=Count("id"))
        .order_by()
    )
    counts = [ReasonCount(state, reason, hour, day) for state, reason, hour, day in rows]
    return sorted(counts, key=lambda c: (-c.day, -c.hour, c.state, c.reason))


def topic_moderation_snapshot(*, topic: Topic) -> tuple[int, list[dict]]:
    """The topic's moderation mark and its posts as moderators see them (moderation_wire): pending
    oldest first (up to QUEUE_LIMIT), then the newest shown, hidden and blocked, newest first.

    The mark is read first, so the posts reflect at least every decision up to it.
    """
    mark = topic_moderation_mark(topic=topic)
    posts = [moderation_wire(post) for post in topic_pending_posts(topic=topic)]
    for state in (TopicPost.State.VISIBLE, TopicPost.State.HIDDEN, TopicPost.State.BLOCKED):
        posts += topic_posts_in_state(topic=topic, state=state)
    # Pinned posts too, however old: the "Pinned" tab lists them all.
    listed = {post["post_id"] for post in posts}
    pinned = _posts(topic).filter(pinned_at__isnull=False).order_by("-pinned_at")[:PINNED_LIMIT]
    posts += [moderation_wire(post) for post in pinned if post.tweet_id not in listed]
    return mark, posts
