"""The Mastodon source: one per instance (a `MastodonInstance` row), following hashtags.

Mastodon has no server-side filter for a rule: a server streams what reached it with a given
hashtag. So each topic's rule gives the hashtags to follow (its positive #hashtags; a rule without
one cannot be followed on Mastodon, and its outcome says so) and every status that arrives is
matched locally against the whole rule (`feed.rules`), as the replay source does.

Two modes, reported through `on_state` and on the instance's row (`mode`, `state`):

- **streaming** (with a user token, read:statuses; required for streaming since 4.2): one WebSocket
  to the host in `configuration.urls.streaming` (`/api/v2/instance`), a `hashtag` subscription per
  tag, changed in place when topics change; reconnects with backoff. `update` and `status.update`
  payloads are Status JSON encoded a second time; `delete` carries the status id, mapped back to
  its `uri` (bounded map) for `PostRemoved`. A stream carries only what is posted while it is
  open, so once a tag is subscribed its timeline is read from when no stream carried it (the
  source's start, or the stream's loss), less POLL_OVERLAP_S: nothing posted while the stream was
  down, or while the source was restarted (a worker restart, a new token), is missed.
- **polling** (no token, or the stream was refused): each tag's `/api/v1/timelines/tag/:tag`, paged
  forward with `min_id`, re-reading an overlap because a late federated post gets an id (its
  publish time) below ids already seen; within the rate limit (streamer/sources/mastodon_rest.py).
  A refused stream is tried again every `stream_retry_s`.

Posts are deduplicated by `uri` (bounded); the same post read on two instances has one `uri` and is
stored once by the worker's insert-or-ignore. A status matches a rule by its text and its `tags`
(the hashtags Mastodon filed it under), so a hashtag past the text kept still counts.
"""

import asyncio
import json
import logging
import random
import re
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from channels.db import database_sync_to_async
from django.utils import timezone

from feed.mastodon import status_post, with_topics
from feed.normalize import PayloadError
from feed.rule_check import RuleOutcome
from feed.rule_facts import mastodon_facts
from feed.rules import Rule
from streamer.models import MastodonInstance
from streamer.sources import Deliver, OnState, PostEdited, PostRemoved, Source, TopicRule
from streamer.sources.mastodon_images import ImageHosts
from streamer.sources.mastodon_rest import REQUEST_TIMEOUT_S, InstanceRest
from streamer.sources.mastodon_tags import hashtag_rules, status_topics, tag_names

logger = logging.getLogger(__name__)

# Polling: each tag's timeline is read once per round; rounds start at most this often.
POLL_INTERVAL_S = 10.0
# A refused stream is tried again after this long (polling meanwhile).
STREAM_RETRY_S = 300.0
# A late federated post takes the id of its publish time; re-read this much behind the newest id.
POLL_OVERLAP_S = 120.0
# timelines.md: "Max 40 statuses" a page; a round (and a catch-up) reads at most this many pages a tag.
PAGE_LIMIT = 40
MAX_PAGES_A_ROUND = 5
# A tag's catch-up waits this long after its subscribe is sent: the streaming server takes no
# longer to register it, so a status posted meanwhile is on the stream or on the page read.
SUBSCRIBE_SETTLE_S = 1.0
# Mastodon's streaming server pings every 30 s; aiohttp pings too, and a missing pong ends it.
HEARTBEAT_S = 30.0
# Reconnect backoff: doubles from 1 s to this cap, with full jitter.
RECONNECT_MAX_S = 60.0
# Bounded memory of what was seen: uris (dedupe) and id → uri (for `delete`), per instance.
SEEN_MAX = 20_000


class StreamRefused(Exception):
    """The server would not stream to us (HTTP status, or a refused subscription)."""


def snowflake_at(moment: float) -> int:
    """Mastodon's status id for a Unix time (milliseconds << 16): a `min_id` cursor at that time."""
    return int(moment * 1000) << 16


class _Bounded(OrderedDict):
    """A dict that forgets its oldest keys past `SEEN_MAX`."""

    def remember(self, key: str, value: Any = True) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > SEEN_MAX:
            self.popitem(last=False)


