"""A Bluesky post, as Jetstream delivers it, in the project's post shape (`NormalizedTweet`).

Pure conversion, no I/O: the source (streamer/sources/bluesky.py) matches, resolves the author and
calls `bluesky_post`. What it does with Bluesky's own forms:

- Facets (app.bsky.richtext.facet) count UTF-8 BYTES; entities count code points, in X's shape:
  #tag → `hashtags`, #mention → `mentions` (username: the handle as written, url: the profile by
  DID), #link → `urls` (http(s) only; `url` the text as written, `expanded_url` the facet's uri).
  A facet whose offsets are not ints, fall outside the text, cut a character in two, or point at
  text that does not fit its feature is dropped; nothing here raises on a hostile record.
- Images (embed images, or the media of recordWithMedia) keep their alt text in
  `raw["includes"]["media"][].alt_text`, and a reply or quote becomes `raw["data"]
  ["referenced_tweets"]` ("replied_to", "quoted" with the quoted post's at:// URI as its id), where
  the block rules and topic filters read X's posts (feed/blocking.py, feed/filters.py).
- `raw` is the Jetstream event, cleaned with `storable`, plus those two keys.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from feed.media import bluesky_media
from feed.normalize import MAX_TEXT_CHARS, NormalizedTweet, PayloadError, storable
from feed.references import bluesky_quote, bluesky_quoted_uri, bluesky_reply_to

POST_COLLECTION = "app.bsky.feed.post"
SOURCE = "bluesky"
# bsky.app shows links shortened to about this many characters, then "…".
DISPLAY_URL_CHARS = 30
# A DID as atproto defines it (did:plc:…, did:web:…); anything else is not put in a URL.
_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}")
# A record key (atproto "rkey"): 1-512 of these characters.
_RKEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
# Columns of Tweet (feed/models.py): a did:web longer than 32 characters is cut, and so not unique.
AUTHOR_ID_CHARS, USERNAME_CHARS, NAME_CHARS, URL_CHARS = 32, 64, 200, 500
_FEATURE = "app.bsky.richtext.facet#"


@dataclass(frozen=True)
class BlueskyAuthor:
    """Who posted, as the AppView's getProfiles says; only the DID until it has answered."""

    did: str
    handle: str = ""
    name: str = ""
    avatar_url: str = ""
    # For the topic filters on followers and account age (feed/filters.py); None: not known yet.
    followers: int | None = None
    created_at: str = ""  # the profile's createdAt, ISO 8601


def is_did(value: Any) -> bool:
    return isinstance(value, str) and _DID.fullmatch(value) is not None


def post_uri(did: str, rkey: str) -> str:
    """The post's at:// URI, its id on Bluesky (Tweet.network_id); PayloadError if not well formed."""
    if not is_did(did) or not isinstance(rkey, str) or not _RKEY.fullmatch(rkey):
        raise PayloadError(f"not a post's DID and record key: {str(did)[:60]!r}, {str(rkey)[:40]!r}")
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def extra_tags(record: dict[str, Any]) -> list[str]:
    """The post's hashtags as rules see them beyond its text: the record's `tags` (hashtags the app
    does not show) and its facets' #tags, each as "#tag"."""
    tags = record.get("tags")
    found = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    for facet in _list(record.get("facets")):
        for feature in _list(facet.get("features") if isinstance(facet, dict) else None):
            if isinstance(feature, dict) and feature.get("$type") == _FEATURE + "tag":
                if isinstance(feature.get("tag"), str):
                    found.append(feature["tag"])
    return ["#" + t.lstrip("#＃") for t in dict.fromkeys(found) if t.strip("#＃ ")]


def bluesky_post(
    event: dict[str, Any], *, author: BlueskyAuthor, topic_slugs: tuple[str, ...] = ()
) -> NormalizedTweet:
    """The post in a Jetstream commit event (create or update); PayloadError if it has none."""
    commit = event.get("commit") if isinstance(event.get("commit"), dict) else {}
    record = commit.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise PayloadError("commit has no post record with text")
    uri = post_uri(event.get("did"), commit.get("rkey"))
    # Offsets count the text as sent; NULs and lone surrogates are cleaned after (`storable`).
    entities = storable(facet_entities(record["text"], record.get("facets")))
    clean = storable(event)
    record = clean["commit"]["record"]
    text = record["text"][:MAX_TEXT_CHARS]
    langs = record.get("langs")
    handle = author.handle or author.did
    return NormalizedTweet(
        network_id=uri,
        text=text,
        lang=str(langs[0])[:16] if isinstance(langs, list) and langs else "",
        created_at=parse_created_at(record.get("createdAt")),
        author_id=author.did[:AUTHOR_ID_CHARS],
        author_username=handle[:USERNAME_CHARS],
        author_name=(author.name or handle)[:NAME_CHARS],
        author_avatar_url=author.avatar_url if len(author.avatar_url) <= URL_CHARS else "",
        entities=entities,
        topic_slugs=topic_slugs,
        raw=_with_author_facts({**clean, **_x_like_parts(record)}, author),
        source=SOURCE,
        media=tuple(bluesky_media(author.did, record)),
        # The quoted post's URI only: the source looks its content up (getPosts) and fills it in.
        quote=bluesky_quote(quoted, None) if (quoted := bluesky_quoted_uri(record)) else None,
        sensitive=bool(self_labels(record) & SENSITIVE_LABELS),
        reply_to=bluesky_reply_to(record),
    )


