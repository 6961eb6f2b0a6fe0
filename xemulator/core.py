"""Emulator state: rules, stream connections, faults, emitted Posts.

Every method of :class:`EmulatorCore` is synchronous and must run on the
emulator's event loop thread; :class:`xemulator.XEmulator` marshals calls
from other threads. Writing to sockets happens in
:meth:`StreamConnection.pump`, so ``emit`` never blocks on a slow client.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import deque
from datetime import datetime

from aiohttp import web

from feed.rule_facts import x_facts

from . import payloads as p
from .connection import StreamConnection
from .rulebook import RuleBook

log = logging.getLogger("xemulator")

HISTORY = 10_000  # emitted / delivered messages kept for inspection
_TWITTER_EPOCH_MS = 1288834974657
DEFAULT_AUTHOR = {"id": "2244994945", "username": "xemulator", "name": "X Emulator"}
DEFAULT_RATE_TEXT = "bench {n} t={t} #bench"


def _snowflake() -> int:
    """A 19-digit id shaped like X's (time-based), for realism in logs."""
    return (int(time.time() * 1000) - _TWITTER_EPOCH_MS) << 22


class EmulatorCore:
    def __init__(
        self,
        token: str,
        *,
        keepalive_interval: float = 20.0,
        max_rules: int = 1000,
        max_rule_length: int = 1024,
        max_connections: int = 1,
    ) -> None:
        self.token = token
        self.keepalive_interval = keepalive_interval
        self.max_rules = max_rules
        self.max_rule_length = max_rule_length
        self.max_connections = max_connections
        self.reset()

    # -- bookkeeping -------------------------------------------------------

    def reset(self) -> None:
        """Forget rules, counters, faults and history (open streams stay)."""
        self.rulebook = RuleBook(
            max_rules=self.max_rules, max_rule_length=self.max_rule_length, new_id=self._new_id
        )
        self.connections: list[StreamConnection] = getattr(self, "connections", [])
        self.connect_count = 0  # every stream connect attempt, whatever the outcome
        self.accepted_count = 0  # attempts answered 200 and streamed
        self.pending_failures: deque[tuple[int, dict | None]] = deque()
        self.last_request: dict | None = None
        self.last_stream_request: dict | None = None
        self.emitted: deque[dict] = deque(maxlen=HISTORY)
        self.delivered: deque[dict] = deque(maxlen=HISTORY)
        self.emitted_count = 0
        self.delivered_count = 0
        self._last_id = getattr(self, "_last_id", 0)  # ids stay unique across resets
        self._conn_seq = getattr(self, "_conn_seq", 0)
        if getattr(self, "_rate_task", None) is not None:
            self._rate_task.cancel()
        self._rate_task: asyncio.Task | None = None
        self.rate_status: dict = {"running": False}

    def _new_id(self) -> str:
        self._last_id = max(self._last_id + 1, _snowflake())
        return str(self._last_id)

    def authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.token}"

    def record_request(self, request: web.Request) -> dict:
        info = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "at": p.iso_now(),
        }
        self.last_request = info
        return info

    def state(self, *, full: bool = False) -> dict:
        self._prune()
        state = {
            "connected": bool(self.connections),
            "connection_count": len(self.connections),
            "connections": [
                {
                    "id": c.id,
                    "opened_at": c.opened_at,
                    "stalled": c.stalled,
                    "messages_sent": c.messages_sent,
                    "keepalives_sent": c.keepalives_sent,
                    "query": dict(c.request.query),
                }
                for c in self.connections
            ],
            "connect_count": self.connect_count,
            "accepted_count": self.accepted_count,
            "pending_failures": [status for status, _ in self.pending_failures],
            "rules": list(self.rulebook.rules.values()),
            "last_request": self.last_request,
            "last_stream_request": self.last_stream_request,
            "emitted_count": self.emitted_count,
            "delivered_count": self.delivered_count,
            "keepalive_interval": self.keepalive_interval,
            "max_rules": self.max_rules,
            "rate": dict(self.rate_status),
        }
        if full:
            state["emitted"] = list(self.emitted)
            state["delivered"] = list(self.delivered)
        return state

    # -- stream connections ------------------------------------------------

    def _prune(self) -> None:
        self.connections = [c for c in self.connections if not c.is_dead()]

    def admit(self, request: web.Request) -> tuple[int, dict, dict] | None:
        """Decide a stream connect: None to accept, else (status, body, headers)."""
        self.connect_count += 1
        self.last_stream_request = self.record_request(request)
        if not self.authorized(request):
            log.info("connect #%d refused: 401 (bad or missing token)", self.connect_count)
            return 401, dict(p.UNAUTHORIZED), {}
        if self.pending_failures:
            status, body = self.pending_failures.popleft()
            log.info("connect #%d refused: injected %d", self.connect_count, status)
            headers = {}
            if status == 429:
                reset = int(time.time()) + 900
                headers = {
                    "x-rate-limit-limit": "50",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": str(reset),
                }
            return status, body if body is not None else p.http_problem(status), headers
        self._prune()
        if len(self.connections) >= self.max_connections:
            log.info("connect #%d refused: 429 TooManyConnections", self.connect_count)
            return 429, dict(p.TOO_MANY_CONNECTIONS), {}
        return None

    def open_connection(self, request: web.Request) -> StreamConnection:
        self._conn_seq += 1
        conn = StreamConnection(self._conn_seq, request)
        self.connections.append(conn)
        self.accepted_count += 1
        log.info("stream connected (#%d, %s)", conn.id, request.query_string or "no params")
        return conn

    def close_connection(self, conn: StreamConnection, reason: str = "closed") -> None:
        conn.closed = True
        if conn in self.connections:
            self.connections.remove(conn)
            log.info("stream #%d disconnected (%s)", conn.id, reason)

    # -- faults ------------------------------------------------------------

    def fail_next_connects(self, status: int, count: int = 1, body: dict | None = None) -> None:
        for _ in range(count):
            self.pending_failures.append((int(status), body))
        log.info("fault: next %d connect(s) will get HTTP %d", count, status)

    def drop_connections(self) -> int:
        conns = list(self.connections)
        for conn in conns:
            conn.abort()
            self.close_connection(conn, "dropped by fault injection")
        return len(conns)

    def stall(self, stalled: bool = True) -> int:
        for conn in self.connections:
            conn.stalled = stalled
        log.info("fault: %d connection(s) %s", len(self.connections), "stalled" if stalled else "resumed")
        return len(self.connections)

    def operational_disconnect(self) -> int:
        conns = list(self.connections)
        for conn in conns:
            conn.stalled = False
            conn.close(p.dumps(p.OPERATIONAL_DISCONNECT) + b"\r\n")
            self.close_connection(conn, "operational disconnect")
        return len(conns)

    def emit_raw(self, data: bytes, newline: bool = True) -> int:
        line = data + b"\r\n" if newline and not data.endswith(b"\n") else data
        sent = sum(conn.send(line) for conn in self.connections)
        log.info("raw line (%d bytes) sent to %d connection(s)", len(line), sent)
        return sent

    # -- Posts ---------------------------------------------------------------

    def emit(
        self,
        text: str,
        author: dict | None = None,
        tweet_id: str | int | None = None,
        created_at: str | datetime | None = None,
        lang: str = "en",
        *,
        reply_to: str | int | None = None,
        quote_of: str | int | None = None,
        retweet_of: str | int | None = None,
        media_keys: list[str] = (),
        media: list[dict] = (),
        possibly_sensitive: bool = False,
    ) -> dict | None:
        """Publish a Post; returns the message queued to the stream, or None.

        Rules are applied as X applies them, on the server: to the text and author, and to the
        Post's facts (``lang``, reply, repost, ``media_keys``) for lang:, is: and has:.

        ``author`` may carry X's ``created_at`` and ``public_metrics`` (in part:
        ``{"followers_count": 3}``); what it leaves out gets an established
        account's values. ``reply_to``, ``quote_of`` and ``retweet_of`` name an
        emitted Post's id; one the emulator never emitted is referenced all the
        same and reported missing, as X reports a deleted post. A repost's empty
        ``text`` becomes X's ``RT @author: <their text>``.

        ``media``: X media objects without their keys (``{"type": "photo", "url", "width",
        "height", "alt_text"}``; a video or GIF has ``preview_image_url``); each gets a key, listed in
        ``attachments.media_keys`` and sent in ``includes.media`` to a stream that asks for them.
        ``possibly_sensitive`` marks the Post as X does.
        """
        user = p.full_user(DEFAULT_AUTHOR if author is None else author)
        user.setdefault("username", "user")
        user.setdefault("name", user["username"])
        user.setdefault("id", str(10**9 + zlib.crc32(user["username"].encode())))
        user["id"] = str(user["id"])
        if isinstance(created_at, datetime):
            created_at = p.iso(created_at)
        references, referenced = [], {}
        for kind, ref_id in (("replied_to", reply_to), ("quoted", quote_of), ("retweeted", retweet_of)):
            if ref_id is None:
                continue
            found = self._find_post(str(ref_id))
            if found is not None:
                referenced[found[0]["id"]] = found
            references.append((kind, found[0] if found else {"id": str(ref_id), "author_id": ""}))
        if retweet_of is not None and not text and str(retweet_of) in referenced:
            original, original_author = referenced[str(retweet_of)]
            text = f"RT @{original_author['username']}: {original['text']}"
        tid = self._new_id() if tweet_id is None else str(tweet_id)
        media_objects = p.full_media(tid, list(media))
        tweet = p.full_tweet(
            tweet_id=tid,
            text=text,
            author=user,
            created_at=created_at or p.iso_now(),
            lang=lang,
            references=references,
            media_keys=[*media_keys, *(m["media_key"] for m in media_objects)],
        )
        tweet["possibly_sensitive"] = bool(possibly_sensitive)
        facts = x_facts({"data": tweet})
        matching = self.rulebook.matching(text=text, author_username=user["username"], facts=facts)
        record = {"tweet": tweet, "author": user, "matching_rules": matching, "delivered": False}
        self.emitted.append(record)
        self.emitted_count += 1
        if not matching:
            return None
        message = None
        for conn in self.connections:
            msg = p.render(tweet, user, matching, **conn.fields, referenced=referenced, media=media_objects)
            if conn.send(p.dumps(msg) + b"\r\n") and message is None:
                message = msg
        if message is not None:
            record["delivered"] = True
            self.delivered.append(message)
            self.delivered_count += 1
        return message

    def _find_post(self, tweet_id: str) -> tuple[dict, dict] | None:
        """An emitted Post and its author, newest first (the last HISTORY Posts are kept)."""
        for record in reversed(self.emitted):
            if record["tweet"]["id"] == tweet_id:
                return record["tweet"], record["author"]
        return None

    def start_rate(
        self,
        rate: float,
        count: int,
        text: str = DEFAULT_RATE_TEXT,
        author: dict | None = None,
        media: list[dict] = (),
    ) -> dict:
        """Emit ``count`` Posts (0 = until stopped) at ``rate`` per second.

        ``{n}`` in ``text`` is the 1-based sequence number and ``{t}`` the
        emit time in ms since the epoch; a template without ``{t}`` gets
        `` t={t} #bench`` appended. ``media``: X media objects each Post carries (as ``emit``).
        """
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.stop_rate()
        template = text if "{t}" in text else text + " t={t} #bench"
        self.rate_status = {
            "running": True,
            "rate": rate,
            "count": count,
            "text": template,
            "emitted": 0,
            "delivered": 0,
            "started_at": p.iso_now(),
        }
        self._rate_task = asyncio.get_running_loop().create_task(
            self._run_rate(rate, count, template, author, list(media))
        )
        log.info("rate: %s Posts/s, count %s, text %r", rate, count or "unlimited", template)
        return dict(self.rate_status)

    def stop_rate(self) -> dict:
        if self._rate_task is not None:
            self._rate_task.cancel()
            self._rate_task = None
        self.rate_status["running"] = False
        return dict(self.rate_status)

    async def _run_rate(
        self, rate: float, count: int, template: str, author: dict | None, media: list[dict] = ()
    ) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while not count or n < count:
            n += 1
            delay = start + (n - 1) / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = str(int(time.time() * 1000))
            text = template.replace("{n}", str(n)).replace("{t}", now_ms)
            delivered = self.emit(text, author=author, media=media) is not None
            self.rate_status["emitted"] = n
            self.rate_status["delivered"] += delivered
        self.rate_status["running"] = False
        self.rate_status["finished_at"] = p.iso_now()
        self._rate_task = None
        log.info("rate: finished, %d emitted", n)
