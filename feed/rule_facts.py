"""What the rule language's fact operators read from a post, for each network's shape.

`lang:`, `is:reply`, `is:retweet` and `has:media` (feed/rules.py) are matched on facts, not words.
X applies them on its server; every source that matches locally (replay, Bluesky, Mastodon) and
the X emulator take the facts from the post as its network sends it, here, so `python -is:retweet`
means the same on every network. Pure functions: they never raise on a malformed post, they
report what they can read (unknown language, original post, no media otherwise).
"""

from dataclasses import dataclass
from typing import Any

# Bluesky embeds (app.bsky.embed.*) that carry the post's own media; a link card
# (external) or a quoted post (record) is not media of the post.
_BLUESKY_MEDIA = frozenset({"app.bsky.embed.images", "app.bsky.embed.video"})
_BLUESKY_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"


@dataclass(frozen=True, slots=True)
class PostFacts:
    """A post's facts, as `Rule.matches` takes them: `rule.matches(text=…, **facts.kwargs())`."""

    lang: tuple[str, ...] = ()
    is_reply: bool = False
    is_repost: bool = False
    has_media: bool = False

    def kwargs(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "is_reply": self.is_reply,
            "is_repost": self.is_repost,
            "has_media": self.has_media,
        }


# An original post in an unknown language, without media: what a source that reads no facts passes.
NO_FACTS = PostFacts()


def x_facts(message: Any) -> PostFacts:
    """From an X stream message (`data`, `includes`): X's `lang`, `referenced_tweets` ("replied_to",
    "retweeted") and the post's own media (`attachments.media_keys`)."""
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        return PostFacts()
    kinds = {ref.get("type") for ref in _list(data.get("referenced_tweets")) if isinstance(ref, dict)}
    attachments = data.get("attachments") if isinstance(data.get("attachments"), dict) else {}
    return PostFacts(
        lang=_langs(data.get("lang")),
        is_reply="replied_to" in kinds,
        is_repost="retweeted" in kinds,
        has_media=bool(_list(attachments.get("media_keys"))),
    )


def bluesky_facts(record: Any) -> PostFacts:
    """From an app.bsky.feed.post record: `langs`, `reply`, and images or video in its `embed`
    (directly or as the media of recordWithMedia). A repost is another collection
    (app.bsky.feed.repost), never a post, so a Bluesky post is never a repost."""
    if not isinstance(record, dict):
        return PostFacts()
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    if embed.get("$type") == _BLUESKY_RECORD_WITH_MEDIA:
        embed = embed.get("media") if isinstance(embed.get("media"), dict) else {}
    return PostFacts(
        lang=_langs(record.get("langs")),
        is_reply=isinstance(record.get("reply"), dict),
        has_media=embed.get("$type") in _BLUESKY_MEDIA,
    )


def mastodon_facts(status: Any) -> PostFacts:
    """From a Mastodon Status: a boost (`reblog`) is a repost, and the boosted status gives
    `language`, `in_reply_to_id` and `media_attachments`, as it is the post shown."""
    if not isinstance(status, dict):
        return PostFacts()
    boosted = status.get("reblog") if isinstance(status.get("reblog"), dict) else None
    shown = boosted or status
    return PostFacts(
        lang=_langs(shown.get("language")),
        is_reply=bool(shown.get("in_reply_to_id")),
        is_repost=boosted is not None,
        has_media=bool(_list(shown.get("media_attachments"))),
    )


def _langs(value: Any) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    return tuple(v for v in values if isinstance(v, str) and v)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