class MastodonSource:
    network = "mastodon"

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str = "",
        instance_id: int | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
        stream_retry_s: float = STREAM_RETRY_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.name = f"mastodon:{self.host}"
        # The worker restarts a source whose row changed (a new token, say): this is what it compares.
        self.identity = (self.name, self.base_url, access_token)
        self.access_token = access_token
        self.instance_id = instance_id
        self.poll_interval_s = poll_interval_s
        self.stream_retry_s = stream_retry_s
        # Rules: slug → compiled rule, and the tags they follow.
        self._rules: dict[str, Rule] = {}
        self._tags: set[str] = set()
        self._tags_changed = asyncio.Event()
        # What was seen.
        self._seen = _Bounded()
        self._uris = _Bounded()  # status id on this instance → uri
        # Polling and catching up.
        self._rest = InstanceRest(base_url=self.base_url, access_token=access_token, name=self.name)
        self._cursors: dict[str, int] = {}
        self._stream_retry_at = 0.0
        # Since when no stream has carried the tags (its timelines are read from there): the start,
        # as if a stream had been lost then, or a stream's loss; None once a catch-up has read it.
        self._stream_lost_at: float | None = time.time()
        self.mode = ""
        self.image_hosts = ImageHosts(self.name, instance_id)
        self._session: aiohttp.ClientSession | None = None
        self._on_state: OnState = lambda state, detail: None

    def __repr__(self) -> str:
        return f"<MastodonSource {self.host} token={'set' if self.access_token else 'none'}>"

    # --- Rules ----------------------------------------------------------------------------

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        rules, tags, outcomes = hashtag_rules(topics)
        self._rules = rules
        if tags != self._tags:
            logger.info("%s: following %d hashtags: %s", self.name, len(tags), ", ".join(sorted(tags)))
            self._tags = tags
            self._tags_changed.set()
        return outcomes

    # --- Running ------------------------------------------------------------------------------

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        self._on_state = on_state
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._session = session
            await self.image_hosts.note(await self._instance_image_urls())
            failures = 0
            while True:
                if not self.access_token or time.monotonic() < self._stream_retry_at:
                    await self._poll_round(deliver)
                    await asyncio.sleep(self.poll_interval_s)
                    continue
                try:
                    await self._stream_once(deliver)
                    failures = 0
                except StreamRefused as refusal:
                    self._stream_retry_at = time.monotonic() + self.stream_retry_s
                    await self._set_mode("polling", f"stream refused ({refusal}); polling the tag timelines")
                    continue
                except asyncio.CancelledError:
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError, ConnectionError) as error:
                    failures += 1
                    self._stream_lost_at = self._stream_lost_at or time.time()
                    delay = random.uniform(0, min(RECONNECT_MAX_S, 2.0**failures))
                    logger.warning("%s: stream ended (%r); reconnecting in %.1f s", self.name, error, delay)
                    self._on_state("reconnecting", f"{self.host}: {error!r}"[:300])
                    await asyncio.sleep(delay)

    async def _set_mode(self, mode: str, detail: str) -> None:
        """Report the mode: to the worker's status, and on the instance's row for the admin."""
        if mode == "polling" and self.mode != "polling" and self._stream_lost_at is not None:
            # Fill the gap since the stream was lost, from the timelines.
            lost = snowflake_at(self._stream_lost_at)
            self._cursors = {tag: min(self._cursors.get(tag, lost), lost) for tag in self._tags}
        if (mode, detail) == (self.mode, getattr(self, "_detail", None)):
            return
        self.mode, self._detail = mode, detail
        logger.info("%s: %s: %s", self.name, mode, detail)
        self._on_state(mode, detail)
        if self.instance_id is not None:
            try:
                await database_sync_to_async(_record_mode)(self.instance_id, mode, detail)
            except Exception:
                logger.exception("%s: could not record its mode", self.name)

    # --- Streaming ------------------------------------------------------------------------

    async def _stream_once(self, deliver: Deliver) -> None:
        """One WebSocket, until it ends (raises why); StreamRefused if the server says no."""
        url = await self._streaming_url()
        headers = {"Authorization": f"Bearer {self.access_token}"}
        try:
            ws = await self._session.ws_connect(url, headers=headers, heartbeat=HEARTBEAT_S)
        except aiohttp.WSServerHandshakeError as error:
            raise StreamRefused(f"HTTP {error.status}") from None
        subscribed: set[str] = set()
        self._tags_changed.set()
        keeper = asyncio.create_task(
            self._keep_subscribed(ws, subscribed, deliver), name=f"{self.name}-subscribe"
        )
        try:
            await self._set_mode("streaming", f"streaming {len(self._tags)} hashtags from {self.host}")
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await self._on_event(message.data, deliver)
                elif message.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(f"websocket error: {ws.exception()!r}")
            raise ConnectionError(f"stream closed (code {ws.close_code})")
        finally:
            self._stream_lost_at = self._stream_lost_at or time.time()
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
            await ws.close()

    async def _keep_subscribed(
        self, ws: aiohttp.ClientWebSocketResponse, subscribed: set[str], deliver: Deliver
    ) -> None:
        """Make the socket's hashtag subscriptions equal the followed tags, at once and on change;
        then read what each new one missed (`_catch_up`), beside the stream."""
        catching_up: set[asyncio.Task] = set()
        try:
            while True:
                await self._tags_changed.wait()
                self._tags_changed.clear()
                wanted = set(self._tags)
                added = sorted(wanted - subscribed)
                for kind, tags in (("unsubscribe", sorted(subscribed - wanted)), ("subscribe", added)):
                    for tag in tags:
                        await ws.send_str(json.dumps({"type": kind, "stream": "hashtag", "tag": tag}))
                subscribed.clear()
                subscribed.update(wanted)
                if added:
                    task = asyncio.create_task(self._catch_up(added, deliver), name=f"{self.name}-catch-up")
                    catching_up.add(task)
                    task.add_done_callback(catching_up.discard)
        finally:
            for task in catching_up:
                task.cancel()
            await asyncio.gather(*catching_up, return_exceptions=True)

    async def _catch_up(self, tags: list[str], deliver: Deliver) -> None:
        """Read each just subscribed tag's timeline from when no stream carried it (a tag new to a
        streaming source: from now), less POLL_OVERLAP_S; what the stream also brings is dropped
        by uri. A failed read leaves the gap open for the next connection."""
        since = self._stream_lost_at or time.time()
        await asyncio.sleep(SUBSCRIBE_SETTLE_S)
        cursor = snowflake_at(since)
        for tag in tags:
            # From the gap's start, or from what polling read after it (polling read up to there).
            self._cursors[tag] = max(self._cursors.get(tag, cursor), cursor)
            try:
                await self._poll_tag(tag, deliver)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                logger.warning("%s: catching up on #%s failed: %r", self.name, tag, error)
                return
        if self._stream_lost_at == since:
            self._stream_lost_at = None
        logger.info(
            "%s: caught up on %d hashtags since %.0f s ago", self.name, len(tags), time.time() - since
        )

    async def _on_event(self, data: str, deliver: Deliver) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            logger.warning("%s: stream message is not JSON: %.80r", self.name, data)
            return
        if not isinstance(event, dict):
            return
        if "error" in event:
            if event.get("status") in (401, 403):
                raise StreamRefused(f"subscription refused: {str(event['error'])[:100]}")
            logger.warning("%s: the stream says: %.200s", self.name, event["error"])
            return
        kind, payload = event.get("event"), event.get("payload")
        if kind == "delete":
            uri = self._uris.get(str(payload))
            if uri is not None:
                await deliver(PostRemoved("mastodon", uri))
        elif kind in ("update", "status.update") and isinstance(payload, str):
            try:
                status = json.loads(payload)  # the payload is the Status, JSON-encoded a second time
            except ValueError:
                logger.warning("%s: %s payload is not JSON: %.80r", self.name, kind, payload)
                return
            await self._offer(status, deliver, edited=kind == "status.update")

    async def _streaming_url(self) -> str:
        """`configuration.urls.streaming` + the streaming path; the REST host if none is given."""
        instance = await self._get("/api/v2/instance") or {}
        base = ((instance.get("configuration") or {}).get("urls") or {}).get("streaming") or self.base_url
        base = re.sub(r"^http", "ws", str(base).rstrip("/"))
        return f"{base}/api/v1/streaming"

    # --- Polling --------------------------------------------------------------------------

    async def _poll_round(self, deliver: Deliver) -> None:
        reason = "no access token" if not self.access_token else "the stream was refused"
        await self._set_mode("polling", f"polling {len(self._tags)} tag timelines on {self.host} ({reason})")
        for tag in sorted(self._tags):
            try:
                await self._poll_tag(tag, deliver)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
                logger.warning("%s: polling #%s failed: %r", self.name, tag, error)
                self._on_state("reconnecting", f"{self.host}: polling #{tag}: {error!r}"[:300])

    async def _poll_tag(self, tag: str, deliver: Deliver) -> None:
        """New statuses with `tag`, oldest first: past the cursor, less an overlap for late ones.
        The first read of a tag takes its newest page only."""
        cursor = self._cursors.get(tag)
        params = {"limit": str(PAGE_LIMIT)}
        if cursor is not None:
            params["min_id"] = str(max(0, cursor - snowflake_at(POLL_OVERLAP_S)))
        for _ in range(MAX_PAGES_A_ROUND):
            page = await self._get(f"/api/v1/timelines/tag/{quote(tag)}", params)
            statuses = [s for s in page or () if isinstance(s, dict) and str(s.get("id", "")).isdigit()]
            if not statuses:
                return
            statuses.sort(key=lambda s: int(s["id"]))
            for status in statuses:
                await self._offer(status, deliver)
            newest = int(statuses[-1]["id"])
            self._cursors[tag] = max(self._cursors.get(tag, 0), newest)
            if cursor is None or len(statuses) < PAGE_LIMIT:
                return
            params["min_id"] = str(newest)

    async def _instance_image_urls(self) -> list[str]:
        """Where the instance serves images, as its description shows: its own domain (default
        avatars) and its thumbnail's host (uploads), known before any post arrives."""
        try:
            instance = await self._get("/api/v2/instance") or {}
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
            logger.warning("%s: instance description unavailable: %r", self.name, error)
            return []
        thumbnail = instance.get("thumbnail") if isinstance(instance.get("thumbnail"), dict) else {}
        domain = instance.get("domain")
        return [f"https://{domain}/" if isinstance(domain, str) else "", str(thumbnail.get("url") or "")]

    async def _get(self, path: str, params: dict | None = None) -> Any:
        return await self._rest.get(self._session, path, params)

    # --- Posts ------------------------------------------------------------------------------

    async def _offer(self, status: Any, deliver: Deliver, *, edited: bool = False) -> None:
        """Deliver a status once (by uri), to the topics whose rules it matches."""
        try:
            post = status_post(status)
        except PayloadError as error:
            logger.warning("%s: status rejected: %s", self.name, error)
            return
        self._uris.remember(str(status.get("id")), post.network_id)
        if edited:
            await deliver(PostEdited(post))
            return
        if post.network_id in self._seen:
            return
        self._seen.remember(post.network_id)
        if topics := status_topics(self._rules, post, mastodon_facts(status), tag_names(status)):
            await self.image_hosts.note([post.author_avatar_url, *(item["url"] for item in post.media)])
            await deliver(with_topics(post, topics))


def _record_mode(instance_id: int, mode: str, detail: str) -> None:
    MastodonInstance.objects.filter(pk=instance_id).update(
        mode=mode[:16], state=detail[:300], state_at=timezone.now()
    )


def mastodon_sources(**options: Any) -> list[Source]:
    """One source per active instance row (synchronous: call it where the ORM may be used)."""
    return [
        MastodonSource(base_url=row.base_url, access_token=row.access_token, instance_id=row.pk, **options)
        for row in MastodonInstance.objects.filter(is_active=True).order_by("base_url")
    ]
