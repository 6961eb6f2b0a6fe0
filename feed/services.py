"""Write-side logic: storing tweets, topics and their rules on X, and the audit record of decisions.

Moderators' decisions (hide, show, the decisions API, author rules) are in feed/moderation.py.

Each function returns what must be announced (`TopicBatch`es) instead of publishing itself, so the
caller publishes only after the transaction has committed: the worker through its buffered publisher,
the admin through `feed.publishing.publish_batches_sync`.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from feed.admission import Admission, post_admission
from feed.blocking import block_rules
from feed.budget import Spend, topic_spend_add
from feed.filters import TopicFilters
from feed.models import ModerationDecision, Topic, TopicPost, Tweet
from feed.normalize import NormalizedTweet
from feed.rendering import encode, tweet_wire
from feed.rule_check import RuleCheckUnavailable, RuleOutcome, rules_check
from feed.rules import RuleError, validate_rule
from feed.selectors import moderation_item, topic_slugs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicBatch:
    """What one topic's viewers are told: new tweets (pre-encoded), or that moderation changed."""

    topic_slug: str
    # "tweets", "moderation" (decisions up to `mod` are stored), "close" (switched off), "wall" (its
    # settings changed: `items` holds the frame, feed/wall.py), or REVIEW
    kind: str
    seqs: tuple[int, ...]
    items: tuple[str, ...] = ()  # pre-encoded wire JSON: one per seq for "tweets"; REVIEW's posts
    prev_seq: int | None = None  # the topic's previously published seq, so receivers see gaps
    mod: int | None = None  # for kind "moderation": the topic's newest stored ModerationEvent id


# For the topic's moderators only (feed/moderation_socket.py), never its viewers: posts as they are now,
# in moderation_wire shape (`items`, no seqs), new ones from ingest (`mod` None) and those a decision
# changed (`mod`: the decision's newest ModerationEvent id on the topic). Published to the topic's
# moderate group, not its topic group (feed/publishing.py), so the hub never sees one.
REVIEW = "review"


def tweets_ingest(*, tweets: Sequence[NormalizedTweet]) -> list[TopicBatch]:
    """Store tweets idempotently and return one batch per topic for what is newly visible there,
    and one REVIEW batch per topic with every new post there, whatever its state, for moderators.

    Idempotent on the X id (unique constraint) because the same tweet can arrive twice: X may
    redeliver around a reconnect, and a worker restarted mid-batch sees it again. A tweet seen
    before is not stored, linked or announced again. Tweets that match no known topic are dropped.

    Each new tweet gets one TopicPost per topic it matches, in the state feed/admission.py gives it
    there: visible (announced), pending approval, or blocked by a rule or filter (stored with the
    reason, never announced; a block rule's hits are recorded as "rule" decisions for the audit).
    """
    by_id = {t.key: t for t in tweets}
    if not by_id:
        return []
    try:
        return _ingest(by_id)
    except IntegrityError:
        # Another writer stored some of these between our read and our insert (only one worker
        # streams, but the lock can change hands): once more, and they count as seen.
        logger.warning("ingest: %d tweets raced another writer; storing again", len(by_id))
        return _ingest(by_id)


def _ingest(by_id: dict[tuple[str, str], NormalizedTweet]) -> list[TopicBatch]:
    with transaction.atomic():
        slugs = _all_slugs(by_id.values())
        # The topics' rows are locked until commit, as an approval locks them: within a topic,
        # seqs (TopicPost ids) then commit in increasing order (see TopicPost).
        topics = {t.slug: t for t in Topic.objects.select_for_update().filter(slug__in=slugs).order_by("pk")}
        existing = _stored_keys(by_id)
        # Each new tweet's known topics.
        linked = {
            t.key: [topics[slug] for slug in t.topic_slugs if slug in topics]
            for t in by_id.values()
            if t.key not in existing and _known(t, topics)
        }
        if not linked:
            return []  # all seen before, or for no topic: no rules to read, nothing to write
        rules = block_rules.get()
        filters = {topic.pk: TopicFilters.of(topic) for topic in topics.values()}
        admitted = {
            key: [
                (topic, post_admission(by_id[key], topic, rules, filters[topic.pk]))
                for topic in linked_topics
            ]
            for key, linked_topics in linked.items()
        }
        # One INSERT ... RETURNING each: the rows come back with their ids, in arrival order.
        stored = Tweet.objects.bulk_create([_new_row(by_id[key]) for key in linked])
        posts = TopicPost.objects.bulk_create(
            _new_post(row, topic, admission)
            for row in stored
            for topic, admission in admitted[row.source, row.network_id]
        )
        # Blocked and pending posts too: X billed them all. Each topic counts it (feed/budget.py).
        topic_spend_add(counts=Counter(post.topic_id for post in posts))
        _rule_decisions_record([post for post in posts if post.rule_id is not None])
    # Batches from what was just written, not read back: this runs once per tweet at a busy event.
    # Each post is rendered once (its HTML is the cost), then encoded for viewers and moderators.
    slugs_of = {row.pk: topic_slugs(linked[row.source, row.network_id]) for row in stored}
    wires = {
        post.pk: tweet_wire(post.tweet, slugs_of[post.tweet_id], seq=post.pk, at=post.created_at)
        for post in posts
    }
    visible = [post for post in posts if post.state == TopicPost.State.VISIBLE]
    batches = _batches([(post, encode(wires[post.pk])) for post in visible])
    return batches + _review_batches([(post, moderation_item(wires[post.pk], post)) for post in posts])


