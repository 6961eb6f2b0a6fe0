"""The stream worker: topics → source rules, and stream messages → stored, published tweets.

The data path, in order: a source delivers a message; `normalize` turns it into a tweet (or a logged
reason why not), unless the source normalised it already; tweets queue for the next batch;
`tweets_ingest` stores the batch idempotently in one transaction; the committed batches are
published to each topic's group, pre-encoded. Several sources (one per network) share the path.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError

from feed.budget import Spend, topic_spend_prune, topics_over_budget
from feed.edits import post_edit, posts_remove
from feed.models import Topic
from feed.normalize import NormalizedTweet, PayloadError, normalize
from feed.rule_check import RuleOutcome
from feed.services import (
    TopicBatch,
    topic_latest_seqs,
    topic_rules_record,
    topics_network_status_record,
    tweets_ingest,
)
from streamer.publisher import Publisher
from streamer.quarantine import post_quarantine
from streamer.sources import PostEdited, PostRemoved, Source, TopicRule
from streamer.status import StatusReporter, topics_network_status

logger = logging.getLogger(__name__)

# An admin's topic change reaches the stream within this many seconds (the contract is 5 s).
TOPIC_POLL_S = 2.0
# Sources that come and go (Mastodon instances in the admin) are read again this often.
SOURCES_POLL_S = 5.0
# Tweets stored per transaction; bursts share a transaction and a frame, a lone tweet waits for none.
BATCH_MAX = 200
# A database outage is retried for as long as it lasts, backing off up to this; tweets wait in memory.
STORE_RETRY_MAX_S = 30.0
# Only these mean "the database is away" and are worth retrying; any other error is the post's own
# fault (a row the database refuses) and retrying it would hold up every post behind it for ever.
DATABASE_AWAY = (OperationalError, InterfaceError)


class StreamWorker:
    def __init__(
        self,
        sources: Source | Sequence[Source],
        *,
        topic_poll_s: float = TOPIC_POLL_S,
        changing_sources: Callable[[], list[Source]] | None = None,
    ) -> None:
        # One source per network; all share the queue, the store step and the publisher.
        self.sources = [sources] if not isinstance(sources, Sequence) else list(sources)
        # Sources that come and go while the worker runs (Mastodon instances are admin rows): read
        # again every SOURCES_POLL_S, started and stopped without a restart.
        self._changing = changing_sources
        self._streams: dict[object, tuple[Source, asyncio.Task]] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._fixed = list(self.sources)
        self._resync = False
        # Each source's last reported (state, detail), and what the topics' network status last said.
        self._source_states: dict[str, tuple[str, str]] = {}
        self._network_status: dict[str, list[dict[str, str]]] = {}
        self.topic_poll_s = topic_poll_s
        # Bounded (settings.STREAM_QUEUE_MAX_POSTS, which says why its size): past it posts are shed.
        self._queue_max = settings.STREAM_QUEUE_MAX_POSTS
        self._queue: asyncio.Queue[NormalizedTweet | PostRemoved | PostEdited] = asyncio.Queue(
            maxsize=self._queue_max
        )
        self._topics: list[TopicRule] | None = None
        self._paused: dict[str, str] = {}  # topics kept off X for their budget: slug -> reason
        self._in_flight: asyncio.Future | None = None
        self.publisher = Publisher()
        self.status = StatusReporter("+".join(source.name for source in self.sources) or "none yet")
        self.received = 0
        self.rejected = 0
        self.stored = 0
        self.quarantined = 0
        # Shedding: posts lost in all, and in the episode under way (None: not shedding).
        self.shed = 0
        self._shed_now: int | None = None

    async def run(self) -> None:
        """Run until cancelled; on cancel (SIGTERM), store and publish everything already received."""
        logger.info("worker: starting with %s", " and ".join(s.name for s in self.sources) or "no source yet")
        self.publisher.start_from(await database_sync_to_async(topic_latest_seqs)())
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._watch_topics(), name="worker-topics")
                tasks.create_task(self._store_forever(), name="worker-store")
                tasks.create_task(self.publisher.run(), name="worker-publisher")
                tasks.create_task(self.status.run(self.counters), name="worker-status")
                self._tasks = tasks
                for source in self.sources:
                    self._start(source)
                if self._changing is not None:
                    tasks.create_task(self._watch_sources(), name="worker-sources")
        finally:
            await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        if self._in_flight is not None:
            await asyncio.wait([self._in_flight])
        pending = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        if pending:
            await self._store(pending)
        self._end_shedding()
        if not await self.publisher.flush():
            logger.error("worker: %d batches could not be published before exit", self.publisher.buffered)
        self.status.on_state("stopped", "")
        await self.status.save(self.counters())
        logger.info(
            "worker: flushed on exit: received %d, stored %d new, rejected %d, unpublished %d, "
            "quarantined %d, shed %d",
            self.received,
            self.stored,
            self.rejected,
            self.publisher.buffered,
            self.quarantined,
            self.shed,
        )

    def _start(self, source: Source) -> None:
        streaming = source.stream(self.deliver, self._on_state(source))
        task = self._tasks.create_task(streaming, name=f"worker-source-{source.name}")
        self._streams[_identity(source)] = (source, task)

    async def _watch_sources(self) -> None:
        """Start the sources that appeared, stop those that went (or changed), every SOURCES_POLL_S."""
        while True:
            try:
                fresh = {_identity(s): s for s in await database_sync_to_async(self._changing)()}
                changing = {key for key, (source, _) in self._streams.items() if source not in self._fixed}
                for key in changing - fresh.keys():
                    source, task = self._streams.pop(key)
                    task.cancel()
                    self.sources.remove(source)
                    logger.info("worker: %s stopped (no longer in the admin)", source.name)
                for key in fresh.keys() - changing:
                    self.sources.append(fresh[key])
                    self._start(fresh[key])
                    logger.info("worker: %s started", fresh[key].name)
                if fresh.keys() != changing:
                    self._resync = True  # every source gets its topics' rules at the next sync
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker: reading the sources failed; trying again")
            await asyncio.sleep(SOURCES_POLL_S)

    def _on_state(self, source: Source):
        single = len(self.sources) == 1 and self._changing is None

        def on_state(state: str, detail: str) -> None:
            self._source_states[source.name] = (state, detail)
            if single:
                self.status.on_state(state, detail)
            else:
                self.status.on_state(state, f"{source.name}: {detail}" if detail else source.name)

        return on_state

    async def deliver(self, message: Any) -> None:
        """Take one stream message (raw line, decoded, or a post its source normalised); never
        raises, so the stream goes on."""
        try:
            if isinstance(message, PostRemoved | PostEdited):
                self._queue.put_nowait(message)  # in order with the posts it may be about
                return
            if isinstance(message, NormalizedTweet):
                tweet = message
            else:
                tweet = normalize(_decode(message) if isinstance(message, bytes | str) else message)
            self.received += 1
            self.status.on_tweet()
            self._queue.put_nowait(tweet)
        except asyncio.QueueFull:
            self._shed_one()
        except PayloadError as error:
            self.rejected += 1
            logger.warning("worker: message rejected: %s", error)
        except Exception:
            self.rejected += 1
            logger.exception("worker: message rejected by an unexpected error")

    async def _after_the_fact(self, message: PostRemoved | PostEdited) -> None:
        """A deletion or an edit of a stored post; retried while the database is away."""
        delay = 0.5
        while True:
            try:
                if isinstance(message, PostRemoved):
                    batches = await database_sync_to_async(posts_remove)(
                        source=message.source, network_ids=[message.network_id]
                    )
                    await self.publisher.publish(batches)
                else:
                    batches = await database_sync_to_async(post_edit)(post=message.post)
                    await self.publisher.publish(batches or [])
                return
            except DATABASE_AWAY:
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
            except Exception:
                logger.exception("worker: %r could not be applied", message)
                return

    def counters(self) -> dict[str, int]:
        return {
            "received": self.received,
            "stored": self.stored,
            "rejected": self.rejected,
            "unpublished": self.publisher.buffered,
            "dropped": self.publisher.dropped,
            "quarantined": self.quarantined,
            "shed": self.shed,
            "publish_failing_since": self.publisher.outage_started_at,
        }

    # --- Shedding ---------------------------------------------------------------------------
    # The queue is full only when the database has been away (or slow) for minutes. New posts are
    # then dropped: logged once when it starts and once when the queue has room again.

    def _shed_one(self) -> None:
        self.shed += 1
        if self._shed_now is None:
            self._shed_now = 0
            self.status.on_shedding(True)
            logger.error(
                "worker: %d posts wait for the database; shedding new posts until it catches up. "
                "Shed posts are lost: X does not send them again",
                self._queue.qsize(),
            )
        self._shed_now += 1

    def _end_shedding(self) -> None:
        # Half empty before it ends, so a queue hovering at its cap logs one episode, not hundreds.
        if self._shed_now is not None and self._queue.qsize() <= self._queue_max // 2:
            logger.warning("worker: shedding stopped; %d posts were lost", self._shed_now)
            self._shed_now = None
            self.status.on_shedding(False)

    async def _store_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH_MAX and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # Shielded: a cancel (SIGTERM) lets the batch in flight finish; _flush waits for it.
            self._in_flight = asyncio.ensure_future(self._store(batch))
            await asyncio.shield(self._in_flight)
            self._in_flight = None

    async def _store(self, items: list) -> None:
        """Store `items` in order: runs of posts as batches, and deletions and edits between them, so
        one about a post still queued finds it stored."""
        run: list[NormalizedTweet] = []
        for item in items:
            if isinstance(item, NormalizedTweet):
                run.append(item)
                continue
            if run:
                await self._store_posts(run)
                run = []
            await self._after_the_fact(item)
        if run:
            await self._store_posts(run)

    async def _store_posts(self, batch: list[NormalizedTweet]) -> None:
        """Store and publish `batch`; a post the database refuses is quarantined, the rest go on."""
        try:
            topic_batches = await self._ingest(batch)
        except Exception as error:
            logger.warning(
                "worker: storing %d tweets failed (%r); storing them one at a time", len(batch), error
            )
            topic_batches = []
            for tweet in batch:
                try:
                    topic_batches += await self._ingest([tweet])
                except Exception as error:
                    await self._quarantine(tweet, error)
        self.stored += len({seq for b in topic_batches for seq in b.seqs})
        await self.publisher.publish(topic_batches)
        self._end_shedding()

    async def _ingest(self, tweets: list[NormalizedTweet]) -> list[TopicBatch]:
        """tweets_ingest, retried while the database is away; other errors are raised."""
        delay = 0.5
        while True:
            try:
                topic_batches = await database_sync_to_async(tweets_ingest)(tweets=tweets)
            except DATABASE_AWAY as error:
                self.status.on_store_error(error)
                logger.exception("worker: storing %d tweets failed; retrying in %.1f s", len(tweets), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
                continue
            self.status.on_store_ok()
            return topic_batches

    async def _quarantine(self, tweet: NormalizedTweet, error: Exception) -> None:
        self.quarantined += 1
        self.status.on_quarantine(tweet.network_id, error)
        logger.error("worker: tweet %s quarantined: the database refused it: %r", tweet.network_id, error)
        delay = 0.5
        while True:
            try:
                await database_sync_to_async(post_quarantine)(tweet=tweet, error=error)
                return
            except DATABASE_AWAY:
                await asyncio.sleep(delay)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
            except Exception:
                logger.exception(
                    "worker: tweet %s not quarantined either: %.2000r", tweet.network_id, tweet.raw
                )
                return

    async def _watch_topics(self) -> None:
        # Besides each topic change, X's rules are re-read every X_RULES_RECHECK_S and anything deleted
        # outside the worker (X's developer console, another app on the token) is put back; refused
        # rules are retried then too.
        recheck_s = settings.X_RULES_RECHECK_S
        next_check = 0.0
        while True:
            try:
                if await self._sync_topics(recheck=time.monotonic() >= next_check):
                    next_check = time.monotonic() + recheck_s
                await self._record_network_status()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("worker: topic sync failed; retrying in %.0f s", self.topic_poll_s)
            await asyncio.sleep(self.topic_poll_s)

    async def _record_network_status(self) -> None:
        """Each topic's network status (streaming, polling, no source...) when it changed."""
        statuses = topics_network_status(self._topics or [], self.sources, self._source_states)
        changed = {slug: rows for slug, rows in statuses.items() if self._network_status.get(slug) != rows}
        if changed:
            await database_sync_to_async(topics_network_status_record)(statuses=changed)
            self._network_status.update(changed)

    async def _sync_topics(self, *, recheck: bool = False) -> bool:
        """Sync the source's rules if the active topics changed or `recheck`; True if it synced.

        A topic over its budget (feed/budget.py) is left out, so its rule leaves X; it is back at the
        first sync after its window ends. A pause that only changes its reason is recorded too.
        """
        # Taken before any await: a source started meanwhile asks again, and is in the list below.
        resync, self._resync = self._resync, False
        topics, paused = await database_sync_to_async(_topic_rules_within_budget)()
        reasons = {slug: spend.pause_reason for slug, spend in paused.items()}
        if topics == self._topics and reasons == self._paused and not recheck and not resync:
            return False
        if topics != self._topics:
            logger.info("worker: topics changed: %s", ", ".join(t.slug for t in topics) or "none")
        for slug in reasons.keys() - self._paused.keys():
            logger.warning("worker: topic %s paused: %s", slug, reasons[slug])
        outcomes = []
        for source in list(self.sources):
            outcomes += await source.sync_rules([t for t in topics if source.network in t.networks])
        await database_sync_to_async(topic_rules_record)(outcomes=_by_topic(outcomes), paused=paused)
        self._topics, self._paused = topics, reasons
        if recheck:
            await database_sync_to_async(topic_spend_prune)()
        return True


def _topic_rules_within_budget() -> tuple[list[TopicRule], dict[str, Spend]]:
    """The active topics' rules, less those over budget; and those, by slug."""
    paused = topics_over_budget()
    rows = Topic.objects.filter(is_active=True).order_by("slug").values_list("slug", "query", "networks")
    return [
        TopicRule(slug=slug, query=query, networks=tuple(networks or ("x",)))
        for slug, query, networks in rows
        if slug not in paused
    ], paused


def _identity(source: Source) -> object:
    """What makes a source the same one: its name, and what it connects with where it says so."""
    return getattr(source, "identity", source.name)


def _by_topic(outcomes: Iterable[RuleOutcome]) -> list[RuleOutcome]:
    """One outcome per topic: a topic on two networks is failed if either refused its rule."""
    merged: dict[str, RuleOutcome] = {}
    for outcome in outcomes:
        if (earlier := merged.get(outcome.slug)) is not None and earlier.error:
            continue
        merged[outcome.slug] = outcome
    return list(merged.values())


def _decode(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as error:
        preview = raw[:80] if isinstance(raw, str) else raw[:80].decode("utf-8", "replace")
        raise PayloadError(f"line is not JSON ({error}); starts {preview!r}") from None
