"""Tweet text to safe HTML, and the tweet's wire shape.

Everything from X is untrusted: text, names and URLs are escaped, and only http(s) links are made.
Entity offsets are code-point offsets into the text; when they do not point at what they claim (X has
shipped off-by-some offsets around escaped characters and emoji), the entity is looked up by its text
instead, and dropped if it is not there.
"""

import json
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from feed.models import Tweet

LINK_ATTRS = 'target="_blank" rel="noopener noreferrer nofollow ugc"'


# Where a hashtag or a mention links, per network, when its entity carries no `url` of its own (a
# Mastodon mention does: the account's page on its own server).
TAG_URLS = {"x": "https://x.com/hashtag/{}", "bluesky": "https://bsky.app/hashtag/{}"}
MENTION_URLS = {"x": "https://x.com/{}", "bluesky": "https://bsky.app/profile/{}"}


def tweet_html(text: str, entities: dict[str, Any], source: str = "x") -> str:
    """Return `text` as escaped HTML with hashtags, mentions and http(s) URLs linked to `source`'s
    network, and a post's own custom emoji as images. Entities are X's shape (code-point offsets);
    other networks' posts are given it. A post behind a content warning (Mastodon's spoiler_text)
    is folded behind it."""
    html = _linked(text, entities or {}, source)
    warning = str((entities or {}).get("spoiler_text") or "").strip()
    if warning:
        return f'<details class="tweet__cw"><summary>{escape(warning)}</summary>{html}</details>'
    return html


def _linked(text: str, entities: dict[str, Any], source: str) -> str:
    spans = sorted(_entity_spans(text, entities, source), key=lambda span: span[0])
    parts: list[str] = []
    cursor = 0
    for start, end, link in spans:
        if start < cursor:
            continue  # overlapping entities: the first one wins
        parts.append(escape(text[cursor:start]))
        parts.append(link)
        cursor = end
    parts.append(escape(text[cursor:]))
    return "".join(parts)


def _entity_spans(text: str, entities: dict[str, Any], source: str):
    for tag in _entity_list(entities, "hashtags"):
        name = str(tag.get("tag") or "")
        span = _locate(text, tag, "#" + name)
        if span and name:
            href = _own_url(tag) or TAG_URLS.get(source, TAG_URLS["x"]).format(quote(name))
            yield (*span, _anchor(href, text[span[0] : span[1]]))
    for mention in _entity_list(entities, "mentions"):
        name = str(mention.get("username") or "")
        span = _locate(text, mention, "@" + name)
        if span and name:
            href = _own_url(mention) or MENTION_URLS.get(source, MENTION_URLS["x"]).format(quote(name))
            yield (*span, _anchor(href, text[span[0] : span[1]]))
    for emoji in _entity_list(entities, "emojis"):
        code, url = str(emoji.get("shortcode") or ""), str(emoji.get("url") or "")
        span = _locate(text, emoji, f":{code}:")
        if span and code and url.startswith("https://"):
            alt = escape(f":{code}:", quote=True)
            image = f'<img class="emoji" src="{escape(url, quote=True)}" alt="{alt}" title="{alt}">'
            yield (*span, image)
    for url in _entity_list(entities, "urls"):
        short = str(url.get("url") or "")
        span = _locate(text, url, short)
        target = str(url.get("expanded_url") or short)
        if span and short and _is_http(target):
            label = str(url.get("display_url") or target)
            yield (*span, _anchor(target, label))


def _entity_list(entities: dict[str, Any], kind: str) -> list[dict]:
    items = entities.get(kind)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _locate(text: str, entity: dict, expected: str) -> tuple[int, int] | None:
    if len(expected) < 2:
        return None
    start, end = entity.get("start"), entity.get("end")
    # Only offsets inside the text: a negative one would slice from the end and repeat the text.
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
        if text[start:end].lower() == expected.lower():
            return start, end
    found = text.lower().find(expected.lower())
    return (found, found + len(expected)) if found >= 0 else None


def _own_url(entity: dict) -> str:
    """An entity's own link (http(s) only), as another network's posts may carry."""
    url = str(entity.get("url") or "")
    return url if _is_http(url) else ""


def _is_http(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def _anchor(href: str, label: str) -> str:
    return f'<a href="{escape(href, quote=True)}" {LINK_ATTRS}>{escape(label)}</a>'


def tweet_wire(tweet: Tweet, topic_slugs: list[str], *, seq: int, at: datetime) -> dict[str, Any]:
    """The tweet as clients receive it, over WebSocket and from the JSON API alike; `seq` is its
    place on the topic it is sent for (TopicPost.pk), `at` when it took that place (server time:
    the wall's spotlight schedules new posts by it, the same on every screen)."""
    return {
        "seq": seq,
        "id": tweet.network_id,
        "source": tweet.source,
        "text": tweet.text,
        "html": tweet_html(tweet.text, tweet.entities, tweet.source),
        "created_at": tweet.created_at.isoformat().replace("+00:00", "Z"),
        "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "url": tweet.url,
        "author": {
            "id": tweet.author_id,
            "username": tweet.author_username,
            "name": tweet.author_name,
            "avatar_url": tweet.author_avatar_url,
        },
        "lang": tweet.lang,
        "topics": topic_slugs,
        # Present only when the post has them: most posts have none, and every byte is sent to
        # every viewer (make bench's B/tweet).
        **{key: value for key, value in _optional(tweet) if value},
    }


def _optional(tweet: Tweet) -> tuple[tuple[str, Any], ...]:
    return (
        ("media", tweet.media),
        ("quote", tweet.quote),
        ("reply_to", tweet.reply_to),
        ("reposted_by", tweet.reposted_by),
    )


def encode(message: Any) -> str:
    """Compact JSON, the one encoding every frame and API response uses."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
