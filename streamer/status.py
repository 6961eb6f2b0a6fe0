"""The worker's state, kept in memory as it changes and saved for operators every few seconds."""

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from channels.db import database_sync_to_async
from django.utils import timezone

from streamer.models import HEARTBEAT_EVERY_S, WorkerStatus
from streamer.sources import Source, TopicRule

logger = logging.getLogger(__name__)

STATUS_ROW_ID = 1


@dataclass
class StatusFields:
    state: str = "starting"
    source: str = ""
    detail: str = ""
    reconnect_count: int = 0
    last_error: str = ""
    last_error_at: object = None
    last_tweet_at: object = None
    started_at: object = None
    store_failing_since: object = None
    shedding: bool = False


class StatusReporter:
    """Collects state changes from the source and counters from the worker; saves them."""

    def __init__(self, source_name: str) -> None:
        self.fields = StatusFields(source=source_name[:300], started_at=timezone.now())
        self._changed = asyncio.Event()

    def on_state(self, state: str, detail: str) -> None:
        """A state change from the source: logged once, saved promptly."""
        if state == "reconnecting":
            self.fields.reconnect_count += 1
            self.fields.last_error, self.fields.last_error_at = detail[:300], timezone.now()
        if (state, detail) != (self.fields.state, self.fields.detail):
            logger.info("worker state: %s %s", state, detail)
        self.fields.state, self.fields.detail = state, detail[:300]
        self._changed.set()

    def on_store_error(self, error: Exception) -> None:
        self.fields.last_error, self.fields.last_error_at = f"database: {error!r}"[:300], timezone.now()
        if self.fields.store_failing_since is None:
            self.fields.store_failing_since = self.fields.last_error_at
            self._changed.set()

    def on_quarantine(self, x_id: str, error: Exception) -> None:
        self.fields.last_error = f"quarantined {x_id}: {error!r}"[:300]
        self.fields.last_error_at = timezone.now()

    def on_store_ok(self) -> None:
        if self.fields.store_failing_since is not None:
            self.fields.store_failing_since = None
            self._changed.set()

    def on_shedding(self, shedding: bool) -> None:
        self.fields.shedding = shedding
        self._changed.set()

    def on_tweet(self) -> None:
        self.fields.last_tweet_at = timezone.now()

    async def run(self, counters) -> None:
        """Save now, then on every change (at most once a second) and every heartbeat."""
        while True:
            await self.save(counters())
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), HEARTBEAT_EVERY_S)
            except TimeoutError:
                pass
            await asyncio.sleep(1)

    async def save(self, counters: dict) -> None:
        try:
            await database_sync_to_async(worker_status_save)(**asdict(self.fields), **counters)
        except Exception:
            logger.exception("worker status could not be saved")


def worker_status_save(**fields) -> None:
    WorkerStatus.objects.update_or_create(
        pk=STATUS_ROW_ID, defaults={**fields, "heartbeat_at": timezone.now()}
    )


def worker_status_get() -> WorkerStatus:
    return WorkerStatus.objects.filter(pk=STATUS_ROW_ID).first() or WorkerStatus(state="never started")


# What a topic's status says of a network no running source follows, and how to get one.
NO_SOURCE = {
    "x": "not followed: set X_BEARER_TOKEN (or run the worker with --source x)",
    "bluesky": "not followed: set BLUESKY_ENABLED=1 (or run the worker with --source bluesky)",
    "mastodon": "not followed: add an active Mastodon instance in the admin",
}


def topics_network_status(
    topics: Iterable[TopicRule], sources: Iterable[Source], states: Mapping[str, tuple[str, str]]
) -> dict[str, list[dict[str, str]]]:
    """Per topic: a row for each running source of its networks, with the state the source last
    reported (a Mastodon instance's mode: streaming or polling), or one saying nobody follows it."""
    sources = list(sources)
    statuses = {}
    for topic in topics:
        rows = []
        for network in topic.networks:
            following = [source for source in sources if source.network == network]
            if not following:
                rows.append({"source": network, "state": "none", "detail": NO_SOURCE.get(network, "")})
            for source in following:
                state, detail = states.get(source.name, ("starting", ""))
                rows.append({"source": source.name, "state": state, "detail": detail})
        statuses[topic.slug] = rows
    return statuses
