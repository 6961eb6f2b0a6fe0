"""The replays' images: the samples name them as each network would, and this site serves copies.

The samples point at their networks' image hosts in each network's own way: X's media URL and
Mastodon's attachment URL end in the file's name, Bluesky's blob is its CID (which feed/media.py
puts in a cdn.bsky.app URL). None of those exist, and a demo may have no network at all, so after
conversion each post's media are pointed at the file in static/samples/, found by that name or CID
in streamer/data/sample_images.json (written with the images by make_images.py). What else a post
names (avatars, custom emoji) stays as the network gives it: pages fall back without it.
"""

import json
import logging
from dataclasses import replace
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.templatetags.static import static

from feed.normalize import NormalizedTweet

logger = logging.getLogger(__name__)

MANIFEST = Path(__file__).resolve().parent.parent / "data" / "sample_images.json"
STATIC_DIR = "samples"  # under static/


@cache
def _sample_files() -> dict[str, str]:
    """Each sample image's file, by its name and by its blob CID."""
    files = {}
    for image in json.loads(MANIFEST.read_text(encoding="utf-8")):
        files[image["file"]] = files[image["cid"]] = image["file"]
    return files


def local_url(url: str) -> str | None:
    """This site's copy of a sample image the network would serve at `url`; None if it is not one.
    A path segment names it: a file name, or a CID (`<cid>@jpeg` on Bluesky's CDN)."""
    files = _sample_files()
    for segment in urlsplit(url).path.split("/"):
        if name := files.get(segment.split("@", 1)[0]):
            return _static_url(f"{STATIC_DIR}/{name}")
    return None


def with_local_media(post: NormalizedTweet) -> NormalizedTweet:
    """`post` with each sample image it shows, and its quoted post's, pointed at this site's copy."""
    quote = post.quote
    if quote and quote.get("media"):
        quote = dict(quote, media=list(_local(quote["media"])))
    return replace(post, media=tuple(_local(post.media)), quote=quote)


def _local(media: list[dict] | tuple[dict, ...]) -> list[dict]:
    local = [local_url(str(item.get("url") or "")) for item in media]
    return [dict(item, url=url) if url else item for item, url in zip(media, local, strict=True)]


def _static_url(path: str) -> str:
    try:
        return static(path)  # in production, the collected file's hashed name
    except ValueError:  # not collected (no manifest entry): the plain name, served by the finders
        logger.warning("replay: %s is not in the static files manifest; run collectstatic", path)
        return settings.STATIC_URL + path  # Django makes a relative STATIC_URL absolute ("/static/")
