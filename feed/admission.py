"""What state a new post takes on each topic it matches: shown, held for approval, or blocked.

Checked once per post and topic at ingest, in Python, before the one INSERT (feed/services.py). In
order: the block rules (global and the topic's own), the topic's filters (feed/filters.py), its
trusted-only switch, then its moderation mode. Trusted accounts skip the filters and the approval
queue, since a moderator vouched for them, but not the block rules: a moderator named those words
and authors, so a trusted account that posts a blocked word is still blocked.
"""

from dataclasses import dataclass

from feed.blocking import Post, RuleSet
from feed.filters import TopicFilters
from feed.models import Topic, TopicPost

UNTRUSTED = "untrusted"  # the reason a trusted-only topic gives for everyone else's posts


@dataclass(frozen=True)
class Admission:
    state: str  # a TopicPost.State
    reason: str = ""  # why it is blocked: the rule's reason in words, or the filter's name
    rule_id: int | None = None


VISIBLE = Admission(TopicPost.State.VISIBLE)
PENDING = Admission(TopicPost.State.PENDING)


def post_admission(post: Post, topic: Topic, rules: RuleSet, filters: TopicFilters) -> Admission:
    """The state `post` takes on `topic`; `filters` is TopicFilters.of(topic), built once per batch."""
    verdict = rules.verdict(post, topic_id=topic.pk)
    if verdict is not None:
        return Admission(TopicPost.State.BLOCKED, verdict.reason, verdict.rule_id)
    trusted = rules.is_trusted(author_id=post.author_id, topic_id=topic.pk)
    if not trusted and filters.active and (reason := filters.reason(post)) is not None:
        return Admission(TopicPost.State.BLOCKED, reason)
    if topic.trusted_only and not trusted:
        return Admission(TopicPost.State.BLOCKED, UNTRUSTED)
    if topic.moderation == Topic.Moderation.APPROVE and not trusted:
        return PENDING
    if _content_warning(post):
        # A Mastodon post behind a content warning stays off the wall until a moderator approves it.
        return Admission(TopicPost.State.PENDING, CONTENT_WARNING)
    if getattr(post, "sensitive", False) and getattr(post, "media", ()):
        # Media its network marks sensitive never reach a projector unseen: a moderator looks first.
        return Admission(TopicPost.State.PENDING, SENSITIVE_MEDIA)
    return VISIBLE


CONTENT_WARNING = "content warning"
SENSITIVE_MEDIA = "sensitive media"


def _content_warning(post: Post) -> bool:
    entities = getattr(post, "entities", None)
    return isinstance(entities, dict) and bool(str(entities.get("spoiler_text") or "").strip())
