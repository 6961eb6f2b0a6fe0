"""The Instance entity: ``GET /api/v2/instance`` and the older ``GET /api/v1/instance``.

Shapes from ``content/en/methods/instance.md``; the field a streaming client needs is
``configuration.urls.streaming`` (v2) / ``urls.streaming_api`` (v1): where the WebSocket lives.
"""

from __future__ import annotations

from aiohttp import web

VERSION = "4.3.0"  # the Mastodon version whose behaviour this emulates (user tokens for streaming: 4.2+)


def _statuses_config() -> dict:
    return {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23}


def instance_v2(core, request: web.Request) -> dict:
    return {
        "domain": core.domain,
        "title": core.title,
        "version": VERSION,
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "A local Mastodon emulator for tests.",
        "usage": {"users": {"active_month": len(core.store.accounts)}},
        # Served from the media host, as an instance with object storage serves it (mastodon.social:
        # files.mastodon.social/site_uploads/…), where its media attachments are too.
        "thumbnail": {"url": f"https://files.{core.domain}/site_uploads/files/000/000/001/@1x/preview.png"},
        "languages": ["en"],
        "configuration": {
            "urls": {
                "streaming": core.streaming_url,
                "status": None,
                "about": f"https://{core.domain}/about",
                "privacy_policy": f"https://{core.domain}/privacy-policy",
                "terms_of_service": None,
            },
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": _statuses_config(),
            "translation": {"enabled": False},
            "limited_federation": False,
        },
        "registrations": {"enabled": False, "approval_required": False, "message": None, "url": None},
        "api_versions": {"mastodon": 2},
        "contact": {"email": f"admin@{core.domain}", "account": None},
        "rules": [],
    }


def instance_v1(core, request: web.Request) -> dict:
    return {
        "uri": core.domain,
        "title": core.title,
        "short_description": "A local Mastodon emulator for tests.",
        "description": "",
        "email": f"admin@{core.domain}",
        "version": VERSION,
        "urls": {"streaming_api": core.streaming_url},
        "stats": {
            "user_count": len(core.store.accounts),
            "status_count": len(core.store.statuses),
            "domain_count": 0,
        },
        "thumbnail": None,
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {"statuses": _statuses_config()},
        "contact_account": None,
        "rules": [],
    }
