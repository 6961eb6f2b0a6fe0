"""The Bluesky source: the network's posts through Jetstream, matched here against the topics' rules.

Jetstream (github.com/bluesky-social/jetstream) sends every post made on Bluesky as JSON over one
WebSocket, `?wantedCollections=app.bsky.feed.post`, and has no server-side filter by content, so
the rules are applied here (feed/rules.py, the language the admin validates), cheapest test first:
feed/rule_prefilter.py rejects almost every event with one search of its folded text, and nothing
else (profile, entities, storable copy) is built for a post no topic follows.

Contract:
- Connects only while some active topic follows Bluesky; with none it closes and waits.
- At-least-once: after a drop it reconnects (backoff with jitter) with `cursor` = the last event's
  time_us less CURSOR_REWIND_US, so nothing sent meanwhile is missed; the events seen twice (and any
  Jetstream repeats) are dropped by (URI, CID) from a bounded set of the posts delivered.
- Order: posts, edits and deletions are delivered in the order Jetstream sent them. A post waits for
  its author's profile, and the post it quotes (both from the AppView: streamer/sources/
  bluesky_appview.py), at most PROFILE_WAIT_S after
  it arrived; then it goes with the DID as handle and name, and a PostEdited with the resolved
  author follows when the profile comes.
- Deletes and updates are delivered only for posts this process delivered (the last
  DELIVERED_MAX): every other delete on the network is about a post no topic has.
- A malformed event is counted and logged, never fatal.
"""

import asyncio
import json
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect

from feed.bluesky import POST_COLLECTION, SOURCE, BlueskyAuthor, bluesky_post, extra_tags, post_uri
from feed.normalize import NormalizedTweet, PayloadError
from feed.references import bluesky_quoted_uri
from feed.rule_check import RuleOutcome
from feed.rule_facts import bluesky_facts
from feed.rule_prefilter import TopicMatcher
from feed.rules import RuleError, compile_rule
from streamer.cursors import DatabaseCursor
from streamer.sources import Deliver, OnState, PostEdited, PostRemoved, TopicRule
from streamer.sources.bluesky_appview import PostBook, ProfileBook

logger = logging.getLogger(__name__)

# How long a late lookup may still improve a delivered post (the AppView call's own timeout).
LATE_WAIT_S = 15.0
# The bound: a post is never held longer than this for its author's profile.
PROFILE_WAIT_S = 0.3
# Resume this far before the last event seen: Jetstream's time_us order is per instance, and a few
# seconds cover events still in flight when the connection broke. Duplicates are dropped here.
CURSOR_REWIND_US = 3_000_000
# Reconnect backoff: doubled from the first delay up to the cap, with jitter (half to all of it).
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 60.0
# Posts delivered and remembered, for deletes, updates and duplicates: hours of a busy topic.
DELIVERED_MAX = 50_000
# Events between the socket and delivery (waiting for profiles): past it, reading pauses.
PENDING_MAX = 5_000
# Jetstream skips events larger than this (maxMessageSizeBytes); a post is at most a few KB.
MAX_EVENT_BYTES = 1_000_000
# What a deleted post's entry holds instead of a CID: its repeats (a resend) are not delivered again.
_DELETED = "deleted"
# Where posts come from unless BLUESKY_JETSTREAM_URL names another Jetstream (in development an unset
# URL means the replay instead: streamer/build.py).
PUBLIC_JETSTREAM_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
# Ping every 20 s; no pong within 20 s means a dead connection, so reconnect.
PING_S = 20.0


@dataclass
class _Pending:
    """A post or an edit waiting (briefly) for its author, in Jetstream's order."""

    event: dict[str, Any]
    slugs: tuple[str, ...]
    author: "asyncio.Future[BlueskyAuthor]"
    deadline: float
    edit: bool = False
    uri: str = field(default="")
    quote: "asyncio.Future[dict] | None" = None  # the quoted post's card, when it quotes one


def record_topics(matcher: TopicMatcher, record: dict[str, Any]) -> tuple[str, ...]:
    """The topics a post record matches: its text with the hashtags beyond it (facet tags and the
    record's `tags`), and its facts; `record["text"]` must be a str."""
    text = record["text"]
    extra = extra_tags(record) if "tags" in record or "facets" in record else ()
    return matcher.matching(text + "\n" + " ".join(extra) if extra else text, bluesky_facts(record))


