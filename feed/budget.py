"""The cost guard: posts per topic per budget window, and which topics are over their budget.

X bills each post its stream delivers. A topic may have a budget of posts per hour and per day; at
100% the worker takes the topic's rule off X until the window ends (streamer/worker.py), and the
admin warns from 80%.

Windows are the UTC calendar hour and day, not rolling ones: the resume time is a fixed, stated
moment ("resumes at 14:00 UTC"), and a paused rule comes back once per window. A rolling window
would free one post's worth of budget each time an old post aged out, putting the rule back for a
post or two and pausing it again, over and over. The cost: across a boundary a topic can take its
budget at the end of one hour and again at the start of the next.

A post that matched two topics counts against each: each topic's budget limits what its own rule
pulls in, which is what pausing that rule saves. X bills the post once, so the topics' spends added
up overstate the bill by the posts they share.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import FilteredRelation, Q, QuerySet, Sum
from django.utils import timezone

from feed.models import Topic, TopicSpend

WARN_AT = 0.8  # the admin warns at 80% of a budget: time to raise it before the rule leaves X
PRUNE_AFTER = timedelta(days=2)  # spend rows older than this serve no window; the worker deletes them


def budget_window(*, now: datetime, length_s: int) -> tuple[datetime, datetime]:
    """The window of `length_s` seconds that holds `now`, aligned to the Unix epoch: with 3600 the UTC
    calendar hour, with 86400 the UTC day (Unix time has no leap seconds)."""
    epoch_s = int(now.timestamp())
    start_s = epoch_s - epoch_s % length_s
    start = datetime.fromtimestamp(start_s, tz=UTC)
    return start, start + timedelta(seconds=length_s)


def _windows(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    return {
        TopicSpend.Period.HOUR: budget_window(now=now, length_s=settings.X_BUDGET_HOUR_S),
        TopicSpend.Period.DAY: budget_window(now=now, length_s=settings.X_BUDGET_DAY_S),
    }


@dataclass(frozen=True)
class Spend:
    """A topic's posts in the current windows, against its budgets (None: no budget)."""

    hour: int
    day: int
    budget_per_hour: int | None
    budget_per_day: int | None
    hour_ends: datetime
    day_ends: datetime
    now: datetime

    @property
    def cost_usd(self) -> float:
        """Today's posts at X's price per post; counted per topic (see the module's docstring)."""
        return self.day * settings.X_COST_PER_POST_USD

    @property
    def share(self) -> float:
        """The larger fraction of a budget used; 0 without budgets."""
        shares = [used / budget for used, budget in self._pairs() if budget is not None and budget > 0]
        return max(shares, default=0.0)

    @property
    def pause_reason(self) -> str:
        """Why the rule must stay off X, naming the budget and when it resumes; empty if it may run."""
        if self.budget_per_day is not None and self.day >= self.budget_per_day:
            resumes = _when(self.day_ends, now=self.now)
            return f"daily budget of {self.budget_per_day} posts reached; resumes at {resumes}"
        if self.budget_per_hour is not None and self.hour >= self.budget_per_hour:
            resumes = _when(self.hour_ends, now=self.now)
            return f"hourly budget of {self.budget_per_hour} posts reached; resumes at {resumes}"
        return ""

    @property
    def paused_until(self) -> datetime | None:
        if not self.pause_reason:
            return None
        return self.day_ends if self.pause_reason.startswith("daily") else self.hour_ends

    def _pairs(self) -> list[tuple[int, int | None]]:
        return [(self.hour, self.budget_per_hour), (self.day, self.budget_per_day)]


def _when(moment: datetime, *, now: datetime) -> str:
    today = now.astimezone(UTC).date()
    clock = "%H:%M" if moment.second == 0 else "%H:%M:%S"
    day = "" if moment.date() == today else " on %Y-%m-%d"
    return moment.astimezone(UTC).strftime(f"{clock} UTC{day}")


