"""A topic's wall settings as screens receive them, and how a change reaches open walls.

The settings are stored first (WallSettings); then a "wall" batch tells the web processes, whose
hubs send every socket of the topic `{"type":"wall","wall":{...}}`. The channel layer may lose it,
so walls also read the settings with the topic's status every 30 s (feed/api.py topic_status) and
apply them when `version` changed: every wall converges on what is stored.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse

from feed.models import Topic, WallSettings
from feed.rendering import encode
from feed.services import TopicBatch

WALL = "wall"  # the batch kind (feed/hub.py)
LOGO_MAX_BYTES = 1 << 20
# What a logo may be, by its first bytes (an SVG could carry script, and is refused).
_LOGO_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"RIFF": "image/webp",  # checked further below: RIFF....WEBP
}


def topic_wall_settings(*, topic: Topic) -> WallSettings:
    """The topic's settings, or the defaults (unsaved) if it has none."""
    return WallSettings.objects.filter(topic=topic).first() or WallSettings(topic=topic)


def wall_wire(settings: WallSettings) -> dict[str, Any]:
    logo_url = reverse("topic-logo", kwargs={"slug": settings.topic.slug}) if settings.logo else ""
    return {
        "version": int(settings.updated_at.timestamp() * 1000) if settings.updated_at else 0,
        "theme": settings.theme,
        "brand_colour": settings.brand_colour,
        "logo_url": f"{logo_url}?v={settings.updated_at.timestamp():.0f}" if logo_url else "",
        "columns": settings.columns,
        "font_scale": float(settings.font_scale),
        "spotlight": settings.spotlight,
        "spotlight_interval_s": settings.spotlight_interval_s,
        "spotlight_count": settings.spotlight_count,
        "show_media": settings.show_media,
        "show_quotes": settings.show_quotes,
        "show_reposts": settings.show_reposts,
    }


def wall_batch(settings: WallSettings) -> TopicBatch:
    """What tells open walls of the topic about its settings as stored."""
    return TopicBatch(
        settings.topic.slug, WALL, (), items=(encode({"type": "wall", "wall": wall_wire(settings)}),)
    )


def logo_content_type(data: bytes) -> str | None:
    """The image type of a logo's bytes, or None if it is not a PNG, JPEG or WebP."""
    for signature, content_type in _LOGO_SIGNATURES.items():
        if data.startswith(signature):
            if content_type == "image/webp" and data[8:12] != b"WEBP":
                return None
            return content_type
    return None


def validate_logo(upload: UploadedFile) -> None:
    """Refuse what is not a small PNG, JPEG or WebP, whatever its name says."""
    if upload.size > LOGO_MAX_BYTES:
        raise ValidationError(f"The logo is {upload.size:,} bytes; at most {LOGO_MAX_BYTES:,}.")
    head = upload.read(16)
    upload.seek(0)
    if logo_content_type(head) is None:
        raise ValidationError("The logo must be a PNG, JPEG or WebP image.")
