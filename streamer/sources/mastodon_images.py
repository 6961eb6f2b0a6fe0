"""Where a Mastodon instance serves images, recorded on its row for the pages' Content-Security-Policy.

Pages load avatars and media only from hosts the policy names (tweetsite/settings.py IMAGE_HOSTS,
feed/security.py), and an instance serves them from a host of its own (files.mastodon.social). The
source notes each host it sees, from the instance's description before any post and from each post
it delivers, and records a new one on the instance's row (MastodonInstance.image_hosts).
"""

import logging
from urllib.parse import urlsplit

from channels.db import database_sync_to_async

from streamer.models import MAX_IMAGE_HOSTS, MastodonInstance

logger = logging.getLogger(__name__)


class ImageHosts:
    def __init__(self, name: str, instance_id: int | None) -> None:
        self.name = name
        self.instance_id = instance_id
        self.known: set[str] = set()

    async def note(self, urls: list[str]) -> None:
        """Record the https hosts of `urls` not recorded yet (none without an instance row)."""
        hosts = {f"https://{parts.netloc}" for parts in map(urlsplit, urls) if parts.scheme == "https"}
        fresh = hosts - self.known
        if not fresh or self.instance_id is None or len(self.known) >= MAX_IMAGE_HOSTS:
            return
        self.known.update(fresh)
        try:
            await database_sync_to_async(_record)(self.instance_id, sorted(self.known)[:MAX_IMAGE_HOSTS])
        except Exception:
            logger.exception("%s: could not record its image hosts", self.name)


def _record(instance_id: int, hosts: list[str]) -> None:
    row = MastodonInstance.objects.filter(pk=instance_id).first()
    if row is not None:
        merged = sorted({*row.image_hosts, *hosts})[:MAX_IMAGE_HOSTS]
        MastodonInstance.objects.filter(pk=instance_id).update(image_hosts=merged)