def topic_spend_add(*, counts: dict[int, int], now: datetime | None = None) -> None:
    """Add newly stored posts (topic id -> count) to each topic's current hour and day.

    One statement for the whole batch: INSERT ... ON CONFLICT adds to the window's row, in SQLite
    and PostgreSQL alike. Call it inside the ingest's transaction, so spend and posts commit together.
    """
    if not counts:
        return
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (topic_id, period, adapt(start), posts)
        for topic_id, posts in counts.items()
        for period, (start, _end) in _windows(now or timezone.now()).items()
    ]
    table = TopicSpend._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    # The table is the model's own name and every value is a parameter: nothing here comes from input.
    sql = (
        f"INSERT INTO {table} (topic_id, period, starts_at, posts) VALUES {values} "  # noqa: S608
        f"ON CONFLICT (topic_id, period, starts_at) DO UPDATE SET posts = {table}.posts + excluded.posts"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])


def topics_with_spend(*, topics: QuerySet[Topic], now: datetime | None = None) -> QuerySet[Topic]:
    """`topics` annotated with `spend_hour` and `spend_day`: one query. The current windows are in the
    join's ON clause, so each topic joins its two current rows (of the 50 or so kept), by index."""
    (hour_start, _), (day_start, _) = _windows(now or timezone.now()).values()
    current = FilteredRelation(
        "spend",
        condition=Q(spend__period=TopicSpend.Period.HOUR, spend__starts_at=hour_start)
        | Q(spend__period=TopicSpend.Period.DAY, spend__starts_at=day_start),
    )
    return topics.annotate(current_spend=current).annotate(
        spend_hour=Sum("current_spend__posts", filter=Q(current_spend__period=TopicSpend.Period.HOUR)),
        spend_day=Sum("current_spend__posts", filter=Q(current_spend__period=TopicSpend.Period.DAY)),
    )


def topic_spend(*, topic: Topic, now: datetime | None = None) -> Spend:
    """The spend of a topic from `topics_with_spend` (or read now, if it was not annotated)."""
    now = now or timezone.now()
    if not hasattr(topic, "spend_hour"):
        topic = topics_with_spend(topics=Topic.objects.filter(pk=topic.pk), now=now).get()
    windows = _windows(now)
    return Spend(
        hour=topic.spend_hour or 0,
        day=topic.spend_day or 0,
        budget_per_hour=topic.budget_per_hour,
        budget_per_day=topic.budget_per_day,
        hour_ends=windows[TopicSpend.Period.HOUR][1],
        day_ends=windows[TopicSpend.Period.DAY][1],
        now=now,
    )


def topics_over_budget(*, now: datetime | None = None) -> dict[str, Spend]:
    """Active topics at 100% of a budget, by slug: the worker keeps their rules off X.

    One query per call (the worker's 2 s sync), over the topics that have a budget.
    """
    now = now or timezone.now()
    budgeted = Topic.objects.filter(is_active=True).filter(
        Q(budget_per_hour__isnull=False) | Q(budget_per_day__isnull=False)
    )
    spends = {t.slug: topic_spend(topic=t, now=now) for t in topics_with_spend(topics=budgeted, now=now)}
    return {slug: spend for slug, spend in spends.items() if spend.pause_reason}


def topic_spend_prune(*, now: datetime | None = None) -> int:
    """Delete spend rows no window needs any more; returns how many."""
    deleted, _ = TopicSpend.objects.filter(starts_at__lt=(now or timezone.now()) - PRUNE_AFTER).delete()
    return deleted


def budget_warning(spend: Spend) -> str:
    """What moderators are told about a topic's budget: paused, or at WARN_AT of it; else empty."""
    if spend.pause_reason:
        return f"Paused: {spend.pause_reason}."
    if spend.share >= WARN_AT:
        return f"{spend.share:.0%} of a budget spent; at 100% the rule leaves X until the window ends."
    return ""


def topic_pause_notice(*, topic: Topic) -> dict:
    """What the topic page and wall say about a pause, from the worker's last record: the API's shape,
    also rendered into the page (`paused_until` in ISO 8601, None when not paused)."""
    paused = topic.rule_state == Topic.RuleState.PAUSED
    until = topic.paused_until if paused else None
    return {
        "rule_state": topic.rule_state,
        "paused": paused,
        "paused_until": until.isoformat() if until else None,
        "reason": topic.rule_error if paused else "",
    }
