"""atproto records and identifiers, built as the Bluesky app would write them.

Sources, each in its own words:

* ``app.bsky.feed.post``: atproto ``lexicons/app/bsky/feed/post.json`` (text, facets, reply,
  embed, langs at most 3, tags at most 8, createdAt).
* Facets: ``lexicons/app/bsky/richtext/facet.json`` ("Indices are zero-indexed, counting bytes of
  the UTF-8 encoded text"), detected as ``packages/api/src/rich-text/detection.ts`` and
  ``util.ts`` do (``MENTION_REGEX``, ``URL_REGEX``, ``TAG_REGEX``, trailing punctuation).
* Embeds: ``lexicons/app/bsky/embed/{images,external,record,recordWithMedia,defs}.json`` and
  ``lexicons/com/atproto/repo/strongRef.json``.
* Likes and follows: ``app.bsky.feed.like`` and ``app.bsky.graph.follow`` as in the Jetstream v1
  README's examples.

Not reproduced: CIDs are well-formed CIDv1 (dag-cbor or raw, sha-256) but hash the JSON, not the
DAG-CBOR bytes; bare-domain links ("example.com" without a scheme, which the app detects with a
TLD list) and cashtags are not detected; a mention is faceted only when its handle resolves to an
account the emulator knows (the app drops mentions whose handle does not resolve).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
FOLLOW = "app.bsky.graph.follow"

MAX_IMAGES = 4  # embed/images.json: "maxLength": 4
MAX_TAG_GRAPHEMES = 64  # richtext/facet.json #tag: "maxGraphemes": 64

# rich-text/util.ts, translated to Python's re (no \p{P}: punctuation is checked with unicodedata).
MENTION_RE = re.compile(r"(^|\s|\()(@)([a-zA-Z0-9.-]+)(\b)")
URL_RE = re.compile(r"(^|\s|\()(https?://\S+)", re.IGNORECASE)
_TAG_BREAK = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"  # zero-width spaces, per util.ts
TAG_RE = re.compile(rf"(^|\s)[#＃]([^\s{_TAG_BREAK}]+)?")

_S32 = "234567abcdefghijklmnopqrstuvwxyz"  # atproto TID "base32-sortable" alphabet


# -- identifiers -------------------------------------------------------------------------------


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def cid_for(data: bytes, *, raw: bool = False) -> str:
    """A CIDv1 string (sha-256): ``bafyrei…`` for a record (dag-cbor), ``bafkrei…`` for a blob (raw)."""
    codec = 0x55 if raw else 0x71
    return "b" + _b32(bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest())


def plc_did(seed: str) -> str:
    """A did:plc shaped like the real ones (24 base32 characters), stable for a seed."""
    return "did:plc:" + _b32(hashlib.sha256(seed.encode()).digest())[:24]


def _s32(value: int, width: int) -> str:
    out = ""
    while value:
        value, rem = divmod(value, 32)
        out = _S32[rem] + out
    return out.rjust(width, "2")


class TidClock:
    """Record keys and revs: atproto TIDs (53-bit microseconds + 10-bit clock id), strictly increasing."""

    def __init__(self, clock_id: int = 7) -> None:
        self.clock_id = clock_id & 0x3FF
        self._last_us = 0

    def next(self) -> str:
        self._last_us = max(self._last_us + 1, time.time_ns() // 1000)
        return _s32(self._last_us, 11) + _s32(self.clock_id, 2)


def iso_ms(when: datetime | None = None) -> str:
    """The app's createdAt: UTC, milliseconds, ``Z`` (``2024-09-09T19:46:02.102Z``)."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def at_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def split_at_uri(uri: str) -> tuple[str, str, str]:
    """``at://did/collection/rkey`` -> its three parts; ValueError otherwise."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
        raise ValueError(f"not a record AT URI: {uri!r}")
    return parts[0], parts[1], parts[2]


# -- facets ------------------------------------------------------------------------------------


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


def _byte_index(text: str, char_index: int) -> int:
    return len(text[:char_index].encode("utf-8"))


def _facet(text: str, start: int, end: int, feature: dict) -> dict:
    return {
        "$type": "app.bsky.richtext.facet",
        "index": {"byteStart": _byte_index(text, start), "byteEnd": _byte_index(text, end)},
        "features": [feature],
    }


def _looks_like_handle(value: str) -> bool:
    # detection.ts checks the last label against the TLD list; a letters-only last label is the
    # approximation here (".test" handles pass, as detection.ts lets them).
    labels = value.split(".")
    return len(labels) >= 2 and all(labels) and labels[-1].isalpha()


def detect_facets(text: str, resolve_handle: Callable[[str], str | None]) -> list[dict]:
    """Mentions, links and tags in ``text``, as app.bsky.richtext.facet objects, by byteStart.

    ``resolve_handle`` maps a handle to a DID, or None (that mention then gets no facet)."""
    facets = []
    for m in MENTION_RE.finditer(text):
        handle = m.group(3)
        did = resolve_handle(handle.lower()) if _looks_like_handle(handle) else None
        if did is not None:
            start = m.start(3) - 1
            facets.append(
                _facet(text, start, m.end(3), {"$type": "app.bsky.richtext.facet#mention", "did": did})
            )
    for m in URL_RE.finditer(text):
        uri, start, end = m.group(2), m.start(2), m.end(2)
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        facets.append(_facet(text, start, end, {"$type": "app.bsky.richtext.facet#link", "uri": uri}))
    for m in TAG_RE.finditer(text):
        tag = (m.group(2) or "").strip()
        if tag.startswith("\ufe0f") or not any(not (c.isdigit() or _is_punct(c)) for c in tag):
            continue  # TAG_REGEX needs one character that is not a digit, space or punctuation
        tag = tag.rstrip("".join(c for c in set(tag) if _is_punct(c)))
        if not tag or len(tag) > MAX_TAG_GRAPHEMES:
            continue
        start = m.start(2) - 1
        facets.append(
            _facet(text, start, start + 1 + len(tag), {"$type": "app.bsky.richtext.facet#tag", "tag": tag})
        )
    facets.sort(key=lambda f: f["index"]["byteStart"])
    return facets


# -- records -----------------------------------------------------------------------------------


def blob(seed: str, mime_type: str = "image/jpeg", size: int = 123_456) -> dict:
    """A blob reference as a record holds it (the atproto data model's JSON form)."""
    return {
        "$type": "blob",
        "ref": {"$link": cid_for(seed.encode(), raw=True)},
        "mimeType": mime_type,
        "size": size,
    }


def strong_ref(uri: str, cid: str) -> dict:
    return {"uri": uri, "cid": cid}


def images_embed(images: list[dict | str], seed: str) -> dict:
    """app.bsky.embed.images: each image ``{"alt", "aspectRatio"?, "mimeType"?}`` or just its alt."""
    if not 1 <= len(images) <= MAX_IMAGES:
        raise ValueError(f"an images embed holds 1 to {MAX_IMAGES} images")
    out = []
    for i, image in enumerate(images):
        spec = {"alt": image} if isinstance(image, str) else dict(image)
        item = {
            "alt": str(spec.get("alt", "")),
            "image": blob(f"{seed}/{i}", spec.get("mimeType", "image/jpeg")),
        }
        if spec.get("aspectRatio"):
            ratio = spec["aspectRatio"]
            item["aspectRatio"] = {"width": int(ratio["width"]), "height": int(ratio["height"])}
        out.append(item)
    return {"$type": "app.bsky.embed.images", "images": out}


def external_embed(external: dict) -> dict:
    """app.bsky.embed.external: ``{"uri", "title", "description"}`` (no thumb)."""
    return {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": str(external["uri"]),
            "title": str(external.get("title", "")),
            "description": str(external.get("description", "")),
        },
    }


