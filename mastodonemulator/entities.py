"""Entity shapes: Account, Status, MediaAttachment, CustomEmoji, Tag, Mention.

Field lists follow ``content/en/entities/{Account,Status,MediaAttachment,CustomEmoji,Tag}.md``
of mastodon/documentation. Viewer-specific fields (``favourited``, ``reblogged``, ``muted``,
``bookmarked``, ``pinned``, ``filtered``) are left out: they appear only with a user's token,
and the streaming examples in ``methods/streaming.md`` (public timeline) carry none of them.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from .content import normalize_tag


def iso(moment: datetime) -> str:
    """Mastodon's Datetime: ISO 8601, UTC, milliseconds, ``Z`` (``api/datetime-format``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: str | datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def snowflake_ms(moment: datetime, salt: str = "") -> int:
    """Mastodon status ids are ``milliseconds << 16 | sequence``, the sequence starting from a
    per-server hash, so the same post has different ids on two servers. A remote status
    takes the id of its *published* time: a late-arriving federated post sorts by when it
    was written, below ids already handed out."""
    ms = int(moment.timestamp() * 1000)
    return ms << 16 | zlib.crc32(f"{salt}/{ms}".encode()) & 0xFFF0


def _digest(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:16]  # noqa: S324 - a file name, not security


@dataclass
class Account:
    id: str
    username: str
    domain: str  # the account's home server
    local: bool  # True when domain is this emulator's own
    display_name: str = ""
    bot: bool = False
    note: str = ""
    avatar: str | None = None
    created_at: str = "2022-11-13T00:00:00.000Z"
    followers_count: int = 0
    following_count: int = 0
    statuses_count: int = 0
    emojis: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # any other Account fields, passed through

    @property
    def acct(self) -> str:
        """``username`` for local accounts, ``username@domain`` for remote ones (Account.md)."""
        return self.username if self.local else f"{self.username}@{self.domain}"

    @property
    def url(self) -> str:
        return f"https://{self.domain}/@{self.username}"

    @property
    def uri(self) -> str:
        return f"https://{self.domain}/users/{self.username}"

    def entity(self) -> dict:
        avatar = self.avatar or f"https://{self.domain}/avatars/original/missing.png"
        header = f"https://{self.domain}/headers/original/missing.png"
        return {
            "id": self.id,
            "username": self.username,
            "acct": self.acct,
            "display_name": self.display_name,
            "locked": False,
            "bot": self.bot,
            "discoverable": True,
            "group": False,
            "created_at": self.created_at,
            "note": self.note,
            "url": self.url,
            "uri": self.uri,
            "avatar": avatar,
            "avatar_static": avatar,
            "header": header,
            "header_static": header,
            "followers_count": self.followers_count,
            "following_count": self.following_count,
            "statuses_count": self.statuses_count,
            "last_status_at": None,
            "emojis": list(self.emojis),
            "fields": [],
            **self.extra,
        }

    def mention(self) -> dict:
        """Status::Mention (Status.md)."""
        return {"id": self.id, "username": self.username, "url": self.url, "acct": self.acct}


def status_skeleton(sid: int, moment: datetime, author: Account) -> dict:
    """A Status entity (Status.md) with empty content: a boost as it is, or the base of a post."""
    return {
        "id": str(sid),
        "created_at": iso(moment),
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": None,
        "uri": "",
        "url": None,
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "content": "",
        "reblog": None,
        "application": None,
        "account": author.entity(),
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def custom_emoji(shortcode: str, domain: str, url: str | None = None, *, category: str | None = None) -> dict:
    """CustomEmoji.md: shortcode, url, static_url, visible_in_picker, category."""
    digest = _digest("emoji", domain, shortcode)
    url = url or f"https://{domain}/system/custom_emojis/images/original/{digest}/{shortcode}.png"
    return {
        "shortcode": shortcode,
        "url": url,
        "static_url": url.replace("/original/", "/static/"),
        "visible_in_picker": True,
        "category": category,
    }


def tag_entity(name: str, domain: str) -> dict:
    """Status::Tag (Status.md): the name lower-cased, the URL on the serving instance."""
    name = normalize_tag(name)
    return {"name": name, "url": f"https://{domain}/tags/{quote(name)}"}


def media_attachment(spec: dict, *, media_id: str, domain: str, local: bool) -> dict:
    """MediaAttachment.md: image / gifv / video with ``meta.original`` and ``meta.small``.

    ``spec`` may give ``type`` (default image), ``url``, ``preview_url``, ``description``,
    ``width``, ``height``, ``duration`` (gifv, video), ``blurhash``."""
    kind = spec.get("type", "image")
    if kind not in ("image", "gifv", "video", "audio", "unknown"):
        raise ValueError(f"unknown media type {kind!r}")
    width, height = int(spec.get("width", 640)), int(spec.get("height", 480))
    ext = {"image": "jpeg", "gifv": "mp4", "video": "mp4", "audio": "mp3"}.get(kind, "bin")
    digest = _digest("media", domain, media_id)
    base = f"https://files.{domain}/media_attachments/files/{media_id}"
    url = spec.get("url") or f"{base}/original/{digest}.{ext}"
    preview = spec.get("preview_url") or f"{base}/small/{digest}.{'jpeg' if kind == 'image' else 'png'}"
    small_w = min(width, 400)
    small_h = max(1, round(height * small_w / width)) if width else height
    original: dict = {"width": width, "height": height, "size": f"{width}x{height}", "aspect": width / height}
    if kind in ("gifv", "video"):
        original["duration"] = float(spec.get("duration", 1.5))
    return {
        "id": media_id,
        "type": kind,
        "url": url,
        "preview_url": preview,
        "remote_url": None if local else url,
        "preview_remote_url": None,
        "text_url": None,
        "meta": {
            "original": original,
            "small": {
                "width": small_w,
                "height": small_h,
                "size": f"{small_w}x{small_h}",
                "aspect": width / height,
            },
        },
        "description": spec.get("description"),
        "blurhash": spec.get("blurhash", "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"),
    }


def origin_of(account: dict) -> str:
    """The home server of an Account entity seen on another instance."""
    if "@" in account.get("acct", ""):
        return account["acct"].split("@", 1)[1]
    return urlsplit(account["url"]).hostname or "remote.example"


def account_fields(account: dict) -> dict:
    keep = ("username", "display_name", "bot", "note", "avatar", "created_at", "followers_count", "emojis")
    return {k: account[k] for k in keep if k in account}


def media_spec(media: dict) -> dict:
    """A MediaAttachment entity back to the spec :func:`media_attachment` takes."""
    original = media.get("meta", {}).get("original", {})
    spec = {k: media.get(k) for k in ("type", "url", "preview_url", "description", "blurhash")}
    spec.update({k: original[k] for k in ("width", "height", "duration") if k in original})
    return spec
