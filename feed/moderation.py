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
from django.utils import timezone

from feed.blocking import Matcher
from feed.models import BlockRule, ModerationDecision, ModerationEvent, Topic, TopicPost, Tweet
from feed.rendering import encode
from feed.selectors import moderation_wire
from feed.services import REVIEW, TopicBatch, decision_record

logger = logging.getLogger(__name__)


def tweets_set_hidden(
    *,
    tweets: Iterable[Tweet],
    hidden: bool,
    topic: Topic | None = None,
    moderator: AbstractBaseUser | None = None,
    via: str = ModerationDecision.Via.SYSTEM,
    rule_id: int | None = None,
    reason: str = "",
) -> list[TopicBatch]:
    """Hide tweets, or show them again, on `topic` or on every topic they belong to.

    Only posts whose state changes get an event, so showing a visible post again is a no-op and is
    not recorded. What changes is one ModerationDecision (who, via what, which tweets) for the audit.
    The returned batches only nudge web processes to read the new events now; a process that misses
    the nudge finds them on its next poll (feed/hub.py), so no screen depends on one pub/sub message.
    """
    _, batches = _posts_set(
        tweet_pks=[t.pk for t in tweets],
        topic_id=topic.pk if topic is not None else None,
        target=TopicPost.State.HIDDEN if hidden else TopicPost.State.VISIBLE,
        decided=ModerationDecision.Action.HIDE if hidden else ModerationDecision.Action.SHOW,
        moderator=moderator,
        via=via,
        rule_id=rule_id,
        reason=reason,
    )
    return batches


# From which states each target state is reached by a decision. Blocked posts are off already, so
# hiding leaves them blocked (with their reason); showing, approving or releasing makes any visible.
_FROM = {
    TopicPost.State.HIDDEN: (TopicPost.State.VISIBLE, TopicPost.State.PENDING),
    TopicPost.State.BLOCKED: (TopicPost.State.VISIBLE, TopicPost.State.PENDING),
    TopicPost.State.VISIBLE: (TopicPost.State.PENDING, TopicPost.State.HIDDEN, TopicPost.State.BLOCKED),
}
# Approving is for posts no moderator has decided on: a post another moderator hid meanwhile stays
# hidden when a stale view approves it (showing it again is "unhide", a decision of its own).
_APPROVABLE = (TopicPost.State.PENDING, TopicPost.State.BLOCKED)


def _posts_set(
    *,
    tweet_pks: list[int],
    topic_id: int | None,
    target: str,
    decided: str,
    moderator: AbstractBaseUser | None,
    via: str,
    rule_id: int | None = None,
    reason: str = "",
) -> tuple[set[int], list[TopicBatch]]:
    """Move the tweets' posts (on `topic_id`, or on all their topics) to `target`; return the tweets
    whose state changed somewhere, and the nudges to publish after commit: a "moderation" batch per
    topic for its viewers, and a REVIEW batch per topic with the changed posts for its moderators.

    The topics are locked before the posts' states are read, as ingest locks them: a second
    moderator's identical decision waits for the first to commit, then finds nothing to change, so a
    post never gets two events for one state change; and a post made visible takes its new seq in
    commit order (TopicPost). One that viewers never had (pending, or blocked at ingest) moves to the
    top: its row is replaced by one with a new id. One they had goes back to its place.
    """
    scope = TopicPost.objects.filter(tweet_id__in=tweet_pks)
    if topic_id is not None:
        scope = scope.filter(topic_id=topic_id)
    with transaction.atomic():
        topic_ids = set(scope.values_list("topic_id", flat=True))
        slugs = dict(
            Topic.objects.select_for_update()
            .filter(pk__in=topic_ids)
            .order_by("pk")
            .values_list("pk", "slug")
        )
        sources = _APPROVABLE if decided == ModerationDecision.Action.APPROVE else _FROM[target]
        changed = list(scope.filter(state__in=sources).select_related("tweet").order_by("pk"))
        if not changed:
            return set(), []
        decision = decision_record(
            action=decided,
            moderator=moderator,
            via=via,
            tweets=list({post.tweet_id: post.tweet for post in changed}.values()),
            rule_id=rule_id,
            reason=reason,
        )
        if target == TopicPost.State.VISIBLE:
            _posts_show(changed)
        else:
            TopicPost.objects.filter(pk__in=[post.pk for post in changed]).update(
                state=target, reason=reason[:300], rule_id=rule_id, pinned_at=None
            )
        action = (
            ModerationEvent.Action.SHOW if target == TopicPost.State.VISIBLE else ModerationEvent.Action.HIDE
        )
        events = ModerationEvent.objects.bulk_create(
            ModerationEvent(topic_id=post.topic_id, tweet_id=post.tweet_id, action=action, decision=decision)
            for post in changed
        )
    newest: dict[int, int] = {}
    for event in events:
        newest[event.topic_id] = max(newest.get(event.topic_id, 0), event.pk)
    batches = [TopicBatch(slugs[pk], "moderation", (), mod=mod) for pk, mod in newest.items()]
    return {post.tweet_id for post in changed}, batches + review_batches(changed, slugs, newest)