def _new_post(row: Tweet, topic: Topic, admission: Admission) -> TopicPost:
    return TopicPost(
        topic=topic,
        tweet=row,
        state=admission.state,
        shown=admission.state == TopicPost.State.VISIBLE,
        reason=admission.reason,
        rule_id=admission.rule_id,
    )


def _rule_decisions_record(posts: list[TopicPost]) -> None:
    """One "rule" decision per rule for the posts it kept off their topics at ingest.

    No ModerationEvents: those tell pages to drop a tweet, and pages never got these.
    """
    by_rule: dict[tuple[int, str], list[Tweet]] = defaultdict(list)
    for post in posts:
        by_rule[post.rule_id, post.reason].append(post.tweet)
    for (rule_id, reason), tweets in by_rule.items():
        decision_record(
            action=ModerationDecision.Action.HIDE,
            moderator=None,
            via=ModerationDecision.Via.RULE,
            tweets=list(dict.fromkeys(tweets)),
            rule_id=rule_id,
            reason=reason,
        )


def topics_activate(*, topics: Iterable[Topic], max_rules: int, max_rule_length: int) -> list[str]:
    """Activate the topics whose rules are valid and X accepts, within the access level's rule count.

    X is asked with one dry run for all of them (feed.rule_check); if X cannot be asked, none are
    activated. Returns one message per topic left inactive, saying why.
    """
    problems, candidates = [], []
    for topic in topics:
        if topic.is_active:
            continue
        try:
            validate_rule(topic.query, max_length=max_rule_length)
        except RuleError as error:
            problems.append(f"{topic.name}: {error}")
            continue
        candidates.append(topic)
    try:
        refused = rules_check(queries=[topic.query for topic in candidates])
    except RuleCheckUnavailable as error:
        names = ", ".join(topic.name for topic in candidates)
        return [*problems, f"{names}: Could not check the rules with X: {error}"] if candidates else problems
    active = Topic.objects.filter(is_active=True).count()
    for topic in candidates:
        holder = topic_rule_holder(query=topic.query, excluding=topic.pk)
        if holder is not None:
            problems.append(f"{topic.name}: {holder.name} already has this rule, and X refuses a copy")
            continue
        if topic.query in refused:
            problems.append(f"{topic.name}: X refused this rule: {refused[topic.query]}")
            continue
        if active >= max_rules:
            problems.append(
                f"{topic.name}: {active} rules are active, the limit (X_MAX_RULES) is {max_rules}"
            )
            continue
        Topic.objects.filter(pk=topic.pk).update(
            is_active=True, rule_state=Topic.RuleState.PENDING, rule_error=""
        )
        active += 1
    return problems


def topic_rule_holder(*, query: str, excluding: int | None = None) -> Topic | None:
    """The active topic whose rule is `query`: X refuses a second rule with the same value."""
    return Topic.objects.filter(is_active=True, query=query).exclude(pk=excluding).order_by("pk").first()


def topic_rules_record(*, outcomes: Iterable[RuleOutcome], paused: Mapping[str, Spend] | None = None) -> None:
    """Record each active topic's rule state after a sync, for the admin; inactive topics are "off".

    An outcome counts only while the topic still has the query it was about: an admin who edits the
    rule meanwhile sees "pending" until the next sync reports on the new one. `paused` are the topics
    the worker kept off X for their budget (feed.budget.topics_over_budget): "paused", with the reason.
    """
    now = timezone.now()
    with transaction.atomic():
        for outcome in outcomes:
            state = Topic.RuleState.FAILED if outcome.error else Topic.RuleState.ACTIVE
            Topic.objects.filter(slug=outcome.slug, query=outcome.query, is_active=True).update(
                rule_state=state, rule_error=outcome.error, rule_checked_at=now, paused_until=None
            )
        for slug, spend in (paused or {}).items():
            Topic.objects.filter(slug=slug, is_active=True).update(
                rule_state=Topic.RuleState.PAUSED,
                rule_error=spend.pause_reason,
                rule_checked_at=now,
                paused_until=spend.paused_until,
            )
        Topic.objects.filter(is_active=False).exclude(rule_state=Topic.RuleState.OFF).update(
            rule_state=Topic.RuleState.OFF, rule_error="", paused_until=None
        )