def record_embed(quoted: dict) -> dict:
    return {"$type": "app.bsky.embed.record", "record": quoted}


def post_embed(*, seed: str, images: list | None, external: dict | None, quote: dict | None) -> dict | None:
    """The post's one embed: images or external, a quote, or a quote with media (recordWithMedia)."""
    if images and external:
        raise ValueError("a post embeds images or an external link, not both")
    media = images_embed(images, seed) if images else external_embed(external) if external else None
    if quote and media:
        return {"$type": "app.bsky.embed.recordWithMedia", "record": record_embed(quote), "media": media}
    return record_embed(quote) if quote else media


def post_record(
    *,
    text: str,
    created_at: str,
    facets: list[dict],
    langs: list[str] | None = None,
    tags: list[str] | None = None,
    reply: dict | None = None,
    embed: dict | None = None,
) -> dict:
    record: dict = {"$type": POST, "text": text, "createdAt": created_at}
    if facets:
        record["facets"] = facets
    if langs:
        record["langs"] = list(langs)[:3]  # post.json: langs "maxLength": 3
    if tags:
        record["tags"] = list(tags)[:8]  # post.json: tags "maxLength": 8
    if reply:
        record["reply"] = reply
    if embed:
        record["embed"] = embed
    return record


def like_record(subject: dict, created_at: str) -> dict:
    return {"$type": LIKE, "createdAt": created_at, "subject": subject}


def repost_record(subject: dict, created_at: str) -> dict:
    return {"$type": REPOST, "createdAt": created_at, "subject": subject}


def follow_record(subject_did: str, created_at: str) -> dict:
    return {"$type": FOLLOW, "createdAt": created_at, "subject": subject_did}
