"""What Jetstream leaves out, from Bluesky's AppView: who posted, and what a post quotes.

Jetstream gives a post's author as a DID and a quoted post as a URI. `ProfileBook.request(did)`
(getProfiles) and `PostBook.request(uri)` (getPosts) answer at once from a bounded LRU cache, or
return a future that a batched lookup resolves: the keys asked for within BATCH_WINDOW_S share a
call, up to 25 a call (both methods' limit). A lookup that fails, or a key the AppView does not
know, resolves to what stands for unknown (the bare DID's `BlueskyAuthor(did)`, a quote card with
only its link), remembered for a shorter time so a broken AppView is not asked again for every post.
An identity event (a new handle) updates the cached handle; an account event that deactivates an
account forgets it.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Generic, TypeVar

import aiohttp

from feed.bluesky import URL_CHARS, BlueskyAuthor
from feed.references import bluesky_quote

logger = logging.getLogger(__name__)

GET_PROFILES = "/xrpc/app.bsky.actor.getProfiles"
GET_POSTS = "/xrpc/app.bsky.feed.getPosts"
MAX_PER_CALL = 25  # getProfiles' "actors" and getPosts' "uris": maxLength 25
# Posts of the same few moments share a call; 50 ms is a sixth of what a post may wait (300 ms).
BATCH_WINDOW_S = 0.05
# Calls in flight at once, per book: a slow AppView gets at most this many, and the rest queue.
MAX_CALLS_IN_FLIGHT = 4
# A call slower than this is given up; posts never wait for it anyway, only the late update does.
CALL_TIMEOUT_S = 10.0
# Display names, avatars and quoted posts change seldom (handle changes come as identity events).
FOUND_TTL_S = 30 * 60
# A key the AppView did not answer for (unknown, or the call failed): asked again after this.
MISSING_TTL_S = 60.0
# Entries kept: an event's authors and quoted posts over hours, at a few hundred bytes each.
CACHE_MAX = 20_000

Value = TypeVar("Value")


class AppViewBook(Generic[Value]):
    """A batched, cached AppView lookup of one kind: subclasses say what to call and how to read it."""

    path = ""
    param = ""
    what = ""  # for the logs

    def __init__(self, *, appview_url: str, cache_max: int = CACHE_MAX) -> None:
        self.url = appview_url.rstrip("/") + self.path
        self.cache_max = cache_max
        self.calls = 0
        self.failures = 0
        # key -> (value, expires at, monotonic); key -> its pending future; keys to ask for.
        self._cache: OrderedDict[str, tuple[Value, float]] = OrderedDict()
        self._waiting: dict[str, asyncio.Future[Value]] = {}
        self._wanted: list[str] = []
        self._wake = asyncio.Event()

    def unknown(self, key: str) -> Value:
        raise NotImplementedError

    def read(self, body: Any) -> dict[str, Value]:
        """The values in the AppView's answer, by key."""
        raise NotImplementedError

    def cached(self, key: str) -> Value | None:
        found = self._cache.get(key)
        if found is None or found[1] < time.monotonic():
            return None
        self._cache.move_to_end(key)
        return found[0]

    def request(self, key: str) -> "asyncio.Future[Value]":
        """The value for `key`: a done future if cached, else one the next batched lookup resolves."""
        if (value := self.cached(key)) is not None:
            done = asyncio.get_running_loop().create_future()
            done.set_result(value)
            return done
        if (pending := self._waiting.get(key)) is None:
            pending = self._waiting[key] = asyncio.get_running_loop().create_future()
            self._wanted.append(key)
            self._wake.set()
        return pending

    def forget(self, key: str) -> None:
        self._cache.pop(key, None)

    async def run(self) -> None:
        """Look up what is asked for, in batches, until cancelled."""
        calls = asyncio.Semaphore(MAX_CALLS_IN_FLIGHT)
        timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session, asyncio.TaskGroup() as tasks:
            while True:
                await self._wake.wait()
                await asyncio.sleep(BATCH_WINDOW_S)
                self._wake.clear()
                while self._wanted:
                    batch, self._wanted = self._wanted[:MAX_PER_CALL], self._wanted[MAX_PER_CALL:]
                    await calls.acquire()
                    task = tasks.create_task(self._look_up(session, batch))
                    task.add_done_callback(lambda _: calls.release())

    async def _look_up(self, session: aiohttp.ClientSession, keys: list[str]) -> None:
        self.calls += 1
        started = time.monotonic()
        found: dict[str, Value] = {}
        try:
            async with session.get(self.url, params=[(self.param, key) for key in keys]) as response:
                if response.status != 200:
                    raise aiohttp.ClientError(f"HTTP {response.status}: {(await response.text())[:200]}")
                found = self.read(await response.json(content_type=None))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failures += 1
            logger.warning(
                "bluesky: %s for %d %s failed after %.0f ms: %r",
                self.path.rsplit(".", 1)[-1],
                len(keys),
                self.what,
                (time.monotonic() - started) * 1000,
                error,
            )
        now = time.monotonic()
        for key in keys:
            value = found.get(key)
            if value is None:
                value = self.unknown(key)
            self._remember(key, value, now + (FOUND_TTL_S if key in found else MISSING_TTL_S))
            if (pending := self._waiting.pop(key, None)) is not None and not pending.done():
                pending.set_result(value)

    def _remember(self, key: str, value: Value, expires: float) -> None:
        self._cache[key] = (value, expires)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_max:
            self._cache.popitem(last=False)