class BlueskySource:
    name = "bluesky"
    network = "bluesky"

    def __init__(
        self,
        *,
        jetstream_url: str,
        appview_url: str,
        profile_wait_s: float = PROFILE_WAIT_S,
        cursor_store: DatabaseCursor | None = None,
    ) -> None:
        self.jetstream_url = jetstream_url
        self.cursor_store = cursor_store  # where the position survives a restart (None: memory only)
        self.profile_wait_s = profile_wait_s
        self.profiles = ProfileBook(appview_url=appview_url)
        self.quotes = PostBook(appview_url=appview_url)
        self._matcher = TopicMatcher([])
        self._followed = asyncio.Event()  # set while some topic follows Bluesky
        self._cursor: int | None = None  # the last event's time_us
        self._delivered: OrderedDict[str, str] = OrderedDict()  # URI -> CID of the version delivered
        self._pending: asyncio.Queue[_Pending | PostRemoved] = asyncio.Queue(maxsize=PENDING_MAX)
        self._late: set[asyncio.Task] = set()  # late author updates under way
        # Counters
        self.events = 0
        self.matched = 0
        self.duplicates = 0
        self.malformed = 0

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        """Compile each topic's rule; an invalid one is refused alone, with its reason."""
        rules, outcomes = [], []
        for topic in topics:
            try:
                rules.append((topic.slug, compile_rule(topic.query)))
                outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query))
            except RuleError as error:
                logger.warning("bluesky: topic %s has an invalid rule, skipped: %s", topic.slug, error)
                outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query, error=str(error)))
        self._matcher = TopicMatcher(rules)
        if rules:
            self._followed.set()
        else:
            self._followed.clear()
        logger.info("bluesky: %d topic rules active", len(rules))
        return outcomes

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        if self.cursor_store is not None and (saved := await self.cursor_store.load()) is not None:
            # A restart: resume where the last worker was, so what was posted meanwhile is replayed.
            self._cursor = saved
            logger.info("bluesky: resuming from the saved cursor %d", saved)
        async with asyncio.TaskGroup() as tasks:
            if self.cursor_store is not None:
                tasks.create_task(self.cursor_store.keep_saving(lambda: self._cursor), name="bluesky-cursor")
            tasks.create_task(self.profiles.run(), name="bluesky-profiles")
            tasks.create_task(self.quotes.run(), name="bluesky-quotes")
            tasks.create_task(self._deliver_in_order(deliver), name="bluesky-deliver")
            await self._follow(on_state)

    # --- The connection ---------------------------------------------------------------------

    async def _follow(self, on_state: OnState) -> None:
        failures = 0
        while True:
            if not self._followed.is_set():
                # Not reported as a state: the worker has one state for all its sources, and an idle
                # Bluesky must not make a streaming X look down.
                logger.info("bluesky: idle, no active topic follows Bluesky")
                self._cursor = None  # hours later, a replay would flood the topics with old posts
                await self._followed.wait()
            url = self._url()
            on_state("connecting", url)
            try:
                async with connect(url, max_size=MAX_EVENT_BYTES * 2, ping_interval=PING_S) as socket:
                    on_state("connected", "")
                    on_state("streaming", f"cursor {self._cursor}" if self._cursor else "live")
                    async for message in socket:
                        failures = 0
                        if (item := self._on_message(message)) is not None:
                            await self._pending.put(item)
                        if not self._followed.is_set():
                            break
                reason = "closed by Jetstream"
            except asyncio.CancelledError:
                raise
            except Exception as error:
                reason = f"{type(error).__name__}: {error}"
            if not self._followed.is_set():
                continue
            delay = min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2**failures)
            delay = delay / 2 + random.uniform(0, delay / 2)
            failures += 1
            logger.warning("bluesky: %s; reconnecting in %.1f s", reason, delay)
            on_state("reconnecting", reason)
            await asyncio.sleep(delay)

    def _url(self) -> str:
        parts = urlsplit(self.jetstream_url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("wantedCollections", "cursor")]
        query += [("wantedCollections", POST_COLLECTION), ("maxMessageSizeBytes", str(MAX_EVENT_BYTES))]
        if self._cursor is not None:
            query.append(("cursor", str(self._cursor - CURSOR_REWIND_US)))
        return urlunsplit(parts._replace(query=urlencode(query)))

    # --- Events, cheapest test first --------------------------------------------------------

    def _on_message(self, message: str | bytes) -> _Pending | PostRemoved | None:
        """What to deliver for one Jetstream message, if anything; never raises."""
        self.events += 1
        try:
            event = json.loads(message)
            if not isinstance(event, dict):
                raise PayloadError(f"event is a {type(event).__name__}")
            if isinstance(time_us := event.get("time_us"), int) and time_us > (self._cursor or 0):
                self._cursor = time_us
            kind = event.get("kind")
            if kind == "commit":
                return self._on_commit(event)
            if kind == "identity" and isinstance(event.get("identity"), dict):
                self.profiles.on_identity(str(event.get("did")), event["identity"].get("handle"))
            elif kind == "account" and isinstance(event.get("account"), dict):
                if event["account"].get("active") is False:
                    self.profiles.forget(str(event.get("did")))
        except (ValueError, PayloadError) as error:  # json's errors are ValueErrors
            self._malformed(message, error)
        except Exception as error:
            logger.exception("bluesky: unexpected error on an event")
            self._malformed(message, error)
        return None

    def _on_commit(self, event: dict[str, Any]) -> _Pending | PostRemoved | None:
        commit = event.get("commit")
        if not isinstance(commit, dict):
            raise PayloadError("commit event has no commit object")
        if commit.get("collection") != POST_COLLECTION:
            return None
        operation = commit.get("operation")
        if operation == "delete":
            uri = post_uri(event.get("did"), commit.get("rkey"))
            if self._delivered.get(uri, _DELETED) == _DELETED:
                return None  # not a post any topic has (or a repeated delete)
            self._delivered[uri] = _DELETED
            return PostRemoved(SOURCE, uri)
        record = commit.get("record")
        if operation not in ("create", "update") or not isinstance(record, dict):
            raise PayloadError(f"commit {operation!r} has no record")
        text = record.get("text")
        if not isinstance(text, str):
            raise PayloadError("post record has no text")
        edit = operation == "update"
        uri = ""
        if edit:  # an edit of a post no topic has is of no interest, whatever it says now
            uri = post_uri(event.get("did"), commit.get("rkey"))
            if self._delivered.get(uri, _DELETED) == _DELETED:
                return None
        slugs = record_topics(self._matcher, record)
        if not slugs and not edit:
            return None
        return self._accepted(event, commit, uri, slugs, edit)

    def _accepted(
        self, event: dict[str, Any], commit: dict[str, Any], uri: str, slugs: tuple[str, ...], edit: bool
    ) -> _Pending | None:
        uri = uri or post_uri(event.get("did"), commit.get("rkey"))
        cid = str(commit.get("cid") or "")
        if self._delivered.get(uri) in (cid, _DELETED):
            self.duplicates += 1
            return None
        self._delivered[uri] = cid
        self._delivered.move_to_end(uri)
        while len(self._delivered) > DELIVERED_MAX:
            self._delivered.popitem(last=False)
        self.matched += 1
        deadline = asyncio.get_running_loop().time() + self.profile_wait_s
        quoted = bluesky_quoted_uri(commit["record"])
        quote = self.quotes.request(quoted) if quoted else None
        return _Pending(event, slugs, self.profiles.request(event["did"]), deadline, edit, uri, quote)

    def _malformed(self, message: str | bytes, error: Exception) -> None:
        self.malformed += 1
        preview = message[:120] if isinstance(message, str) else message[:120].decode("utf-8", "replace")
        logger.warning("bluesky: event skipped (%d so far): %s; starts %r", self.malformed, error, preview)

    # --- Delivery, in Jetstream's order ------------------------------------------------------

    async def _deliver_in_order(self, deliver: Deliver) -> None:
        loop = asyncio.get_running_loop()
        while True:
            item = await self._pending.get()
            if isinstance(item, PostRemoved):
                await deliver(item)
                continue
            lookups = [f for f in (item.author, item.quote) if f is not None and not f.done()]
            if lookups:
                await asyncio.wait(lookups, timeout=max(0.0, item.deadline - loop.time()))
            try:
                post = self._post(item)
            except PayloadError as error:
                self._malformed(json.dumps(item.event)[:120], error)
                continue
            await deliver(PostEdited(post) if item.edit else post)
            if late := [f for f in lookups if not f.done()]:
                task = loop.create_task(self._late_facts(item, late, deliver))
                self._late.add(task)
                task.add_done_callback(self._late.discard)

    def _post(self, item: _Pending) -> NormalizedTweet:
        """The post, with its author and the post it quotes as far as the AppView has answered."""
        author = item.author.result() if item.author.done() else BlueskyAuthor(item.event["did"])
        post = bluesky_post(item.event, author=author, topic_slugs=item.slugs)
        if item.quote is not None and item.quote.done():
            post = replace(post, quote=item.quote.result())
        return post

    async def _late_facts(self, item: _Pending, late: list[asyncio.Future], deliver: Deliver) -> None:
        """The profile or the quoted post came after the post went: deliver the post again as an
        edit, with them, unless it has been edited or deleted since."""
        await asyncio.wait(late, timeout=LATE_WAIT_S)
        author_came = item.author in late and item.author.done() and item.author.result().handle
        quote_came = item.quote in late and item.quote.done() and item.quote.result()["author"]["username"]
        if not (author_came or quote_came):
            return  # nothing new: what came late, the AppView did not know either
        if self._delivered.get(item.uri) != str(item.event["commit"].get("cid") or ""):
            return
        await deliver(PostEdited(self._post(item)))
