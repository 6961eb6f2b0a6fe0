"""A post's images, videos and GIFs in one shape for every network, read from each network's own.

Each item is `{"type": "photo"|"video"|"gif", "url", "width", "height", "alt"}`: `url` is always an
image a page can show (for a video or GIF, its preview; the page links it to the post), and the
width and height are the image's, so a page sizes it before it loads (nothing jumps on a
projector). Only http(s) URLs are kept, at most MAX_MEDIA per post; an item without a usable image is
dropped, never an error: media are decoration, the post stands without them.

- X: `data.attachments.media_keys` matched through `includes.media` (the stream's
  `expansions=attachments.media_keys` and `media.fields`), in the order of the keys.
- Bluesky: the record's `embed` (app.bsky.embed.images, .video, or the media of .recordWithMedia):
  blobs are addressed on Bluesky's CDN by the author's DID and the blob's CID, as the app does.
- Mastodon: the status's `media_attachments` (image, gifv, video; audio has no image).
"""

import re
from typing import Any

MAX_MEDIA = 4  # what X and Bluesky allow per post; Mastodon allows 4 too
URL_CHARS, ALT_CHARS = 500, 2000
# Where Bluesky serves images and video thumbnails (the CSP's img-src lists these hosts).
BLUESKY_IMAGE_URL = "https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg"
BLUESKY_VIDEO_THUMB_URL = "https://video.bsky.app/watch/{did}/{cid}/thumbnail.jpg"
_CID = re.compile(r"[a-z2-7]{8,100}|[A-Za-z0-9]{8,100}")
_X_TYPES = {"photo": "photo", "video": "video", "animated_gif": "gif"}
_MASTODON_TYPES = {"image": "photo", "video": "video", "gifv": "gif"}


def media_item(kind: str, url: Any, width: Any = None, height: Any = None, alt: Any = "") -> dict | None:
    """One item in the shared shape, or None if its URL is not an http(s) image address."""
    if (
        not isinstance(url, str)
        or not url.lower().startswith(("https://", "http://"))
        or len(url) > URL_CHARS
    ):
        return None
    return {
        "type": kind,
        "url": url,
        "width": _dimension(width),
        "height": _dimension(height),
        "alt": alt[:ALT_CHARS] if isinstance(alt, str) else "",
    }


def x_media(payload: dict[str, Any]) -> list[dict]:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    attachments = data.get("attachments") if isinstance(data.get("attachments"), dict) else {}
    keys = [key for key in _list(attachments.get("media_keys")) if isinstance(key, str)]
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    by_key = {m.get("media_key"): m for m in _list(includes.get("media")) if isinstance(m, dict)}
    items = []
    for key in keys:
        media = by_key.get(key) or {}
        kind = _X_TYPES.get(media.get("type"))
        if kind is None:
            continue
        image = media.get("url") if kind == "photo" else media.get("preview_image_url")
        items.append(media_item(kind, image, media.get("width"), media.get("height"), media.get("alt_text")))
    return _kept(items)


def bluesky_media(did: str, record: dict[str, Any]) -> list[dict]:
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        embed = embed.get("media") if isinstance(embed.get("media"), dict) else {}
    kind = embed.get("$type")
    if kind == "app.bsky.embed.images":
        images = [image for image in _list(embed.get("images")) if isinstance(image, dict)]
        items = [
            _bluesky_item("photo", BLUESKY_IMAGE_URL, did, image.get("image"), image) for image in images
        ]
        return _kept(items)
    if kind == "app.bsky.embed.video":
        return _kept([_bluesky_item("video", BLUESKY_VIDEO_THUMB_URL, did, embed.get("video"), embed)])
    return []


def mastodon_media(status: dict[str, Any]) -> list[dict]:
    items = []
    for attachment in _list(status.get("media_attachments")):
        if not isinstance(attachment, dict) or (kind := _MASTODON_TYPES.get(attachment.get("type"))) is None:
            continue
        meta = attachment.get("meta") if isinstance(attachment.get("meta"), dict) else {}
        size = meta.get("original") if kind == "photo" else meta.get("small")
        size = size if isinstance(size, dict) else {}
        image = attachment.get("url") if kind == "photo" else attachment.get("preview_url")
        items.append(
            media_item(kind, image, size.get("width"), size.get("height"), attachment.get("description"))
        )
    return _kept(items)


def _bluesky_item(kind: str, template: str, did: str, blob: Any, holder: dict) -> dict | None:
    cid = _blob_cid(blob)
    if cid is None:
        return None
    ratio = holder.get("aspectRatio") if isinstance(holder.get("aspectRatio"), dict) else {}
    url = template.format(did=did, cid=cid)
    return media_item(kind, url, ratio.get("width"), ratio.get("height"), holder.get("alt"))


def _blob_cid(blob: Any) -> str | None:
    """The CID of a blob ({"$type":"blob","ref":{"$link":cid}}, or the legacy {"cid": …})."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    cid = ref.get("$link") if isinstance(ref, dict) else blob.get("cid")
    return cid if isinstance(cid, str) and _CID.fullmatch(cid) else None


def _dimension(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100_000
    return value if ok else None


def _kept(items: list[dict | None]) -> list[dict]:
    return [item for item in items if item is not None][:MAX_MEDIA]


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
