"""The one step that turns an X API v2 stream message into the project's tweet shape.

Both stream sources (X and replay) deliver messages in the live stream's payload shape, so this is the
only place that knows that shape. Anything malformed raises PayloadError with a reason, never
something else: the worker logs it and carries on.

What comes out can be stored: json.loads turns "\\ud800" into a lone surrogate and "\\u0000" into a
NUL, and accepts NaN, none of which PostgreSQL (text or jsonb) or SQLite will store. Every string
of the payload, keys included, is cleaned first, so the text, the names, the entities and the raw
payload kept with the tweet are all storable.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from feed.media import x_media
from feed.references import reposter, x_quote, x_reply_to, x_reposted

# X's own ids are 64-bit integers: at most 20 digits. Anything else is not an X id.
X_ID_PATTERN = re.compile(r"[0-9]{1,20}")  # used with fullmatch: `$` would let "123\n" through
# X's longest posts (long-form, premium accounts) are 25,000 characters; more is not a real tweet.
MAX_TEXT_CHARS = 25_000
# The stream escapes only these three characters in text; other entities stand as typed.
_X_ESCAPES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_X_ESCAPE_PATTERN = re.compile("|".join(_X_ESCAPES))
# What neither database stores: NUL (dropped) and lone surrogates (json.loads pairs real ones).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class PayloadError(ValueError):
    """A stream message that cannot become a tweet; str() says why."""


@dataclass(frozen=True)
class NormalizedTweet:
    network_id: str
    text: str
    lang: str
    created_at: datetime
    author_id: str
    author_username: str
    author_name: str
    author_avatar_url: str
    entities: dict[str, Any] = field(default_factory=dict)
    topic_slugs: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = "x"  # which network: Tweet.Source
    permalink: str = ""  # the post's URL, where its network's id does not give it
    media: tuple[dict[str, Any], ...] = ()  # images, videos, GIFs in feed/media.py's shape
    quote: dict[str, Any] | None = None  # the post it quotes, as feed/references.py's card
    # Its network marks its media sensitive (X's possibly_sensitive, Mastodon's sensitive, a Bluesky
    # self-label): such a post waits for a moderator on every topic (feed/admission.py).
    sensitive: bool = False
    reply_to: dict[str, str] | None = None  # whom it answers (feed/references.py)
    reposted_by: dict[str, str] | None = None  # for a repost shown as its original: who reposted it

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the post everywhere: its network and its id there."""
        return self.source, self.network_id


def normalize(payload: Any) -> NormalizedTweet:
    """Return the tweet in `payload`, or raise PayloadError naming what is wrong."""
    if not isinstance(payload, dict):
        raise PayloadError(f"message is a {type(payload).__name__}, not an object")
    payload = storable(payload)
    data = payload.get("data")
    if not isinstance(data, dict):
        if "errors" in payload:
            raise PayloadError(f"errors-only message: {_summarize_errors(payload['errors'])}")
        raise PayloadError("message has no 'data' object")
    x_id = data.get("id")
    if not isinstance(x_id, str) or not X_ID_PATTERN.fullmatch(x_id):
        raise PayloadError(f"tweet id is not an X id: {str(x_id)[:40]!r}")
    text = data.get("text")
    if not isinstance(text, str):
        raise PayloadError(f"tweet {x_id} has no text")
    author_id = str(data.get("author_id") or "")
    author = _find_author(payload, author_id)
    shown, shown_author, reposted_by = data, author, None
    if (reposted := x_reposted(payload)) is not None:
        # A repost is shown as the original ("RT @…: " cut short is X's wire, not the post), and by
        # whom it was reposted; block rules still see the reposter (feed/blocking.py).
        shown, shown_author = reposted
        reposted_by = reposter(author.get("username"), author.get("name"), _profile_url(author))
        text = shown["text"]
        author_id = str(shown.get("author_id") or "")
    return NormalizedTweet(
        network_id=x_id,
        text=_unescape(text)[:MAX_TEXT_CHARS],
        lang=str(shown.get("lang") or data.get("lang") or "")[:16],
        created_at=_parse_time(data.get("created_at")),
        author_id=author_id[:32],
        author_username=str(shown_author.get("username") or "")[:64],
        author_name=str(shown_author.get("name") or shown_author.get("username") or "")[:200],
        author_avatar_url=_http_url(shown_author.get("profile_image_url"))[:500],
        entities=_valid_entities(shown.get("entities"), len(text)),
        topic_slugs=_matching_tags(payload),
        raw=payload,
        media=tuple(x_media(payload)),
        quote=x_quote(payload),
        sensitive=data.get("possibly_sensitive") is True,
        reply_to=x_reply_to(payload),
        reposted_by=reposted_by,
    )


def _profile_url(user: dict) -> str:
    username = user.get("username")
    return (
        f"https://x.com/{username}" if isinstance(username, str) and username.isascii() and username else ""
    )


def storable(value: Any) -> Any:
    """`value` (decoded JSON) with NULs removed, lone surrogates made U+FFFD and NaN/Infinity null."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(_replacement, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _replacement(match: re.Match) -> str:
    return "" if match.group(0) == "\x00" else "\ufffd"


def _valid_entities(entities: Any, text_length: int) -> dict[str, Any]:
    """The entities whose offsets could point into the text; others are dropped.

    Offsets are bounded by the text as sent (before unescaping &amp;), because X has shipped
    off-by-some offsets that the renderer still places by looking for the entity's text.
    """
    if not isinstance(entities, dict):
        return {}
    valid: dict[str, Any] = {}
    for kind, items in entities.items():
        if isinstance(items, list):
            valid[kind] = [item for item in items if _valid_span(item, text_length)]
        else:
            valid[kind] = items
    return valid


def _valid_span(item: Any, text_length: int) -> bool:
    if not isinstance(item, dict):
        return False
    start, end = item.get("start"), item.get("end")
    if start is None and end is None:
        return True  # no offsets to trust: the renderer looks for the entity's text
    return _offset(start) and _offset(end) and 0 <= start < end <= text_length


def _offset(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _find_author(payload: dict, author_id: str) -> dict:
    includes = payload.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    for user in users if isinstance(users, list) else []:
        if isinstance(user, dict) and str(user.get("id")) == author_id:
            return user
    return {}


def _matching_tags(payload: dict) -> tuple[str, ...]:
    rules = payload.get("matching_rules")
    tags = [r.get("tag") for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
    return tuple(dict.fromkeys(tag for tag in tags if isinstance(tag, str) and tag))


def _unescape(text: str) -> str:
    return _X_ESCAPE_PATTERN.sub(lambda m: _X_ESCAPES[m.group(0)], text)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)  # as the database gives it back, so live equals stored
    return datetime.now(UTC)


def _http_url(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""


def _summarize_errors(errors: Any) -> str:
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("title") or first.get("disconnect_type") or first)[:200]
    return str(errors)[:200]
