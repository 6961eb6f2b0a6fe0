"""Emulator state: tokens, the status store, streaming sockets, faults, the rate limiter.

Every method of :class:`MastodonCore` is synchronous and runs on the emulator's event loop
thread; :class:`mastodonemulator.MastodonEmulator` marshals calls from other threads.
Sockets are written by each connection's own pump task, so publishing never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiohttp import web

from .entities import iso, parse_time
from .ratelimit import DEFAULT_LIMIT, DEFAULT_PERIOD_S, RateLimiter
from .store import StatusRecord, StatusStore
from .streaming import StreamConnection

log = logging.getLogger("mastodonemulator")

DEFAULT_TOKEN = "test-token"  # noqa: S105 - the emulator's default test credential
READ_SCOPES = {"read", "read:statuses"}  # streaming.md: hashtag/public streams need read:statuses
DEFAULT_RATE_TEXT = "bench {n} t={t} #bench"


@dataclass(frozen=True)
class Token:
    scopes: frozenset[str]
    user: bool = True  # False: an app-only token (client credentials), refused by streaming since 4.2

    @property
    def can_read_statuses(self) -> bool:
        return bool(self.scopes & READ_SCOPES)


def make_token(spec: str | dict | Token | None) -> Token:
    if isinstance(spec, Token):
        return spec
    if spec is None or isinstance(spec, str):
        return Token(frozenset((spec or "read").split()))
    return Token(frozenset(str(spec.get("scopes", "read")).split()), bool(spec.get("user", True)))


class MastodonCore:
    def __init__(
        self,
        *,
        domain: str = "mastodon.example",
        tokens: dict[str, str | dict | Token] | None = None,
        rate_limit: int = DEFAULT_LIMIT,
        rate_period: float = DEFAULT_PERIOD_S,
        public_timelines: bool = True,
        title: str = "Mastodon emulator",
    ) -> None:
        self.domain = domain
        self.title = title
        self.public_timelines = public_timelines  # timelines.md: public unless preview is disabled
        self.tokens: dict[str, Token] = {
            t: make_token(s) for t, s in (tokens if tokens is not None else {DEFAULT_TOKEN: "read"}).items()
        }
        self.limiter = RateLimiter(rate_limit, rate_period)
        self.streaming_url = ""  # set by the server once its address is known
        self.connections: list[StreamConnection] = []
        self._conn_seq = 0
        self.store = StatusStore(domain, self._publish)
        self.reset()

    def reset(self) -> None:
        """Forget statuses, accounts, emoji, counters, faults and rate windows (sockets stay)."""
        last_id = self.store.last_id
        self.store = StatusStore(self.domain, self._publish)
        self.store.last_id = last_id
        self.limiter = RateLimiter(self.limiter.limit, self.limiter.period)
        self.streaming_refusal: int | None = None
        self.connect_count = 0  # every streaming handshake, whatever the outcome
        self.accepted_count = 0
        self.events_published = 0
        self.requests: list[dict] = []  # REST requests, oldest first (the last 1000)
        if getattr(self, "_rate_task", None) is not None:
            self._rate_task.cancel()
        self._rate_task: asyncio.Task | None = None
        self.rate_status: dict = {"running": False}

    # -- authentication --------------------------------------------------------

    @staticmethod
    def token_of(request: web.Request) -> str | None:
        """streaming.md "Authorization styles": the Authorization header (preferred), the
        Sec-WebSocket-Protocol header, or the ``access_token`` query parameter (legacy)."""
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        protocol = request.headers.get("Sec-WebSocket-Protocol")
        if protocol:
            return protocol.split(",")[0].strip()
        return request.query.get("access_token")

    def check_stream_token(self, request: web.Request) -> tuple[int, str] | None:
        """None to accept a streaming handshake, else (HTTP status, error message)."""
        token = self.token_of(request)
        if not token:
            return 401, "Missing access token"
        found = self.tokens.get(token)
        if found is None:
            return 401, "Invalid access token"  # streaming.md: "closed immediately"
        if not found.user:  # streaming.md 4.2.0: "changed to require a User token"
            return 401, "This method requires an authenticated user"
        return None

    def add_token(self, token: str, spec: str | dict | Token | None = None) -> dict:
        """Accept ``token`` with ``spec`` scopes ("read", "read:statuses", ...; default "read")."""
        self.tokens[token] = found = make_token(spec)
        return {"token": token, "scopes": sorted(found.scopes), "user": found.user}

    def revoke_token(self, token: str) -> int:
        """Revoke ``token`` (oauth.md "Revoke a token"): REST answers 401 from now on, and its open
        streaming sockets are closed, as the streaming server does on the token's ``kill`` system
        message (streaming/index.js ``subscribeWebsocketToSystemChannel``); a new handshake with it
        is refused with 401 "Invalid access token". Returns how many sockets were closed."""
        self.tokens.pop(token, None)
        conns = [conn for conn in self.connections if conn.token == token]
        for conn in conns:
            conn.closing = True
            asyncio.get_running_loop().create_task(conn.ws.close())
            self.close_connection(conn, "token revoked")
        log.info("token revoked; %d stream(s) closed", len(conns))
        return len(conns)

    def record_request(self, request: web.Request) -> None:
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query)})
        del self.requests[:-1000]

    def rate_key(self, request: web.Request) -> str:
        token = self.token_of(request)
        return f"token:{token}" if token in self.tokens else f"ip:{request.remote}"

    # -- streaming -------------------------------------------------------------

    def open_connection(self, ws: web.WebSocketResponse, request: web.Request) -> StreamConnection:
        self._conn_seq += 1
        conn = StreamConnection(self._conn_seq, ws, request, self.token_of(request) or "")
        self.connections.append(conn)
        self.accepted_count += 1
        log.info("stream #%d connected (%d open)", conn.id, len(self.connections))
        return conn

    def close_connection(self, conn: StreamConnection, reason: str) -> None:
        if conn in self.connections:
            self.connections.remove(conn)
            log.info("stream #%d closed (%s, %d events sent)", conn.id, reason, conn.events_sent)

    def _publish(self, event: str, record: StatusRecord, payload: str) -> int:
        queued = sum(conn.offer(record, event, payload) for conn in self.connections)
        self.events_published += queued
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d stream event(s)", event, record.id, queued)
        return queued

    def drop_connections(self, code: int | None = None) -> int:
        """Close every socket: with a close frame ``code``, or (None) by cutting TCP."""
        conns = list(self.connections)
        for conn in conns:
            if code is None:
                conn.abort()
            else:
                conn.closing = True
                asyncio.get_running_loop().create_task(
                    conn.ws.close(code=code, message=b"closed by emulator")
                )
            self.close_connection(conn, "dropped by control")
        return len(conns)

    def send_raw(self, text: str) -> int:
        """A fault: one text frame, exactly ``text``, to every open streaming socket (a malformed
        event, an event type this emulator never sends, an oversized payload). Returns the count."""
        for conn in self.connections:
            conn.push_text(text)
        return len(self.connections)

    def refuse_streaming(self, status: int | None = 503) -> int | None:
        """Answer streaming handshakes (and the health check) with ``status`` until None."""
        self.streaming_refusal = status
        log.info("streaming %s", f"refused with {status}" if status else "accepted again")
        return status

    # -- rate generator ----------------------------------------------------------

    def start_rate(
        self, rate: float, count: int, text: str = DEFAULT_RATE_TEXT, account: str | None = None
    ) -> dict:
        """Emit ``count`` statuses (0 = until stopped) at ``rate`` per second; ``{n}`` in
        ``text`` is the sequence number, ``{t}`` the emit time in ms since the epoch."""
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.stop_rate()
        self.rate_status = {"running": True, "rate": rate, "count": count, "text": text, "emitted": 0}
        self.rate_status["started_at"] = iso(parse_time(None))
        self._rate_task = asyncio.get_running_loop().create_task(self._run_rate(rate, count, text, account))
        log.info("rate: %s statuses/s, count %s, text %r", rate, count or "unlimited", text)
        return dict(self.rate_status)

    def stop_rate(self) -> dict:
        if self._rate_task is not None:
            self._rate_task.cancel()
            self._rate_task = None
        self.rate_status["running"] = False
        return dict(self.rate_status)

    async def _run_rate(self, rate: float, count: int, template: str, account: str | None) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while not count or n < count:
            n += 1
            delay = start + (n - 1) / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            text = template.replace("{n}", str(n)).replace("{t}", str(int(time.time() * 1000)))
            self.store.emit(text, account=account)
            self.rate_status["emitted"] = n
        self.rate_status["running"] = False
        self._rate_task = None
        log.info("rate: finished, %d emitted", n)

    # -- observing ---------------------------------------------------------------

    def state(self) -> dict:
        return {
            "domain": self.domain,
            "streaming_url": self.streaming_url,
            "connections": [c.describe() for c in self.connections],
            "connect_count": self.connect_count,
            "accepted_count": self.accepted_count,
            "streaming_refusal": self.streaming_refusal,
            "statuses": len(self.store.statuses),
            "last_status_id": str(self.store.last_id),
            "accounts": sorted(self.store.accounts),
            "events_published": self.events_published,
            "rate_limit": {
                "limit": self.limiter.limit,
                "period": self.limiter.period,
                "refused": self.limiter.refused,
            },
            "requests": len(self.requests),
            "rate": dict(self.rate_status),
        }
