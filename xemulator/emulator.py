"""``XEmulator``: run the emulator in a daemon thread (or on the current loop)
and drive it from Python. See the package docstring for usage."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from .core import DEFAULT_RATE_TEXT, EmulatorCore
from .server import build_app


class XEmulator:
    """Local X API v2 filtered-stream server.

    Threaded (any code, including async tests — it has its own loop)::

        with XEmulator(token="t", keepalive_interval=0.5) as emu:
            emu.base_url

    On the current event loop::

        async with XEmulator(token="t") as emu:
            ...  # use the *_async waiters; the other methods work unchanged

    Every method is thread-safe: calls from other threads are marshalled to
    the emulator's loop and wait (up to 10 s) for the result.
    """

    def __init__(
        self,
        token: str = "test-token",  # noqa: S107 - the emulator's default test credential
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        keepalive_interval: float = 20.0,
        max_rules: int = 1000,
        max_rule_length: int = 1024,
        max_connections: int = 1,
    ) -> None:
        self.core = EmulatorCore(
            token,
            keepalive_interval=keepalive_interval,
            max_rules=max_rules,
            max_rule_length=max_rule_length,
            max_connections=max_connections,
        )
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token(self) -> str:
        return self.core.token

    # -- lifecycle -----------------------------------------------------------

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family)
        self.port = sock.getsockname()[1]
        return sock

    async def _astart(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        self._runner = web.AppRunner(
            build_app(self.core), handler_cancellation=True, access_log=None, shutdown_timeout=1
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _astop(self) -> None:
        self.core.stop_rate()
        self.core.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> XEmulator:
        """Start in a daemon thread with its own event loop."""
        sock = self._bind()
        started: concurrent.futures.Future = concurrent.futures.Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart(sock))
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

        self._thread = threading.Thread(target=main, name="xemulator", daemon=True)
        self._thread.start()
        started.result(timeout=10)
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> XEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> XEmulator:
        await self._astart(self._bind())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._astop()
        self._loop = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("XEmulator is not running")
        if threading.get_ident() == self._loop_thread_id:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the caller's thread
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    # -- driving the stream ----------------------------------------------------

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
        """Publish a Post. Returns the message queued to the connected stream
        (``data``/``includes``/``matching_rules``), or None if no rule matched,
        no stream is connected, or it is stalled.

        A reply, quote or repost names the emitted Post it refers to by id; the
        author may carry ``created_at`` and ``public_metrics`` (see
        :meth:`EmulatorCore.emit`)."""
        return self._call(
            self.core.emit,
            text,
            author,
            tweet_id,
            created_at,
            lang,
            reply_to=reply_to,
            quote_of=quote_of,
            retweet_of=retweet_of,
            media_keys=media_keys,
            media=media,
            possibly_sensitive=possibly_sensitive,
        )

    def emit_raw(self, data: bytes | str, newline: bool = True) -> int:
        """Send bytes verbatim (plus ``\\r\\n`` unless ``newline=False`` or
        already newline-terminated). Returns the number of streams written."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        return self._call(self.core.emit_raw, raw, newline)

    def fail_next_connects(self, status: int = 503, count: int = 1, body: dict | None = None) -> None:
        """Answer the next ``count`` stream connects with HTTP ``status`` and an
        X-style body (or ``body``)."""
        self._call(self.core.fail_next_connects, status, count, body)

    def drop_connections(self) -> int:
        """Abort open streams' TCP connections mid-stream."""
        return self._call(self.core.drop_connections)

    def stall(self, stalled: bool = True) -> int:
        """Open streams stop sending keep-alives and data; sockets stay open."""
        return self._call(self.core.stall, stalled)

    def operational_disconnect(self) -> int:
        """Send X's operational-disconnect error line, then end the stream."""
        return self._call(self.core.operational_disconnect)

    def add_rule(self, value: str, tag: str | None = None) -> dict:
        """Add a rule without HTTP; raises ``feed.rules.RuleError``."""
        return self._call(lambda: self.core.rulebook.add(value, tag))

    def remove_rule(self, rule_id: str) -> bool:
        """Delete a rule as someone in X's developer console would (no HTTP); False if absent."""
        return self._call(lambda: self.core.rulebook.remove(rule_id))

    def start_rate(
        self,
        rate: float,
        count: int,
        text: str = DEFAULT_RATE_TEXT,
        author: dict | None = None,
        media: list[dict] = (),
    ) -> dict:
        return self._call(self.core.start_rate, rate, count, text, author, media)

    def stop_rate(self) -> dict:
        return self._call(self.core.stop_rate)

    def reset(self) -> None:
        self._call(self.core.reset)

    # -- observing -------------------------------------------------------------

    def state(self, full: bool = False) -> dict:
        return self._call(self.core.state, full=full)

    @property
    def rules(self) -> list[dict]:
        return self._call(lambda: [dict(r) for r in self.core.rulebook.rules.values()])

    @property
    def connect_count(self) -> int:
        """Stream connect attempts, including refused ones (401/429/injected)."""
        return self._call(lambda: self.core.connect_count)

    @property
    def accepted_count(self) -> int:
        """Stream connects answered 200."""
        return self._call(lambda: self.core.accepted_count)

    @property
    def connection_count(self) -> int:
        return self._call(lambda: self.core.state()["connection_count"])

    @property
    def connected(self) -> bool:
        return self.connection_count > 0

    @property
    def last_request(self) -> dict | None:
        """Method, path, query and headers of the last ``/2`` request."""
        return self._call(lambda: self.core.last_request)

    @property
    def last_stream_request(self) -> dict | None:
        return self._call(lambda: self.core.last_stream_request)

    @property
    def emitted(self) -> list[dict]:
        """Every emitted Post: ``{"tweet", "author", "matching_rules", "delivered"}``."""
        return self._call(lambda: list(self.core.emitted))

    @property
    def delivered(self) -> list[dict]:
        """Messages queued to a stream, in order."""
        return self._call(lambda: list(self.core.delivered))

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

    def wait_connected(self, timeout: float = 5) -> bool:
        return self.wait_until(lambda: self.connected, timeout)

    async def wait_until_async(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5,  # noqa: ASYNC109 - same signature as wait_until
    ) -> bool:
        """Like ``wait_until`` but yields to the event loop (for async tests)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def wait_connected_async(self, timeout: float = 5) -> bool:  # noqa: ASYNC109
        return await self.wait_until_async(lambda: self.connected, timeout)