def topics_network_status_record(*, statuses: Mapping[str, list[dict[str, str]]]) -> None:
    """Record, per topic slug, how each source following its networks is doing (Topic.network_status)."""
    with transaction.atomic():
        for slug, status in statuses.items():
            Topic.objects.filter(slug=slug).update(network_status=status)


def topics_deactivate(*, topics: Iterable[Topic]) -> list[TopicBatch]:
    """Switch topics off; their open pages are told to close (the worker drops their rules)."""
    pks = [t.pk for t in topics]
    Topic.objects.filter(pk__in=pks).update(is_active=False)
    return [
        TopicBatch(slug, "close", ())
        for slug in Topic.objects.filter(pk__in=pks).values_list("slug", flat=True)
    ]


def decision_record(
    *,
    action: str,
    moderator: AbstractBaseUser | None,
    via: str,
    tweets: list[Tweet],
    rule_id: int | None = None,
    reason: str = "",
) -> ModerationDecision:
    """Store who decided what, how, on which tweets; inside the caller's transaction, with its events."""
    decision = ModerationDecision.objects.create(
        action=action,
        moderator=moderator,
        # A copy, so the audit still names the moderator after the account is deleted.
        moderator_name=moderator.get_username() if moderator is not None else "",
        via=via,
        rule_id=rule_id,
        reason=reason[:300],
    )
    decision.tweets.add(*tweets)
    return decision


def topic_latest_seqs() -> dict[str, int]:
    """The newest stored seq of each active topic: where the worker's publishing starts from."""
    rows = TopicPost.objects.filter(topic__is_active=True).values_list("topic__slug")
    return dict(rows.annotate(newest=Max("id")).values_list("topic__slug", "newest"))


def _batches(rows: list[tuple[TopicPost, str]]) -> list[TopicBatch]:
    """One "tweets" batch per topic, from visible posts in seq order, each pre-encoded."""
    by_topic: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for post, item in rows:
        by_topic[post.topic.slug].append((post.pk, item))
    return [
        TopicBatch(slug, "tweets", tuple(s for s, _ in pairs), items=tuple(i for _, i in pairs))
        for slug, pairs in by_topic.items()
    ]


def _review_batches(rows: list[tuple[TopicPost, str]]) -> list[TopicBatch]:
    """One REVIEW batch per topic: its new posts in seq order, pre-encoded in moderation_wire shape."""
    by_topic: dict[str, list[str]] = defaultdict(list)
    for post, item in rows:
        by_topic[post.topic.slug].append(item)
    return [TopicBatch(slug, REVIEW, (), items=tuple(items)) for slug, items in by_topic.items()]


def _stored_keys(by_key: dict[tuple[str, str], NormalizedTweet]) -> set[tuple[str, str]]:
    """Which of these posts are stored already: one query per network in the batch (usually one)."""
    ids_by_source: dict[str, list[str]] = defaultdict(list)
    for source, network_id in by_key:
        ids_by_source[source].append(network_id)
    stored: set[tuple[str, str]] = set()
    for source, ids in ids_by_source.items():
        rows = Tweet.objects.filter(source=source, network_id__in=ids).order_by()
        stored.update((source, network_id) for network_id in rows.values_list("network_id", flat=True))
    return stored


def _all_slugs(tweets: Iterable[NormalizedTweet]) -> set[str]:
    return {slug for t in tweets for slug in t.topic_slugs}


def _known(tweet: NormalizedTweet, topics: dict[str, Topic]) -> bool:
    if any(slug in topics for slug in tweet.topic_slugs):
        return True
    logger.debug("post %s matches no known topic (tags %s); dropped", tweet.key, tweet.topic_slugs)
    return False


def _new_row(t: NormalizedTweet) -> Tweet:
    return Tweet(
        source=t.source,
        network_id=t.network_id,
        permalink=t.permalink,
        text=t.text,
        lang=t.lang,
        created_at=t.created_at,
        author_id=t.author_id,
        author_username=t.author_username,
        author_name=t.author_name,
        author_avatar_url=t.author_avatar_url,
        entities=t.entities,
        media=list(t.media),
        quote=t.quote,
        reply_to=t.reply_to,
        reposted_by=t.reposted_by,
        raw=t.raw,
    )