class ProfileBook(AppViewBook[BlueskyAuthor]):
    """Authors by DID (getProfiles)."""

    path, param, what = GET_PROFILES, "actors", "accounts"

    def unknown(self, key: str) -> BlueskyAuthor:
        return BlueskyAuthor(key)

    def read(self, body: Any) -> dict[str, BlueskyAuthor]:
        return {author.did: author for author in profile_authors(body)}

    def on_identity(self, did: str, handle: object) -> None:
        """An identity event: the account's handle changed (or must be looked up again)."""
        found = self._cache.get(did)
        if found is None:
            return
        if isinstance(handle, str) and handle and found[0].handle:
            self._cache[did] = (replace(found[0], handle=handle.lower()), found[1])
        else:
            del self._cache[did]


class PostBook(AppViewBook[dict]):
    """Quoted posts by at:// URI (getPosts), as quote cards (feed/references.py)."""

    path, param, what = GET_POSTS, "uris", "posts"

    def unknown(self, key: str) -> dict:
        return bluesky_quote(key, None)

    def read(self, body: Any) -> dict[str, dict]:
        posts = body.get("posts") if isinstance(body, dict) else None
        views = [p for p in posts if isinstance(p, dict)] if isinstance(posts, list) else []
        return {
            view["uri"]: bluesky_quote(view["uri"], view)
            for view in views
            if isinstance(view.get("uri"), str)
        }


def profile_authors(body: object) -> list[BlueskyAuthor]:
    """The authors in a getProfiles answer (`{"profiles": [...]}`); malformed entries are skipped."""
    profiles = body.get("profiles") if isinstance(body, dict) else None
    authors = []
    for profile in profiles if isinstance(profiles, list) else ():
        if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
            continue
        handle, name, avatar = profile.get("handle"), profile.get("displayName"), profile.get("avatar")
        followers, created = profile.get("followersCount"), profile.get("createdAt")
        authors.append(
            BlueskyAuthor(
                did=profile["did"],
                handle=handle if isinstance(handle, str) and handle != "handle.invalid" else "",
                name=name.strip() if isinstance(name, str) else "",
                avatar_url=avatar
                if isinstance(avatar, str) and avatar.startswith("https://") and len(avatar) <= URL_CHARS
                else "",
                followers=followers
                if isinstance(followers, int) and not isinstance(followers, bool)
                else None,
                created_at=created if isinstance(created, str) and len(created) <= 40 else "",
            )
        )
    return authors
