"""What operators see of the worker: one row, written by the running worker every few seconds."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# The worker writes its status at least this often; an older heartbeat means it is not running.
HEARTBEAT_EVERY_S = 5
STALE_AFTER_S = 3 * HEARTBEAT_EVERY_S


class WorkerStatus(models.Model):
    state = models.CharField(max_length=32, default="stopped")
    source = models.CharField(max_length=300, blank=True)  # the sources, joined: "x+mastodon:a.example"
    detail = models.CharField(max_length=300, blank=True)
    last_tweet_at = models.DateTimeField(null=True, blank=True)
    reconnect_count = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    received = models.PositiveBigIntegerField(default=0)
    stored = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)
    unpublished = models.PositiveIntegerField(default=0, help_text="batches waiting for Redis")
    dropped = models.PositiveBigIntegerField(default=0, help_text="batches never published (pages catch up)")
    quarantined = models.PositiveBigIntegerField(default=0, help_text="posts the database refused")
    shed = models.PositiveBigIntegerField(default=0, help_text="posts lost while the queue was full")
    shedding = models.BooleanField(default=False, help_text="the queue is full: new posts are lost")
    store_failing_since = models.DateTimeField(null=True, blank=True)
    publish_failing_since = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "worker status"

    def __str__(self) -> str:
        return f"{self.state} ({self.source})"

    @property
    def is_alive(self) -> bool:
        if self.heartbeat_at is None:
            return False
        return (timezone.now() - self.heartbeat_at).total_seconds() < STALE_AFTER_S


class QuarantinedPost(models.Model):
    """A post the database refused for a reason other than being away; kept for a person to read.

    The payload is text, not JSON, so a post that a JSON column cannot hold is still kept (escaped).
    """

    x_id = models.CharField(max_length=32, blank=True)
    raw = models.TextField(help_text="the stream message as received, JSON with non-ASCII escaped")
    error = models.TextField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.x_id or '?'}: {self.error[:60]}"


def _loopback(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def validate_instance_url(value: str) -> None:
    """https only; plain http is allowed for a loopback address (the local emulator in tests)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise ValidationError("Use the instance's https:// address (http only for a loopback test server).")


class MastodonInstance(models.Model):
    """A Mastodon server whose hashtag streams (or tag timelines) the worker follows.

    A hashtag stream sees only what reached that server, so a deployment may follow several; the
    same post read on two of them is stored once (by its `uri`). Without an access token, or when
    the server refuses its stream, the worker polls the tag timelines instead; `mode` says which.
    """

    base_url = models.URLField(
        max_length=200,
        unique=True,
        validators=[validate_instance_url],
        help_text="e.g. https://mastodon.social",
    )
    access_token = models.CharField(
        max_length=200,
        blank=True,
        help_text="a user token with read:statuses (needed to stream); empty: poll the tag timelines",
    )
    is_active = models.BooleanField(default=True)
    # Written by the running worker.
    mode = models.CharField(max_length=16, blank=True, help_text="streaming, polling or failing")
    state = models.CharField(max_length=300, blank=True, help_text="what the worker last said of it")
    state_at = models.DateTimeField(null=True, blank=True)
    # Where the instance serves avatars and media (often a host of its own, files.<domain>), as the
    # worker saw them: pages may load images from these (the CSP's img-src, tweetsite/settings.py).
    image_hosts = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["base_url"]

    def __str__(self) -> str:
        return self.base_url

    def __repr__(self) -> str:
        return f"<MastodonInstance {self.base_url} token={'set' if self.access_token else 'none'}>"


MAX_IMAGE_HOSTS = 8  # per instance: one or two in practice; a bound against a hostile server


def mastodon_image_hosts() -> list[str]:
    """The active instances' image hosts, for the Content-Security-Policy (settings.IMAGE_HOSTS_FROM)."""
    rows = MastodonInstance.objects.filter(is_active=True).values_list("image_hosts", flat=True)
    return sorted(
        {host for hosts in rows if isinstance(hosts, list) for host in hosts if isinstance(host, str)}
    )


class StreamCursor(models.Model):
    """Where a replayable stream was, so a restarted worker resumes there (Bluesky's Jetstream
    `time_us`): what was posted while the worker was down is replayed, not lost."""

    source = models.CharField(max_length=100, unique=True)
    position = models.BigIntegerField()
    saved_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source} at {self.position}"
