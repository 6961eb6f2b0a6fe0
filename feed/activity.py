"""How busy topics are: visible posts per second over the last minute (the pages' posts-per-minute
counter starts from it) and per minute over the last hour (the sparklines of the home page and the
admin). Both count `TopicPost.created_at`, when a post took its place on the topic (at ingest, or
when approved), through the index topic_post_created; neither is on the fan-out path.

Cached in the process, as the home page's tweet counts are (feed/selectors.py `RecentTopicCounts`):
pages, the API and open home pages would otherwise count the same rows many times a second.
"""

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Max
from django.db.models.functions import TruncMinute
from django.utils import timezone

from feed.models import Topic, TopicPost

RATE_WINDOW_S = 60  # "posts per minute": the posts of the last 60 s, counted by the second
SPARKLINE_MINUTES = 60  # a sparkline's points: the current minute and the 59 before it
# Counts at most this old are served again: a second is as fresh as a per-minute figure needs, and
# costs at most one count a second per topic (counter) and for all topics (sparklines) per process.
ACTIVITY_MAX_AGE_S = 1.0
# Topics whose seeds are kept at once; past it the cache starts again (memory stays bounded).
RECENT_TOPICS_MAX = 1000


@dataclass(frozen=True)
class RecentArrivals:
    """A topic's visible posts of the last minute: `seconds[i]` arrived i to i+1 seconds ago.

    `seq` is the topic's newest visible seq when they were counted: every visible post up to it is
    in the count, and none after it, so a page adds exactly the posts above `seq` it receives.
    """

    seq: int
    seconds: list[int]

    @property
    def per_minute(self) -> int:
        return sum(self.seconds)


class RecentArrivalsCache:
    """Each topic's arrivals of the last minute, read at most once per ACTIVITY_MAX_AGE_S.

    The arrival times are kept, not the buckets, so each caller's buckets are counted from its own
    "now": a second-old read is still exact up to its `seq`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._topics: dict[int, tuple[float, int, list[datetime]]] = {}

    def get(self, topic_id: int) -> tuple[int, list[datetime]]:
        with self._lock:
            counted_at, seq, arrivals = self._topics.get(topic_id, (-1e9, 0, []))
            if time.monotonic() - counted_at >= ACTIVITY_MAX_AGE_S:
                seq, arrivals = _recent_arrivals(topic_id)
                if len(self._topics) >= RECENT_TOPICS_MAX:
                    self._topics.clear()
                self._topics[topic_id] = (time.monotonic(), seq, arrivals)
            return seq, arrivals

    def clear(self) -> None:
        with self._lock:
            self._topics.clear()


def _recent_arrivals(topic_id: int) -> tuple[int, list[datetime]]:
    # The mark first, then the posts up to it: a post committed in between is above the mark, so the
    # page counts it when it arrives, and never twice. A topic's seqs commit in order (its row lock).
    visible = TopicPost.objects.filter(topic_id=topic_id, state=TopicPost.State.VISIBLE)
    seq = visible.aggregate(seq=Max("pk"))["seq"] or 0
    since = timezone.now() - timedelta(seconds=RATE_WINDOW_S + ACTIVITY_MAX_AGE_S)
    arrivals = visible.filter(pk__lte=seq, created_at__gt=since).values_list("created_at", flat=True)
    return seq, list(arrivals)


class TopicsActivity:
    """Visible posts per minute over the last hour, for every topic: one grouped query for the closed
    minutes, once a minute, and one for the current minute, at most once per ACTIVITY_MAX_AGE_S."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed: tuple[datetime, dict[int, list[int]]] | None = None
        self._current: tuple[datetime, dict[int, int]] | None = None  # (when counted, counts)

    def per_minute(self, now: datetime) -> dict[int, list[int]]:
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        with self._lock:
            if self._closed is None or self._closed[0] != minute:
                self._closed = (minute, _closed_minutes(minute))
            if self._current is None or not self._fresh(self._current[0], now, minute):
                self._current = (now, _minute_counts(minute))
            closed, current = self._closed[1], self._current[1]
        counts = {pk: [*row, 0] for pk, row in closed.items()}
        for pk, n in current.items():
            counts.setdefault(pk, [0] * SPARKLINE_MINUTES)[-1] = n
        return counts

    @staticmethod
    def _fresh(counted_at: datetime, now: datetime, minute: datetime) -> bool:
        # By the clock the minutes are cut by (a clock set back counts again).
        return minute <= counted_at <= now < counted_at + timedelta(seconds=ACTIVITY_MAX_AGE_S)

    def clear(self) -> None:
        with self._lock:
            self._closed = self._current = None


def _closed_minutes(minute: datetime) -> dict[int, list[int]]:
    """Each topic's visible posts in each of the SPARKLINE_MINUTES - 1 whole minutes before `minute`."""
    start = minute - timedelta(minutes=SPARKLINE_MINUTES - 1)
    rows = (
        TopicPost.objects.filter(state=TopicPost.State.VISIBLE, created_at__gte=start, created_at__lt=minute)
        .annotate(minute=TruncMinute("created_at", tzinfo=UTC))
        .values_list("topic_id", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[int, list[int]] = {}
    for topic_id, at, n in rows:
        index = int((at - start).total_seconds() // 60)
        counts.setdefault(topic_id, [0] * (SPARKLINE_MINUTES - 1))[index] += n
    return counts


def _minute_counts(minute: datetime) -> dict[int, int]:
    rows = TopicPost.objects.filter(state=TopicPost.State.VISIBLE, created_at__gte=minute)
    return dict(rows.values_list("topic_id").annotate(n=Count("id")).order_by())


recent_arrivals = RecentArrivalsCache()
topics_activity = TopicsActivity()


def topic_recent_arrivals(*, topic: Topic, now: datetime | None = None) -> RecentArrivals:
    """The seed of a page's posts-per-minute counter: the topic's visible posts of the last minute,
    by second, and the seq they go up to."""
    now = now or timezone.now()
    seq, arrivals = recent_arrivals.get(topic.pk)
    seconds = [0] * RATE_WINDOW_S
    for arrived in arrivals:
        age = (now - arrived).total_seconds()
        if 0 <= age < RATE_WINDOW_S:
            seconds[int(age)] += 1
        elif -ACTIVITY_MAX_AGE_S < age < 0:  # a clock a hair apart between the database and here
            seconds[0] += 1
    return RecentArrivals(seq=seq, seconds=seconds)


def topics_posts_per_minute(*, now: datetime | None = None) -> dict[int, list[int]]:
    """Topic id → its visible posts in each minute of the last hour, oldest first, the current
    minute (so far) last. A topic with none in the hour has no entry."""
    return topics_activity.per_minute(now or timezone.now())
