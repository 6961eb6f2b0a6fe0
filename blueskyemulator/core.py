"""Emulator state: accounts, the Jetstream event buffer, subscribers, and emitted records.

Every method of :class:`BlueskyCore` is synchronous and must run on the emulator's event loop
thread; :class:`blueskyemulator.BlueskyEmulator` marshals calls from other threads. Subscribers
write in their own ``pump`` task, so emitting never waits on a slow reader.

Jetstream behaviour (v1 README, ``pkg/server/server.go``; v2 ``docs/README.md`` §5.1):

* Every event gets a ``time_us`` (unix microseconds) strictly above the previous one.
* ``cursor`` is a time_us: events at or after it are replayed (the buffer's lower bound is
  inclusive), then the live tail follows with nothing missed and nothing repeated. A cursor in
  the future means live tail; one older than the buffer starts silently at the oldest event kept
  (v1 never refuses an old cursor). The buffer keeps ``buffer_size`` events and at most
  ``lookback_s`` of them (Jetstream keeps 36 hours).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from itertools import islice

from aiohttp import web

from . import records as r
from .appview import Account, AccountBook, xrpc_error
from .jetstream import Event, Filter, OptionsError, Subscriber, parse_filter, parse_options_update
from .rate import RateGenerator

log = logging.getLogger("blueskyemulator")

BUFFER_SIZE = 200_000  # events kept for cursor replay: over three minutes at 1,000 events/s
LOOKBACK_S = 36 * 3600  # Jetstream's cursor lookback: "36 hours by default (matching jetstream v1)"
MAX_POST_URIS = 25  # getPosts.json: "uris" "maxLength": 25
RECORDS_KEPT = 100_000  # posts remembered for replies, quotes, updates and deletes
DEFAULT_HANDLE = "bsky-emulator.test"
_RELAY_SEQ_START = 1_409_752_997  # identity/account "seq" is the relay's; any increasing number will do


class BlueskyCore:
    def __init__(self, *, buffer_size: int = BUFFER_SIZE, lookback_s: float = LOOKBACK_S) -> None:
        self.buffer_size = buffer_size
        self.lookback_s = lookback_s
        self.profile_latency = 0.0
        self.subscribers: list[Subscriber] = []
        self._time_us = 0
        self._sub_seq = 0
        self.tids = r.TidClock()
        self.rate = RateGenerator(self)
        self.reset()

    # -- bookkeeping ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget accounts, events, records, counters and pending faults (open sockets stay)."""
        self.rate.stop()
        self.accounts = AccountBook()
        self.buffer: deque[Event] = deque(maxlen=self.buffer_size)
        self.posts: dict[str, dict] = {}  # AT URI -> {"cid", "record", "root"}
        self.emitted_count = 0
        self.forgotten_count = 0  # events that left the buffer (too many, or too old)
        self.frames_queued = 0
        self.connect_count = 0
        self.refused_count = 0
        self.slow_drop_count = 0  # live subscribers dropped because their outbox filled up
        self.pending_resends: deque[int] = deque()
        self.refusal: int | None = None  # an HTTP status /subscribe answers with while set (an outage)
        self.profile_calls = 0
        self.profile_requests: deque[list[str]] = deque(maxlen=1000)  # the actors of each call, newest last
        self.post_requests: deque[list[str]] = deque(maxlen=1000)  # getPosts' uris, each call
        self._relay_seq = _RELAY_SEQ_START

    def state(self) -> dict:
        return {
            "connection_count": len(self.subscribers),
            "connections": [
                {
                    "id": s.id,
                    "query": list(s.request.query.items()),
                    "cursor": s.cursor,
                    "started": s.started,
                    "frames_queued": s.frames_queued,
                    "frames_sent": s.frames_sent,
                }
                for s in self.subscribers
            ],
            "connect_count": self.connect_count,
            "refused_count": self.refused_count,
            "slow_drop_count": self.slow_drop_count,
            "emitted_count": self.emitted_count,
            "frames_queued": self.frames_queued,
            "buffered": len(self.buffer),
            "forgotten_count": self.forgotten_count,
            "oldest_time_us": self.buffer[0].time_us if self.buffer else None,
            "last_time_us": self.buffer[-1].time_us if self.buffer else None,
            "pending_resends": list(self.pending_resends),
            "refusal": self.refusal,
            "accounts": len(self.accounts.by_did),
            "profile_calls": self.profile_calls,
            "profile_latency": self.profile_latency,
            "rate": self.rate.status(),
        }

    # -- accounts ------------------------------------------------------------------------------

    def add_account(self, handle: str, **fields) -> Account:
        account = self.accounts.add(handle, **fields)
        log.info("account %s (%s)", account.handle, account.did)
        return account

    def author_did(self, author: str | None) -> str:
        """A handle is looked up, or given an account; a DID is used as is (it may be unknown)."""
        if author is None:
            author = DEFAULT_HANDLE
        account = self.accounts.resolve(author)
        if account is not None:
            return account.did
        if author.startswith("did:"):
            return author
        return self.add_account(author).did

    def _resolve_handle(self, handle: str) -> str | None:
        account = self.accounts.resolve(handle)
        return account.did if account else None

    # -- publishing ----------------------------------------------------------------------------

    def _next_time_us(self) -> int:
        self._time_us = max(self._time_us + 1, time.time_ns() // 1000)
        return self._time_us

    def publish(self, did: str, kind: str, body: dict) -> dict:
        """Give an event its time_us, keep it for replay, and queue it to every subscriber that wants it."""
        time_us = self._next_time_us()
        event = {"did": did, "time_us": time_us, "kind": kind, kind: body}
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        item = Event(
            time_us,
            did,
            kind,
            body.get("collection", "") if kind == "commit" else "",
            text,
            len(text.encode()),
        )
        if len(self.buffer) == self.buffer.maxlen:
            self.forgotten_count += 1
        self.buffer.append(item)
        floor = time_us - int(self.lookback_s * 1_000_000)
        while self.buffer[0].time_us < floor:
            self.buffer.popleft()
            self.forgotten_count += 1
        self.emitted_count += 1
        for sub in self.subscribers:
            self.frames_queued += sub.queue(item)
        return event

    def commit(
        self, did: str, collection: str, operation: str, rkey: str | None = None, record: dict | None = None
    ) -> dict:
        """A commit event (v1 README "Example events"): create/update carry record and cid, delete neither."""
        body = {
            "rev": self.tids.next(),
            "operation": operation,
            "collection": collection,
            "rkey": rkey or self.tids.next(),
        }
        if operation != "delete":
            body["record"] = record
            body["cid"] = r.cid_for(json.dumps(record, sort_keys=True).encode())
        return self.publish(did, "commit", body)

    def _relay_event(self, account: Account, kind: str, body: dict) -> dict:
        self._relay_seq += 1
        return self.publish(account.did, kind, {**body, "seq": self._relay_seq, "time": r.iso_ms()})

    def identity(self, actor: str, handle: str) -> dict:
        """An identity event (handle change); the AppView answers with the new handle from then on."""
        account = self._account(actor)
        self.accounts.rename(account, handle)
        return self._relay_event(account, "identity", {"did": account.did, "handle": account.handle})

    def account_status(self, actor: str, active: bool, status: str | None = None) -> dict:
        """An account event; an inactive account also leaves the AppView's answers."""
        account = self._account(actor)
        account.active, account.status = active, None if active else (status or "deactivated")
        body = {"active": active, "did": account.did}
        if not active:
            body["status"] = account.status
        return self._relay_event(account, "account", body)

    def _account(self, actor: str) -> Account:
        account = self.accounts.resolve(actor)
        if account is None:
            raise KeyError(f"unknown account: {actor}")
        return account

    # -- posts and other records ---------------------------------------------------------------

    def _ref(self, uri: str) -> dict:
        """A strongRef to an emitted post (or, for one never emitted, a well-formed stand-in)."""
        known = self.posts.get(uri)
        return r.strong_ref(uri, known["cid"] if known else r.cid_for(uri.encode()))

    def _post_record(self, text: str, fields: dict) -> tuple[dict, dict | None]:
        reply_to, quote = fields.get("reply_to"), fields.get("quote")
        reply = None
        if reply_to:
            parent = self._ref(reply_to)
            root = (self.posts.get(reply_to) or {}).get("root") or parent
            reply = {"root": root, "parent": parent}
        embed = r.post_embed(
            seed=f"{text}/{time.time_ns()}",
            images=fields.get("images"),
            external=fields.get("external"),
            quote=self._ref(quote) if quote else None,
        )
        record = r.post_record(
            text=text,
            created_at=fields.get("created_at") or r.iso_ms(),
            facets=r.detect_facets(text, self._resolve_handle),
            langs=fields.get("langs", ["en"]),
            tags=fields.get("tags"),
            reply=reply,
            embed=embed,
        )
        return record, reply

    def post(self, text: str, author: str | None = None, *, rkey: str | None = None, **fields) -> dict:
        """Create a post; ``fields``: tags, langs, reply_to (AT URI), quote (AT URI), images, external,
        created_at. Returns the event, whose ``uri`` is added beside it for the caller."""
        did = self.author_did(author)
        record, reply = self._post_record(text, fields)
        event = self.commit(did, r.POST, "create", rkey, record)
        uri = r.at_uri(did, r.POST, event["commit"]["rkey"])
        self._remember(uri, event["commit"]["cid"], record, reply)
        account = self.accounts.resolve(did)
        if account is not None:
            account.posts_count += 1
        return {**event, "uri": uri}

    def update_post(self, uri: str, text: str, **fields) -> dict:
        """Replace a post's record (operation "update", same rkey, new cid)."""
        did, collection, rkey = r.split_at_uri(uri)
        record, reply = self._post_record(text, fields)
        event = self.commit(did, collection, "update", rkey, record)
        self._remember(uri, event["commit"]["cid"], record, reply)
        return {**event, "uri": uri}

    def delete(self, uri: str) -> dict:
        """Delete any record by AT URI (operation "delete": no record, no cid)."""
        did, collection, rkey = r.split_at_uri(uri)
        self.posts.pop(uri, None)
        return {**self.commit(did, collection, "delete", rkey), "uri": uri}

    def _remember(self, uri: str, cid: str, record: dict, reply: dict | None) -> None:
        self.posts.pop(uri, None)
        self.posts[uri] = {"cid": cid, "record": record, "root": reply["root"] if reply else None}
        while len(self.posts) > RECORDS_KEPT:
            self.posts.pop(next(iter(self.posts)))

    def get_posts(self, uris: list[str]) -> tuple[int, dict]:
        """(status, body) for ``getPosts?uris=…`` (lexicons/app/bsky/feed/getPosts.json: 1 to 25
        uris; "posts" in the order asked, those it does not know left out): each a postView
        (app.bsky.feed.defs#postView) with the author's profileViewBasic and the record."""
        if not uris:
            return 400, xrpc_error("InvalidRequest", 'Error: Params must have the property "uris"')
        if len(uris) > MAX_POST_URIS:
            return 400, xrpc_error(
                "InvalidRequest", f"Error: uris must not have more than {MAX_POST_URIS} elements"
            )
        views = []
        for uri in uris:
            post = self.posts.get(uri)
            did = uri.removeprefix("at://").split("/", 1)[0]
            account = self.accounts.resolve(did)
            if post is None or account is None:
                continue
            basic = {
                k: v
                for k, v in account.profile_view().items()
                if k in ("did", "handle", "displayName", "avatar")
            }
            views.append(
                {
                    "uri": uri,
                    "cid": post["cid"],
                    "author": {**basic, "labels": []},
                    "record": post["record"],
                    "replyCount": 0,
                    "repostCount": 0,
                    "likeCount": 0,
                    "quoteCount": 0,
                    "indexedAt": post["record"].get("createdAt", ""),
                    "labels": [],
                }
            )
        return 200, {"posts": views}

    def like(self, subject_uri: str, author: str | None = None) -> dict:
        record = r.like_record(self._ref(subject_uri), r.iso_ms())
        return self.commit(self.author_did(author), r.LIKE, "create", None, record)

    def repost(self, subject_uri: str, author: str | None = None) -> dict:
        record = r.repost_record(self._ref(subject_uri), r.iso_ms())
        return self.commit(self.author_did(author), r.REPOST, "create", None, record)

    def follow(self, subject: str, author: str | None = None) -> dict:
        record = r.follow_record(self.author_did(subject), r.iso_ms())
        return self.commit(self.author_did(author), r.FOLLOW, "create", None, record)

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe_options(self, request: web.Request) -> tuple[Filter, int | None, bool]:
        """Read ``/subscribe``'s query as server.go ``HandleSubscribe`` does; OptionsError to refuse."""
        self.connect_count += 1
        query = request.query
        if query.get("compress") == "true" or "zstd" in request.headers.get("Socket-Encoding", ""):
            raise OptionsError(
                "compress=true / Socket-Encoding: zstd is not emulated: Jetstream's zstd frames need its "
                "custom dictionary; connect without it (permessage-deflate is negotiated as usual)"
            )
        cursor = None
        if query.get("cursor"):
            try:
                cursor = int(query["cursor"])
            except ValueError:
                raise OptionsError(f"invalid cursor: {query['cursor']}") from None
            if cursor > max(time.time_ns() // 1000, self._time_us):
                cursor = None  # "a cursor from the future will result in live-tail operation"
        flt = parse_filter(
            query.getall("wantedCollections", []),
            query.getall("wantedDids", []),
            query.get("maxMessageSizeBytes", 0),
        )
        return flt, cursor, query.get("requireHello") == "true"

    def open_subscriber(
        self, request: web.Request, ws: web.WebSocketResponse, flt: Filter, cursor: int | None, hello: bool
    ) -> Subscriber:
        self._sub_seq += 1
        sub = Subscriber(self._sub_seq, request, ws, flt, cursor)
        self.subscribers.append(sub)
        log.info("subscriber #%d connected (%s)", sub.id, request.query_string or "no params")
        if not hello:
            self._start(sub)
        return sub

    def options_update(self, sub: Subscriber, data: str) -> None:
        """A subscriber-sourced message: a new filter, and for requireHello the start of the stream."""
        try:
            flt = parse_options_update(data)
        except OptionsError as exc:
            log.info("subscriber #%d closed: %s", sub.id, exc)
            sub.close(str(exc))
            return
        if flt is None:
            return  # server.go: unknown message types are logged and ignored
        sub.filter = flt
        if not sub.started:
            self._start(sub)

    def _start(self, sub: Subscriber) -> None:
        """Replay what the cursor asks for (less any rewind for duplicates), then go live."""
        start = len(self.buffer)
        if sub.cursor is not None:
            start = next((i for i, e in enumerate(self.buffer) if e.time_us >= sub.cursor), len(self.buffer))
        rewind = self.pending_resends.popleft() if self.pending_resends else 0
        i = start
        while rewind and i > 0:
            i -= 1
            if sub.filter.wants(self.buffer[i]):
                start, rewind = i, rewind - 1
        sub.started = True
        replayed = sum(sub.queue(e, replay=True) for e in islice(self.buffer, start, None))
        self.frames_queued += replayed
        log.info("subscriber #%d started: cursor %s, %d replayed", sub.id, sub.cursor, replayed)

    def close_subscriber(self, sub: Subscriber, reason: str) -> None:
        sub.closed = True
        if sub in self.subscribers:
            self.subscribers.remove(sub)
            self.slow_drop_count += sub.close_reason.startswith("outbox full")
            log.info(
                "subscriber #%d gone (%s; %d frames sent)",
                sub.id,
                sub.close_reason or reason,
                sub.frames_sent,
            )

    def resend_on_reconnect(self, count: int, connects: int = 1) -> None:
        """The next ``connects`` subscribers start ``count`` wanted events earlier than they asked:
        events a consumer already had, delivered again (at-least-once)."""
        self.pending_resends.extend([int(count)] * int(connects))

    def event(self, did: str, kind: str, body: dict) -> dict:
        """An event of any ``kind`` (Jetstream documents commit, identity and account; a consumer
        must skip a kind it does not know, as a new Jetstream may add one): kept and replayed like
        any other, and not filtered by collection (only commits have one)."""
        return self.publish(self.author_did(did), kind, body)

    def send_raw(self, text: str) -> int:
        """A fault: one frame, exactly ``text``, to every started subscriber; not kept for replay
        (it has no time_us). Returns how many subscribers it was queued to."""
        sent = sum(sub.queue_text(text) for sub in self.subscribers)
        self.frames_queued += sent
        return sent

    def refuse(self, status: int | None = 503) -> int | None:
        """An outage: /subscribe answers HTTP ``status`` (before any upgrade) until called with
        None. Events emitted meanwhile are kept, so a consumer's cursor replays them."""
        self.refusal = status
        log.info("subscribe %s", f"refused with {status}" if status else "accepted again")
        return status

    def drop_connections(self) -> int:
        """Cut every subscriber's TCP connection (no close frame)."""
        subs = list(self.subscribers)
        for sub in subs:
            sub.abort("dropped by the emulator")
            self.close_subscriber(sub, "dropped")
        return len(subs)