def review_batches(
    changed: list[TopicPost], slugs: dict[int, str], newest: dict[int, int]
) -> list[TopicBatch]:
    """For each topic's moderators: the changed posts as they are now, at the decision's mark."""
    pairs = {(post.topic_id, post.tweet_id) for post in changed}
    now = TopicPost.objects.filter(topic_id__in=newest, tweet_id__in={tweet_id for _, tweet_id in pairs})
    by_topic: dict[int, list[str]] = {}
    for post in now.select_related("tweet").prefetch_related("tweet__topics").order_by("pk"):
        if (post.topic_id, post.tweet_id) in pairs:
            by_topic.setdefault(post.topic_id, []).append(encode(moderation_wire(post)))
    return [
        TopicBatch(slugs[pk], REVIEW, (), items=tuple(items), mod=newest[pk])
        for pk, items in by_topic.items()
    ]


def _posts_show(posts: list[TopicPost]) -> None:
    """Make posts visible: back in their place if viewers had them, else at the top (a new seq)."""
    kept = [post.pk for post in posts if post.shown]
    TopicPost.objects.filter(pk__in=kept).update(state=TopicPost.State.VISIBLE, reason="", rule_id=None)
    moved = [post for post in posts if not post.shown]
    if moved:
        TopicPost.objects.filter(pk__in=[post.pk for post in moved]).delete()
        TopicPost.objects.bulk_create(  # in their old order: approving a page of the queue keeps it
            TopicPost(
                topic_id=post.topic_id, tweet_id=post.tweet_id, state=TopicPost.State.VISIBLE, shown=True
            )
            for post in moved
        )


def _pins_set(
    *, topic: Topic, tweet_pks: list[int], pinned: bool, moderator: AbstractBaseUser | None
) -> tuple[set[int], list[TopicBatch]]:
    """Pin visible posts of `topic` (on top of its pages, newest pin first), or unpin them.

    As `_posts_set`: under the topic's lock, only posts whose pin changes get an event, and pages
    are nudged after commit. A post that is not visible cannot be pinned: approve it first.
    """
    action = ModerationEvent.Action.PIN if pinned else ModerationEvent.Action.UNPIN
    with transaction.atomic():
        Topic.objects.select_for_update().filter(pk=topic.pk).first()
        posts = TopicPost.objects.filter(topic=topic, tweet_id__in=tweet_pks, pinned_at__isnull=pinned)
        if pinned:
            posts = posts.filter(state=TopicPost.State.VISIBLE)
        changed = list(posts.select_related("tweet").order_by("pk"))
        if not changed:
            return set(), []
        decision = decision_record(
            action=action,
            moderator=moderator,
            via=ModerationDecision.Via.API,
            tweets=[p.tweet for p in changed],
        )
        TopicPost.objects.filter(pk__in=[p.pk for p in changed]).update(
            pinned_at=timezone.now() if pinned else None
        )
        events = ModerationEvent.objects.bulk_create(
            ModerationEvent(topic=topic, tweet_id=post.tweet_id, action=action, decision=decision)
            for post in changed
        )
    mark = max(event.pk for event in events)
    nudge = TopicBatch(topic.slug, "moderation", (), mod=mark)
    review = review_batches(changed, {topic.pk: topic.slug}, {topic.pk: mark})
    return {post.tweet_id for post in changed}, [nudge, *review]


