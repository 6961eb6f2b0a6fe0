"""``BlueskyEmulator``: run the emulator in a daemon thread (or on the current loop) and drive
it from Python. See the package docstring for usage."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .core import BUFFER_SIZE, LOOKBACK_S, BlueskyCore
from .server import build_app

CALL_TIMEOUT_S = 10  # a control call that takes longer means the emulator's loop is stuck


class BlueskyEmulator:
    """Local Jetstream (``/subscribe``) and AppView (``getProfiles``) on one port.

    Threaded (any code, including async tests: it has its own loop)::

        with BlueskyEmulator() as emu:
            emu.jetstream_url  # ws://127.0.0.1:<port>/subscribe
            emu.base_url       # http://127.0.0.1:<port> (the AppView: /xrpc/…)

    On the current event loop: ``async with BlueskyEmulator() as emu:``; then wait with the
    ``*_async`` waiters. Every method is thread-safe: calls from other threads are marshalled to
    the emulator's loop and wait for the result.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        buffer_size: int = BUFFER_SIZE,
        lookback_s: float = LOOKBACK_S,
        profile_latency: float = 0.0,
    ) -> None:
        self.core = BlueskyCore(buffer_size=buffer_size, lookback_s=lookback_s)
        self.core.profile_latency = profile_latency
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
    def jetstream_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + "/subscribe"

    # -- lifecycle -----------------------------------------------------------------------------

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
        self.core.rate.stop()
        self.core.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> BlueskyEmulator:
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

        self._thread = threading.Thread(target=main, name="blueskyemulator", daemon=True)
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

    def __enter__(self) -> BlueskyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> BlueskyEmulator:
        await self._astart(self._bind())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._astop()
        self._loop = None

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("BlueskyEmulator is not running")
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

    # -- accounts and the AppView --------------------------------------------------------------

    def add_account(
        self,
        handle: str,
        *,
        did: str | None = None,
        display_name: str | None = None,
        avatar: str | None = None,
        description: str | None = None,
        followers_count: int = 0,
        created_at: str | None = None,
    ) -> dict:
        """Add an account (DID derived from the handle unless given); returns its profile view.
        ``created_at``: when the account was made (ISO 8601), for filters on account age."""
        account = self._call(
            self.core.add_account,
            handle,
            did=did,
            display_name=display_name,
            avatar=avatar,
            description=description,
            followers_count=followers_count,
            created_at=created_at,
        )
        return account.profile_view()

    def account(self, actor: str) -> dict | None:
        """An account's profile view by DID or handle, or None."""
        found = self._call(self.core.accounts.resolve, actor)
        return found.profile_view() if found else None

    @property
    def profile_latency(self) -> float:
        return self.core.profile_latency

    @profile_latency.setter
    def profile_latency(self, seconds: float) -> None:
        """Every getProfiles call waits this long before answering."""
        self._call(setattr, self.core, "profile_latency", float(seconds))

    @property
    def profile_calls(self) -> int:
        """getProfiles calls answered (or refused) since the start or the last reset."""
        return self._call(lambda: self.core.profile_calls)

    @property
    def profile_requests(self) -> list[list[str]]:
        """The ``actors`` of each getProfiles call, oldest first (the last 1,000)."""
        return self._call(lambda: [list(a) for a in self.core.profile_requests])

    # -- events --------------------------------------------------------------------------------

    def post(self, text: str, author: str | None = None, *, rkey: str | None = None, **fields: Any) -> dict:
        """Emit a post's create event; see :meth:`BlueskyCore.post`. The result has the event's
        fields plus ``uri`` (the post's AT URI)."""
        return self._call(self.core.post, text, author, rkey=rkey, **fields)

    @property
    def post_requests(self) -> list[list[str]]:
        """The uris of each getPosts call, oldest first."""
        return self._call(lambda: [list(u) for u in self.core.post_requests])

    def update_post(self, uri: str, text: str, **fields: Any) -> dict:
        return self._call(self.core.update_post, uri, text, **fields)

    def delete(self, uri: str) -> dict:
        """Emit a delete of any record (post, like, follow) by AT URI."""
        return self._call(self.core.delete, uri)

    def identity(self, actor: str, handle: str) -> dict:
        """Emit an identity event: the account's new handle."""
        return self._call(self.core.identity, actor, handle)

    def account_status(self, actor: str, active: bool, status: str | None = None) -> dict:
        return self._call(self.core.account_status, actor, active, status)

    def like(self, subject_uri: str, author: str | None = None) -> dict:
        return self._call(self.core.like, subject_uri, author)

    def repost(self, subject_uri: str, author: str | None = None) -> dict:
        return self._call(self.core.repost, subject_uri, author)

    def follow(self, subject: str, author: str | None = None) -> dict:
        return self._call(self.core.follow, subject, author)

    def commit(
        self,
        did: str,
        collection: str,
        operation: str = "create",
        rkey: str | None = None,
        record: dict | None = None,
    ) -> dict:
        """Emit a commit event for any collection."""
        return self._call(self.core.commit, did, collection, operation, rkey, record)

    def start_rate(
        self, rate: float, count: int, word: str = "bench", match_ratio: float = 0.1, seed: int | None = None
    ) -> dict:
        """Emit ``count`` posts at ``rate`` per second, ``match_ratio`` of them containing ``word``."""
        return self._call(self.core.rate.start, rate, count, word, match_ratio, seed)

    def stop_rate(self) -> dict:
        return self._call(self.core.rate.stop)

    @property
    def rate_status(self) -> dict:
        return self._call(self.core.rate.status)

    # -- faults --------------------------------------------------------------------------------

    def resend_on_reconnect(self, count: int, connects: int = 1) -> None:
        """The next ``connects`` subscribers first get ``count`` events they want from before the
        point they asked for: duplicates, as Jetstream's at-least-once delivery allows."""
        self._call(self.core.resend_on_reconnect, count, connects)

    def event(self, kind: str, body: dict, did: str | None = None) -> dict:
        """Emit an event of any ``kind`` (e.g. one Jetstream does not document yet)."""
        return self._call(self.core.event, did, kind, body)

    def send_raw(self, text: str) -> int:
        """Send one frame, exactly ``text``, to every subscriber (not kept for replay)."""
        return self._call(self.core.send_raw, text)

    def refuse(self, status: int | None = 503) -> int | None:
        """/subscribe answers HTTP ``status`` until called with None; events are still kept."""
        return self._call(self.core.refuse, status)

    def drop_connections(self) -> int:
        """Cut every ``/subscribe`` connection (TCP abort, no close frame)."""
        return self._call(self.core.drop_connections)

    def reset(self) -> None:
        self._call(self.core.reset)

    # -- observing -----------------------------------------------------------------------------

    def state(self) -> dict:
        return self._call(self.core.state)

    @property
    def connection_count(self) -> int:
        return self._call(lambda: len(self.core.subscribers))

    @property
    def last_time_us(self) -> int | None:
        return self._call(lambda: self.core.buffer[-1].time_us if self.core.buffer else None)

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

    async def wait_connected_async(self, count: int = 1, timeout: float = 5) -> bool:  # noqa: ASYNC109
        return await self.wait_until_async(lambda: self.connection_count >= count, timeout)
