"""Write-side logic for moderators' decisions: hide and show, the staff decisions API, author rules,
and block rules applied to stored posts.

Decisions are stored before anyone is told (docs/architecture.md, "Moderation: stored first, then
announced"): each function returns the `TopicBatch` nudges for the caller to publish after commit.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from feed.blocking import Matcher
from feed.models import BlockRule, ModerationDecision, ModerationEvent, Topic, Tweet
from feed.services import TopicBatch, decision_record

logger = logging.getLogger(__name__)


def tweets_set_hidden(
    *,
    tweets: Iterable[Tweet],
    hidden: bool,
    moderator: AbstractBaseUser | None = None,
    via: str = ModerationDecision.Via.SYSTEM,
    rule_id: int | None = None,
    reason: str = "",
) -> list[TopicBatch]:
    """Hide or show tweets again on every topic they belong to, as stored moderation events.

    Only tweets whose state changes get an event, so showing a visible tweet again is a no-op and is
    not recorded. What changes is one ModerationDecision (who, via what, which tweets) for the audit.
    The returned batches only nudge web processes to read the new events now; a process that misses
    the nudge finds them on its next poll (feed/hub.py), so no screen depends on one pub/sub message.
    """
    _, batches = _hidden_set(
        tweet_pks=[t.pk for t in tweets],
        hidden=hidden,
        moderator=moderator,
        via=via,
        rule_id=rule_id,
        reason=reason,
    )
    return batches


def _hidden_set(
    *,
    tweet_pks: list[int],
    hidden: bool,
    moderator: AbstractBaseUser | None,
    via: str,
    rule_id: int | None = None,
    reason: str = "",
) -> tuple[set[int], list[TopicBatch]]:
    """`tweets_set_hidden`, also returning which tweets it changed.

    The tweets are locked before their state is read: a second moderator's identical decision waits
    for the first to commit, then finds nothing to change (PostgreSQL re-reads a locked row's state
    once the lock is released), so a post never gets two events for one state change.
    """
    action = ModerationEvent.Action.HIDE if hidden else ModerationEvent.Action.SHOW
    with transaction.atomic():
        changed = list(Tweet.objects.select_for_update().filter(pk__in=tweet_pks).exclude(hidden=hidden))
        if not changed:
            return set(), []
        Tweet.objects.filter(pk__in=[t.pk for t in changed]).update(hidden=hidden)
        decided = ModerationDecision.Action.HIDE if hidden else ModerationDecision.Action.SHOW
        decision = decision_record(
            action=decided, moderator=moderator, via=via, tweets=changed, rule_id=rule_id, reason=reason
        )
        links = Tweet.topics.through.objects.filter(tweet__in=changed).order_by("topic_id", "tweet_id")
        pairs = list(links.values_list("topic_id", "tweet_id"))
        # Lock the topics: a topic's events then commit in id order, so a web process that has read
        # up to one id never misses a lower one committed later.
        list(Topic.objects.select_for_update().filter(pk__in={t for t, _ in pairs}).order_by("pk"))
        events = ModerationEvent.objects.bulk_create(
            ModerationEvent(topic_id=topic_id, tweet_id=tweet_id, action=action, decision=decision)
            for topic_id, tweet_id in pairs
        )
        newest: dict[int, int] = {}
        for event in events:
            newest[event.topic_id] = max(newest.get(event.topic_id, 0), event.pk)
        slugs = dict(Topic.objects.filter(pk__in=newest).values_list("pk", "slug"))
    batches = [TopicBatch(slugs[pk], "moderation", (), mod=mod) for pk, mod in newest.items()]
    return {t.pk for t in changed}, batches


# What a moderator may ask of a post (or its author) through the API. Approve mode and pins come
# later (issue 9); until then they are refused with a clear reason.
DECISION_ACTIONS = ("approve", "hide", "unhide", "pin", "unpin", "block_author", "trust_author")
# The posts' state after each post action, as the API reports it.
_DECISION_STATES = {"hide": "hidden", "unhide": "visible"}
# Actions about the posts' authors: each makes (or reuses) a global BlockRule of this kind.
_AUTHOR_RULE_KINDS = {"block_author": BlockRule.Kind.AUTHOR, "trust_author": BlockRule.Kind.TRUSTED}
DECISION_MAX_POSTS = 500  # posts per request: a page of the queue, well under one statement's limits


class DecisionRefused(ValueError):
    """A decision that cannot be made as asked; the message says why, for the moderator."""


@dataclass(frozen=True)
class PostDecided:
    post_id: int
    state: str  # the post's state once the decision is made: "visible" or "hidden"
    applied: bool  # False when the post was in that state already (e.g. another moderator was first)


@dataclass(frozen=True)
class Decided:
    results: list[PostDecided]  # one per post asked about, in the order asked
    batches: list[TopicBatch]  # to publish after commit, as tweets_set_hidden's


def posts_decide(
    *, topic: Topic, action: str, post_ids: Sequence[int], moderator: AbstractBaseUser
) -> Decided:
    """Make a moderator's decision about posts of `topic`, via the API.

    Raises DecisionRefused for an unknown action, one not available yet, or ids that are not posts
    of this topic (nothing is decided then). A post already in the asked state is answered with that
    state and `applied` false, and nothing is recorded for it: two moderators hiding the same post
    make one decision, not two. Hiding is global for now (Tweet.hidden): the post leaves every topic.
    """
    if action not in DECISION_ACTIONS:
        raise DecisionRefused(
            f"unknown action {action[:40]!r}, expected one of: {', '.join(DECISION_ACTIONS)}"
        )
    if action not in _DECISION_STATES and action not in _AUTHOR_RULE_KINDS:
        raise DecisionRefused(f"{action} is not available yet")
    wanted = list(dict.fromkeys(post_ids))  # asked twice is asked once
    if not wanted or len(wanted) > DECISION_MAX_POSTS:
        raise DecisionRefused(f"post_ids must name 1 to {DECISION_MAX_POSTS} posts")
    found = set(Tweet.objects.filter(topics=topic, pk__in=wanted).values_list("pk", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        shown = ", ".join(map(str, missing[:20]))
        raise DecisionRefused(f"not posts of topic {topic.slug}: {shown}")
    if action in _AUTHOR_RULE_KINDS:
        return _authors_decide(kind=_AUTHOR_RULE_KINDS[action], post_ids=wanted, moderator=moderator)
    state = _DECISION_STATES[action]
    changed, batches = _hidden_set(
        tweet_pks=wanted, hidden=state == "hidden", moderator=moderator, via=ModerationDecision.Via.API
    )
    return Decided([PostDecided(pk, state, pk in changed) for pk in wanted], batches)


def _authors_decide(*, kind: str, post_ids: list[int], moderator: AbstractBaseUser) -> Decided:
    """Block or trust the authors of posts: one active global rule per author, reused if it exists.

    Blocking hides the asked posts at once, as the moderator's decision (via "API", naming the rule),
    then applies the rule to the author's other stored posts as a saved rule is (`block_rule_apply`),
    so every open page drops them. `applied` is whether the asked post was hidden now. Trusting hides
    and shows nothing (approve mode will let trusted authors' posts skip its queue); `applied` is
    whether the author's rule is new, and `state` the post's state as it is.
    """
    posts = {
        t.pk: t for t in Tweet.objects.filter(pk__in=post_ids).only("pk", "author_id", "author_username")
    }
    with transaction.atomic():
        rules = {
            author_id: _author_rule(kind=kind, author_id=author_id, username=username, moderator=moderator)
            for author_id, username in {(p.author_id, p.author_username) for p in posts.values()}
        }
        if kind == BlockRule.Kind.TRUSTED:
            hidden = dict(Tweet.objects.filter(pk__in=post_ids).values_list("pk", "hidden"))
            results = [
                PostDecided(pk, "hidden" if hidden[pk] else "visible", rules[posts[pk].author_id][1])
                for pk in post_ids
            ]
            return Decided(results, [])
        changed, batches = set(), []
        for author_id, (rule, _) in rules.items():
            asked = [pk for pk in post_ids if posts[pk].author_id == author_id]
            hid, told = _hidden_set(
                tweet_pks=asked,
                hidden=True,
                moderator=moderator,
                via=ModerationDecision.Via.API,
                rule_id=rule.pk,
                reason=f"author @{rule.author_username or rule.value} is blocked",
            )
            changed |= hid
            batches += told + block_rule_apply(rule=rule, moderator=moderator)
    return Decided([PostDecided(pk, "hidden", pk in changed) for pk in post_ids], batches)


def _author_rule(
    *, kind: str, author_id: str, username: str, moderator: AbstractBaseUser
) -> tuple[BlockRule, bool]:
    """The active global rule of this kind for the author, and whether it was made just now."""
    rule = BlockRule.objects.filter(kind=kind, value=author_id, topic=None, is_active=True).first()
    if rule is not None:
        return rule, False
    rule = BlockRule.objects.create(
        kind=kind,
        value=author_id,
        author_username=username,
        created_by=moderator,
        note="from the moderation API",
    )
    logger.info("%s rule %d for author %s (@%s) by %s", kind, rule.pk, author_id, username, moderator)
    return rule, True


# The newest posts a saved rule is checked against, per save. A word rule costs about 50 µs a post
# (reading the stored payload, then one scan): 10,000 took 0.46 s on PostgreSQL here, which keeps the
# admin's request short. Older posts stay as they are; a moderator can hide them by hand.
RETROACTIVE_LIMIT = 10_000


def block_rule_apply(
    *, rule: BlockRule, moderator: AbstractBaseUser | None = None, limit: int = RETROACTIVE_LIMIT
) -> list[TopicBatch]:
    """Hide the visible stored posts an active word or author rule matches, among the newest `limit`.

    Through tweets_set_hidden (via "rule", naming the rule and its reason), so every open page drops
    them. A post a moderator has shown again is left alone: the release outranks the rules. A
    topic's rule only touches posts of that topic alone (hiding is global today).
    """
    if not rule.is_active or rule.kind == BlockRule.Kind.TRUSTED:
        return []
    candidates = Tweet.objects.filter(hidden=False).exclude(
        moderation_decisions__action=ModerationDecision.Action.SHOW
    )
    if rule.topic_id is not None:
        others = Topic.objects.exclude(pk=rule.topic_id)
        candidates = candidates.filter(topics=rule.topic_id).exclude(topics__in=others)
    if rule.kind == BlockRule.Kind.AUTHOR:
        candidates = candidates.filter(author_id=rule.value.strip())
    newest = candidates.order_by("-pk").only(
        "pk", "author_id", "author_username", "author_name", "text", "raw"
    )[:limit]
    matcher = Matcher.compile([rule])
    matched = [tweet for tweet in newest.iterator(chunk_size=500) if matcher.verdict(tweet)]
    reason = matcher.reasons.get(rule.pk, "")
    logger.info("block rule %d: %d stored posts hidden (%s)", rule.pk, len(matched), reason)
    return tweets_set_hidden(
        tweets=matched,
        hidden=True,
        moderator=moderator,
        via=ModerationDecision.Via.RULE,
        rule_id=rule.pk,
        reason=reason,
    )