# What a moderator may ask of a post (or its author) through the API.
DECISION_ACTIONS = ("approve", "hide", "unhide", "pin", "unpin", "block_author", "trust_author")
# Each post action: the state it moves posts to on the topic, and how the audit names it.
_POST_ACTIONS = {
    "approve": (TopicPost.State.VISIBLE, ModerationDecision.Action.APPROVE),
    "unhide": (TopicPost.State.VISIBLE, ModerationDecision.Action.SHOW),
    "hide": (TopicPost.State.HIDDEN, ModerationDecision.Action.HIDE),
}
# Actions about the posts' authors: each makes (or reuses) a global BlockRule of this kind.
_AUTHOR_RULE_KINDS = {"block_author": BlockRule.Kind.AUTHOR, "trust_author": BlockRule.Kind.TRUSTED}
DECISION_MAX_POSTS = 500  # posts per request: a page of the queue, well under one statement's limits


class DecisionRefused(ValueError):
    """A decision that cannot be made as asked; the message says why, for the moderator."""


@dataclass(frozen=True)
class PostDecided:
    post_id: int
    state: str  # the post's state on the topic once the decision is made (a TopicPost.State)
    applied: bool  # False when the post was in that state already (e.g. another moderator was first)
    pinned: bool = False  # whether it is pinned on the topic now


@dataclass(frozen=True)
class Decided:
    results: list[PostDecided]  # one per post asked about, in the order asked
    batches: list[TopicBatch]  # to publish after commit, as tweets_set_hidden's