def parse_created_at(value: Any) -> datetime:
    """createdAt in UTC; now, if it is missing, not ISO 8601, naive, or in the future (clock skew or
    a lie: a post dated next year would sit on top of every wall)."""
    now = datetime.now(UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return min(parsed.astimezone(UTC), now)
        except (ValueError, OverflowError):  # year 9999 with an offset overflows in UTC
            return now
    return now


def facet_entities(text: str, facets: Any) -> dict[str, list[dict[str, Any]]]:
    """Facets (UTF-8 byte offsets) → X-shaped entities (code-point offsets); bad facets dropped."""
    entities: dict[str, list[dict[str, Any]]] = {"hashtags": [], "mentions": [], "urls": []}
    facets = _list(facets)
    if not facets:
        return entities
    to_char = _char_offsets(text)
    for facet in facets:
        span = _span(facet, to_char)
        if span is None:
            continue
        start, end = span
        for feature in _list(facet.get("features")):
            if (found := _entity(text[start:end], feature)) is not None:
                kind, entity = found
                entities[kind].append({"start": start, "end": end, **entity})
                break  # one entity per span: the renderer links each piece of text once
    return entities


def _char_offsets(text: str) -> dict[int, int]:
    """Byte offset → code-point offset, at every character boundary (and the end)."""
    offsets, position = {0: 0}, 0
    for index, char in enumerate(text, start=1):
        position += len(char.encode("utf-8", "surrogatepass"))
        offsets[position] = index
    return offsets


def _span(facet: Any, to_char: dict[int, int]) -> tuple[int, int] | None:
    index = facet.get("index") if isinstance(facet, dict) else None
    if not isinstance(index, dict):
        return None
    start, end = to_char.get(_int(index.get("byteStart"))), to_char.get(_int(index.get("byteEnd")))
    if start is None or end is None or start >= end:
        return None
    return start, end


def _entity(span_text: str, feature: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(feature, dict):
        return None
    kind = feature.get("$type")
    if kind == _FEATURE + "tag" and isinstance(feature.get("tag"), str) and span_text[:1] in "#＃":
        tag = feature["tag"].lstrip("#＃")
        return ("hashtags", {"tag": tag}) if tag else None
    if kind == _FEATURE + "mention" and is_did(feature.get("did")) and span_text.startswith("@"):
        handle = span_text[1:]
        url = "https://bsky.app/profile/" + quote(feature["did"], safe=":")
        return ("mentions", {"username": handle, "url": url}) if handle else None
    if kind == _FEATURE + "link" and _is_http(feature.get("uri")):
        uri = feature["uri"]
        return "urls", {"url": span_text, "expanded_url": uri, "display_url": display_url(uri)}
    return None


def display_url(uri: str) -> str:
    """A link as bsky.app shows it: no scheme, no "www.", at most DISPLAY_URL_CHARS and "…"."""
    short = re.sub(r"^https?://(www\.)?", "", uri, flags=re.IGNORECASE)
    return short if len(short) <= DISPLAY_URL_CHARS else short[: DISPLAY_URL_CHARS - 1] + "…"


def _x_like_parts(record: dict[str, Any]) -> dict[str, Any]:
    """Image alt texts and referenced posts where feed/blocking.py and feed/filters.py read X's."""
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    media_embed = embed.get("media") if isinstance(embed.get("media"), dict) else embed
    media = [
        {"type": "photo", "alt_text": image["alt"]}
        for image in _list(media_embed.get("images"))
        if isinstance(image, dict) and isinstance(image.get("alt"), str)
    ]
    references = []
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    if uri := _ref_uri(reply.get("parent")):
        references.append({"type": "replied_to", "id": uri})
    quoted = embed.get("record") if isinstance(embed.get("record"), dict) else {}
    if uri := _ref_uri(quoted.get("record") if "record" in quoted else quoted):
        references.append({"type": "quoted", "id": uri})
    parts: dict[str, Any] = {}
    if media:
        parts["includes"] = {"media": media}
    if references:
        parts["data"] = {"referenced_tweets": references}
    return parts


# Self-labels (com.atproto.label.defs#selfLabels) that mark a post's media as adult or graphic.
SENSITIVE_LABELS = frozenset({"porn", "sexual", "nudity", "graphic-media", "gore"})


def self_labels(record: dict[str, Any]) -> set[str]:
    labels = record.get("labels") if isinstance(record.get("labels"), dict) else {}
    values = _list(labels.get("values"))
    return {v["val"] for v in values if isinstance(v, dict) and isinstance(v.get("val"), str)}


def _with_author_facts(raw: dict[str, Any], author: BlueskyAuthor) -> dict[str, Any]:
    """The author's followers and account age where the topic filters read X's (includes.users);
    a post whose profile has not come has none, and those filters let it through."""
    user: dict[str, Any] = {"id": author.did[:AUTHOR_ID_CHARS], "username": author.handle}
    if author.followers is not None:
        user["public_metrics"] = {"followers_count": author.followers}
    if author.created_at:
        user["created_at"] = author.created_at
    if len(user) == 2:
        return raw
    includes = raw.get("includes") if isinstance(raw.get("includes"), dict) else {}
    return {**raw, "includes": {**includes, "users": [user]}}


def _ref_uri(ref: Any) -> str:
    uri = ref.get("uri") if isinstance(ref, dict) else None
    return uri if isinstance(uri, str) and uri.startswith("at://") else ""


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_http(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))
