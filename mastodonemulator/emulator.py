"""``MastodonEmulator``: one emulated instance in a daemon thread (or on the current loop),
driven from Python. See the package docstring for usage."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from aiohttp import web

from .core import DEFAULT_RATE_TEXT, MastodonCore, Token
from .ratelimit import DEFAULT_LIMIT, DEFAULT_PERIOD_S
from .server import build_app

CALL_TIMEOUT_S = 10  # a control call waits this long for the emulator's loop


class MastodonEmulator:
    """A local Mastodon instance: REST, streaming WebSocket and control.

    Threaded (any code, including async tests; it has its own loop)::

        with MastodonEmulator(domain="a.example", tokens={"tok": "read"}) as emu:
            emu.base_url, emu.streaming_url

    On the current event loop: ``async with MastodonEmulator() as emu: ...``.

    ``separate_streaming=True`` serves the WebSocket from a second port (advertised in
    ``configuration.urls.streaming``) and redirects ``/api/v1/streaming`` on the REST port there.
    ``streaming_url`` overrides what the instance endpoint advertises (e.g. a proxy in front).
    Every method is thread-safe: calls from other threads run on the emulator's loop.
    """

    def __init__(
        self,
        *,
        domain: str = "mastodon.example",
        tokens: dict[str, str | dict | Token] | None = None,
        rate_limit: int = DEFAULT_LIMIT,
        rate_period: float = DEFAULT_PERIOD_S,
        public_timelines: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        separate_streaming: bool = False,
        streaming_port: int = 0,
        streaming_url: str | None = None,
    ) -> None:
        self.core = MastodonCore(
            domain=domain,
            tokens=tokens,
            rate_limit=rate_limit,
            rate_period=rate_period,
            public_timelines=public_timelines,
        )
        self.host, self.port = host, port
        self.separate_streaming = separate_streaming
        self.streaming_port = streaming_port
        self._streaming_url_override = streaming_url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._runners: list[web.AppRunner] = []

    # -- addresses -------------------------------------------------------------

    def _url(self, scheme: str, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The REST base, e.g. ``http://127.0.0.1:PORT`` (a client's "instance URL")."""
        return self._url("http", self.port)

    @property
    def streaming_url(self) -> str:
        """What ``configuration.urls.streaming`` says: ``ws://host:port`` (no path)."""
        return self.core.streaming_url

    @property
    def domain(self) -> str:
        return self.core.domain

    # -- lifecycle ---------------------------------------------------------------

    def _bind(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        return socket.create_server((self.host, port), family=family)

    def _bind_all(self) -> list[tuple[str, socket.socket]]:
        sockets = [("rest" if self.separate_streaming else "both", self._bind(self.port))]
        self.port = sockets[0][1].getsockname()[1]
        stream_port = self.port
        if self.separate_streaming:
            sockets.append(("streaming", self._bind(self.streaming_port)))
            stream_port = self.streaming_port = sockets[1][1].getsockname()[1]
        self.core.streaming_url = self._streaming_url_override or self._url("ws", stream_port)
        return sockets

    async def _astart(self, sockets: list[tuple[str, socket.socket]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        for role, sock in sockets:
            runner = web.AppRunner(
                build_app(self.core, role), handler_cancellation=True, access_log=None, shutdown_timeout=1
            )
            await runner.setup()
            await web.SockSite(runner, sock).start()
            self._runners.append(runner)

    async def _astop(self) -> None:
        self.core.stop_rate()
        self.core.drop_connections(1001)  # "going away"
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()

    def start(self) -> MastodonEmulator:
        """Start in a daemon thread with its own event loop."""
        sockets = self._bind_all()
        started: concurrent.futures.Future = concurrent.futures.Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart(sockets))
            except BaseException as exc:
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=main, name=f"mastodonemulator-{self.domain}", daemon=True)
        self._thread.start()
        started.result(timeout=CALL_TIMEOUT_S)
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result(timeout=CALL_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CALL_TIMEOUT_S)
        self._thread = self._loop = None

    def __enter__(self) -> MastodonEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> MastodonEmulator:
        await self._astart(self._bind_all())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._astop()
        self._loop = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("MastodonEmulator is not running")
        if threading.get_ident() == self._loop_thread_id:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the caller's thread
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=CALL_TIMEOUT_S)

    # -- content -------------------------------------------------------------------

    def add_account(self, username: str, domain: str | None = None, **fields: Any) -> dict:
        """Create (or update) an account; a ``domain`` other than the instance's makes it
        remote (``acct`` = ``username@domain``). Fields: display_name, bot, note, avatar,
        created_at, followers_count, following_count, emojis, or any other Account field."""
        return self._call(lambda: self.core.store.add_account(username, domain, **fields).entity())

    def add_emoji(self, shortcode: str, url: str | None = None, category: str | None = None) -> dict:
        """Register a custom emoji: ``:shortcode:`` in later statuses lists it in ``emojis``."""
        return self._call(self.core.store.add_emoji, shortcode, url, category)

    def add_token(self, token: str, scopes: str = "read", user: bool = True) -> dict:
        return self._call(self.core.add_token, token, {"scopes": scopes, "user": user})

    def emit(
        self,
        text: str | None = None,
        *,
        account: str | dict | None = None,
        content: str | None = None,
        tags: Iterable[str] | None = None,
        spoiler_text: str = "",
        sensitive: bool | None = None,
        visibility: str = "public",
        language: str | None = "en",
        media: Iterable[dict] = (),
        emojis: Iterable[dict] | None = None,
        mentions: Iterable[str] | None = None,
        in_reply_to: str | int | None = None,
        reblog_of: str | int | None = None,
        uri: str | None = None,
        url: str | None = None,
        created_at: str | datetime | None = None,
    ) -> dict:
        """Publish a status; returns its Status entity. It reaches matching hashtag (and
        public) streams as ``update`` and the tag timelines.

        ``text`` is formatted as Mastodon would (paragraphs, links, ``#tags``, ``@mentions``
        of known accounts, ``:emoji:`` of registered emoji). ``content`` instead passes raw
        HTML through untouched (hostile content for sanitiser tests); its tags are found in
        its text unless ``tags`` is given. ``account`` is an acct (``"alice"``,
        ``"bob@b.example"``, created on first use) or a dict of Account fields. ``media``:
        ``[{"type": "image"|"gifv"|"video", "description", "width", "height", "url"?}]``.
        ``in_reply_to`` / ``reblog_of`` name a status id on this instance; a boost's own
        content is empty and ``reblog`` holds the original. ``uri``/``url``/``created_at``
        simulate a status federated from elsewhere (see also :meth:`federate`)."""
        kwargs = {k: v for k, v in locals().items() if k not in ("self", "text")}
        return self._call(lambda: self.core.store.emit(text, **kwargs))

    def edit(self, status_id: str | int, **changes: Any) -> dict:
        """Edit a status (text or content, spoiler_text, sensitive, media, language):
        same id and uri, new ``edited_at``, a ``status.update`` event."""
        return self._call(lambda: self.core.store.edit(status_id, **changes))

    def delete(self, status_id: str | int) -> bool:
        """Delete a status (and its boosts): a ``delete`` event whose payload is the id."""
        return self._call(self.core.store.delete, status_id)

    def federate(self, status: dict) -> dict:
        """Receive a Status entity from another emulator, as federation would: same ``uri``
        and ``url``, a local id of this instance, the author as ``user@origin``."""
        return self._call(self.core.store.federate, status)

    def get_status(self, status_id: str | int) -> dict | None:
        return self._call(self.core.store.get, status_id)

    # -- faults and load -------------------------------------------------------------

    def drop_streaming(self, code: int | None = None) -> int:
        """Close every streaming socket: with a close frame ``code``, or (None) cut TCP."""
        return self._call(self.core.drop_connections, code)

    def refuse_streaming(self, status: int | None = 503) -> int | None:
        """Streaming handshakes and the health check answer HTTP ``status`` until called
        with None: a client must fall back to polling the tag timeline."""
        return self._call(self.core.refuse_streaming, status)

    def send_raw(self, text: str) -> int:
        """Send one text frame, exactly ``text``, to every streaming socket; returns the count."""
        return self._call(self.core.send_raw, text)

    def revoke_token(self, token: str) -> int:
        """Revoke ``token``: REST answers 401, its sockets are closed, new handshakes refused."""
        return self._call(self.core.revoke_token, token)

    def exhaust_rate_limit(self, seconds: float) -> float:
        """Every REST request is answered 429 for ``seconds`` (reset headers say when it ends)."""
        return self._call(self.core.limiter.exhaust, seconds)

    def start_rate(
        self, rate: float, count: int = 0, text: str = DEFAULT_RATE_TEXT, account: str | None = None
    ) -> dict:
        return self._call(self.core.start_rate, rate, count, text, account)

    def stop_rate(self) -> dict:
        return self._call(self.core.stop_rate)

    def reset(self) -> None:
        self._call(self.core.reset)

    # -- observing ---------------------------------------------------------------------

    def state(self) -> dict:
        return self._call(self.core.state)

    @property
    def connection_count(self) -> int:
        return self._call(lambda: len(self.core.connections))

    @property
    def subscriptions(self) -> list[list[str]]:
        """Every open socket's streams, e.g. ``[["hashtag", "cats"], ...]``."""
        return self._call(lambda: [s.stream for c in self.core.connections for s in c.subscriptions.values()])

    @property
    def requests(self) -> list[dict]:
        """REST requests (method, path, query), oldest first."""
        return self._call(lambda: list(self.core.requests))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5) -> bool:
        """Poll ``predicate`` (blocking) until true or ``timeout``."""
        if threading.get_ident() == self._loop_thread_id:
            raise RuntimeError("blocking wait on the emulator's loop; use wait_until_async")
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    async def wait_until_async(self, predicate: Callable[[], bool], timeout: float = 5) -> bool:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def wait_subscribed_async(self, count: int = 1, timeout: float = 5) -> bool:  # noqa: ASYNC109
        """Wait until open sockets hold ``count`` subscriptions in all."""
        return await self.wait_until_async(lambda: len(self.subscriptions) >= count, timeout)