def posts_decide(
    *, topic: Topic, action: str, post_ids: Sequence[int], moderator: AbstractBaseUser
) -> Decided:
    """Make a moderator's decision about posts of `topic`, via the API, on that topic only.

    Raises DecisionRefused for an unknown action, or ids that are not posts
    of this topic (nothing is decided then). A post already in the asked state is answered with that
    state and `applied` false, and nothing is recorded for it: two moderators hiding the same post
    make one decision, not two.
    """
    if action not in DECISION_ACTIONS:
        raise DecisionRefused(
            f"unknown action {action[:40]!r}, expected one of: {', '.join(DECISION_ACTIONS)}"
        )
    wanted = list(dict.fromkeys(post_ids))  # asked twice is asked once
    if not wanted or len(wanted) > DECISION_MAX_POSTS:
        raise DecisionRefused(f"post_ids must name 1 to {DECISION_MAX_POSTS} posts")
    found = set(TopicPost.objects.filter(topic=topic, tweet_id__in=wanted).values_list("tweet_id", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        shown = ", ".join(map(str, missing[:20]))
        raise DecisionRefused(f"not posts of topic {topic.slug}: {shown}")
    if action in _AUTHOR_RULE_KINDS:
        return _authors_decide(
            topic=topic, kind=_AUTHOR_RULE_KINDS[action], post_ids=wanted, moderator=moderator
        )
    if action in ("pin", "unpin"):
        changed, batches = _pins_set(
            topic=topic, tweet_pks=wanted, pinned=action == "pin", moderator=moderator
        )
        return Decided(_results(topic, wanted, changed), batches)
    target, decided = _POST_ACTIONS[action]
    changed, batches = _posts_set(
        tweet_pks=wanted,
        topic_id=topic.pk,
        target=target,
        decided=decided,
        moderator=moderator,
        via=ModerationDecision.Via.API,
    )
    return Decided(_results(topic, wanted, changed), batches)


def _results(topic: Topic, post_ids: list[int], changed: set[int]) -> list[PostDecided]:
    rows = TopicPost.objects.filter(topic=topic, tweet_id__in=post_ids).values_list(
        "tweet_id", "state", "pinned_at"
    )
    now = {tweet_id: (state, pinned_at is not None) for tweet_id, state, pinned_at in rows}
    return [PostDecided(pk, now[pk][0], pk in changed, now[pk][1]) for pk in post_ids]


def _authors_decide(*, topic: Topic, kind: str, post_ids: list[int], moderator: AbstractBaseUser) -> Decided:
    """Block or trust the authors of posts: one active global rule per author, reused if it exists.

    Blocking hides the asked posts at once, as the moderator's decision (via "API", naming the rule),
    then applies the rule to the author's other stored posts as a saved rule is (`block_rule_apply`),
    so every open page drops them. Trusting approves the author's posts waiting in any queue, as
    the rule would have at ingest. `applied` is whether the asked post's state changed now.
    """
    posts = {
        t.pk: t for t in Tweet.objects.filter(pk__in=post_ids).only("pk", "author_id", "author_username")
    }
    changed, batches = set(), []
    with transaction.atomic():
        for author_id, username in {(p.author_id, p.author_username) for p in posts.values()}:
            rule, _ = _author_rule(kind=kind, author_id=author_id, username=username, moderator=moderator)
            asked = [pk for pk in post_ids if posts[pk].author_id == author_id]
            if kind == BlockRule.Kind.TRUSTED:
                theirs = TopicPost.objects.filter(tweet__author_id=author_id, state=TopicPost.State.PENDING)
                done, told = (
                    _posts_set(
                        tweet_pks=list({*asked, *theirs.values_list("tweet_id", flat=True)}),
                        topic_id=None,
                        target=TopicPost.State.VISIBLE,
                        decided=ModerationDecision.Action.APPROVE,
                        moderator=moderator,
                        via=ModerationDecision.Via.API,
                        rule_id=rule.pk,
                        reason=f"author @{rule.author_username or rule.value} is trusted",
                    )
                    if theirs.exists()
                    else (set(), [])
                )
            else:
                done, told = _posts_set(
                    tweet_pks=asked,
                    topic_id=topic.pk,
                    target=TopicPost.State.HIDDEN,
                    decided=ModerationDecision.Action.HIDE,
                    moderator=moderator,
                    via=ModerationDecision.Via.API,
                    rule_id=rule.pk,
                    reason=f"author @{rule.author_username or rule.value} is blocked",
                )
                told += block_rule_apply(rule=rule, moderator=moderator)
            changed |= done & set(asked)
            batches += told
    return Decided(_results(topic, post_ids, changed), batches)


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
    """Block the visible or pending posts an active word or author rule matches, among the newest
    `limit`, on the rule's topic (or every topic for a global rule).

    Through the same path as a moderator's hide (via "rule", naming the rule and its reason), so
    every open page drops them. A post a moderator has shown again is left alone: the release
    outranks the rules.
    """
    if not rule.is_active or rule.kind == BlockRule.Kind.TRUSTED:
        return []
    candidates = TopicPost.objects.filter(state__in=_FROM[TopicPost.State.BLOCKED]).exclude(
        tweet__moderation_decisions__action=ModerationDecision.Action.SHOW
    )
    if rule.topic_id is not None:
        candidates = candidates.filter(topic_id=rule.topic_id)
    if rule.kind == BlockRule.Kind.AUTHOR:
        candidates = candidates.filter(tweet__author_id=rule.value.strip())
    newest = (
        Tweet.objects.filter(pk__in=candidates.values("tweet_id"))
        .order_by("-pk")
        .only("pk", "author_id", "author_username", "author_name", "text", "raw")[:limit]
    )
    matcher = Matcher.compile([rule])
    matched = [tweet.pk for tweet in newest.iterator(chunk_size=500) if matcher.verdict(tweet)]
    reason = matcher.reasons.get(rule.pk, "")
    logger.info("block rule %d: %d stored posts blocked (%s)", rule.pk, len(matched), reason)
    _, batches = _posts_set(
        tweet_pks=matched,
        topic_id=rule.topic_id,
        target=TopicPost.State.BLOCKED,
        decided=ModerationDecision.Action.HIDE,
        moderator=moderator,
        via=ModerationDecision.Via.RULE,
        rule_id=rule.pk,
        reason=reason,
    )
    return batches
