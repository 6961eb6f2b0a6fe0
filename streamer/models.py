"""What operators see of the worker: one row, written by the running worker every few seconds."""

from django.db import models
from django.utils import timezone

# The worker writes its status at least this often; an older heartbeat means it is not running.
HEARTBEAT_EVERY_S = 5
STALE_AFTER_S = 3 * HEARTBEAT_EVERY_S


class WorkerStatus(models.Model):
    state = models.CharField(max_length=32, default="stopped")
    source = models.CharField(max_length=16, blank=True)
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
