"""Who posted on Bluesky: Jetstream gives only a DID; the AppView's getProfiles gives the rest.

`ProfileBook.request(did)` answers at once from a bounded LRU cache, or returns a future that a
batched lookup resolves: the DIDs asked for within BATCH_WINDOW_S share a call, up to 25 a call
(getProfiles' limit). A lookup that fails, or a DID the AppView does not know, resolves to the bare
DID (`BlueskyAuthor(did)`), remembered for a shorter time so a broken AppView is not asked again
for every post. An identity event (a new handle) updates the cached handle; an account event that
deactivates an account forgets it.
"""

import asyncio
import logging
import time
from collections import OrderedDict

import aiohttp

from feed.bluesky import URL_CHARS, BlueskyAuthor

logger = logging.getLogger(__name__)

GET_PROFILES = "/xrpc/app.bsky.actor.getProfiles"
MAX_ACTORS = 25  # app.bsky.actor.getProfiles: "actors" maxLength 25
# Posts of the same few moments share a call; 50 ms is a sixth of what a post may wait (300 ms).
BATCH_WINDOW_S = 0.05
# Calls in flight at once: a slow AppView gets at most this many, and the rest queue.
MAX_CALLS_IN_FLIGHT = 4
# A call slower than this is given up; posts never wait for it anyway, only the late update does.
CALL_TIMEOUT_S = 10.0
# Display names and avatars change seldom, and handle changes come as identity events.
PROFILE_TTL_S = 30 * 60
# A DID the AppView did not answer for (unknown, or the call failed): asked again after this.
MISSING_TTL_S = 60.0
# Profiles kept: an event's authors over hours, at a few hundred bytes each.
CACHE_MAX = 20_000


class ProfileBook:
    def __init__(self, *, appview_url: str, cache_max: int = CACHE_MAX) -> None:
        self.url = appview_url.rstrip("/") + GET_PROFILES
        self.cache_max = cache_max
        self.calls = 0
        self.failures = 0
        # Cache and lookups: did -> (author, expires at, monotonic); did -> its pending future.
        self._cache: OrderedDict[str, tuple[BlueskyAuthor, float]] = OrderedDict()
        self._waiting: dict[str, asyncio.Future[BlueskyAuthor]] = {}
        self._wanted: list[str] = []
        self._wake = asyncio.Event()

    def cached(self, did: str) -> BlueskyAuthor | None:
        found = self._cache.get(did)
        if found is None or found[1] < time.monotonic():
            return None
        self._cache.move_to_end(did)
        return found[0]

    def request(self, did: str) -> "asyncio.Future[BlueskyAuthor]":
        """The author of `did`: a done future if cached, else one the next batched lookup resolves."""
        if (author := self.cached(did)) is not None:
            done = asyncio.get_running_loop().create_future()
            done.set_result(author)
            return done
        if (pending := self._waiting.get(did)) is None:
            pending = self._waiting[did] = asyncio.get_running_loop().create_future()
            self._wanted.append(did)
            self._wake.set()
        return pending

    def on_identity(self, did: str, handle: object) -> None:
        """An identity event: the account's handle changed (or must be looked up again)."""
        found = self._cache.get(did)
        if found is None:
            return
        if isinstance(handle, str) and handle and found[0].handle:
            author = found[0]
            self._cache[did] = (BlueskyAuthor(did, handle.lower(), author.name, author.avatar_url), found[1])
        else:
            del self._cache[did]

    def forget(self, did: str) -> None:
        self._cache.pop(did, None)

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
                    batch, self._wanted = self._wanted[:MAX_ACTORS], self._wanted[MAX_ACTORS:]
                    await calls.acquire()
                    task = tasks.create_task(self._look_up(session, batch))
                    task.add_done_callback(lambda _: calls.release())

    async def _look_up(self, session: aiohttp.ClientSession, dids: list[str]) -> None:
        self.calls += 1
        started = time.monotonic()
        found: dict[str, BlueskyAuthor] = {}
        try:
            async with session.get(self.url, params=[("actors", did) for did in dids]) as response:
                if response.status != 200:
                    raise aiohttp.ClientError(f"HTTP {response.status}: {(await response.text())[:200]}")
                body = await response.json(content_type=None)
            found = {author.did: author for author in profile_authors(body)}
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.failures += 1
            logger.warning(
                "bluesky: getProfiles for %d accounts failed after %.0f ms: %r",
                len(dids),
                (time.monotonic() - started) * 1000,
                error,
            )
        now = time.monotonic()
        for did in dids:
            author = found.get(did)
            self._remember(author or BlueskyAuthor(did), now + (PROFILE_TTL_S if author else MISSING_TTL_S))
            if (pending := self._waiting.pop(did, None)) is not None and not pending.done():
                pending.set_result(author or BlueskyAuthor(did))

    def _remember(self, author: BlueskyAuthor, expires: float) -> None:
        self._cache[author.did] = (author, expires)
        self._cache.move_to_end(author.did)
        while len(self._cache) > self.cache_max:
            self._cache.popitem(last=False)


def profile_authors(body: object) -> list[BlueskyAuthor]:
    """The authors in a getProfiles answer (`{"profiles": [...]}`); malformed entries are skipped."""
    profiles = body.get("profiles") if isinstance(body, dict) else None
    authors = []
    for profile in profiles if isinstance(profiles, list) else ():
        if not isinstance(profile, dict) or not isinstance(profile.get("did"), str):
            continue
        handle, name, avatar = profile.get("handle"), profile.get("displayName"), profile.get("avatar")
        authors.append(
            BlueskyAuthor(
                did=profile["did"],
                handle=handle if isinstance(handle, str) and handle != "handle.invalid" else "",
                name=name.strip() if isinstance(name, str) else "",
                avatar_url=avatar
                if isinstance(avatar, str) and avatar.startswith("https://") and len(avatar) <= URL_CHARS
                else "",
            )
        )
    return authors
