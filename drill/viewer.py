"""A viewer that behaves like the page (static/feed/feed.js, class LiveFeed), minus the DOM.

Per connection: merge the history frame; after a REconnect, read the moderation decisions made
since the last mark applied (as the page does), then page the API forward from the last seq held in
sync (`?after=<lastSeq>&limit=200`) until the pages meet the history or `has_more` is false; apply
live frames meanwhile. Unlike the page, which keeps its newest 200 and fetches only those, the drill
viewer keeps every tweet, so that a loss anywhere in the run shows. `last_seq` only advances while
in sync, so a connection that drops mid catch-up resumes from the same place. Pings and unknown
frames are ignored but keep the socket alive; 60 s of silence closes it. Closes, 4408 included, are
retried with full-jitter backoff (the page's 1 s..30 s shortened to 0.2 s..2 s so a drill step
settles in seconds).

Every tweet is kept by seq. A seq delivered again after it is held is a duplicate: harmless (deduped,
as the page does) but counted, by where it came from: history and API overlap after a reconnect is
by design; a duplicate in a live frame means the server sent the same tweet twice.
"""

import asyncio
import json
import logging
import random
from collections import Counter
from typing import Any

import aiohttp
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

logger = logging.getLogger(__name__)

RETRY_BASE_S = 0.2
RETRY_CAP_S = 2.0
HISTORY_TIMEOUT_S = 10.0  # the page drops a socket that sends no history within this
SILENCE_S = 60.0  # ... and one that sends no frame at all for this long
API_PAGE = 200
CLOSE_NOT_FOUND = 4404


def _valid(tweets: Any) -> list[dict]:
    if not isinstance(tweets, list):
        return []
    ok = [
        t
        for t in tweets
        if isinstance(t, dict)
        and isinstance(t.get("seq"), int)
        and t["seq"] > 0
        and isinstance(t.get("id"), str)
    ]
    return sorted(ok, key=lambda t: t["seq"])


def _max_seq(tweets: list[dict]) -> int:
    return max((t["seq"] for t in tweets), default=0)


class _Conn:
    def __init__(self, resume_from: int, resume_mod: int | None) -> None:
        self.resume_from = resume_from
        self.resume_mod = resume_mod
        self.synced = resume_from == 0
        self.max_seen = 0
        self.max_mod = 0


class Viewer:
    def __init__(self, ws_url: str, api_url: str, origin: str, session: aiohttp.ClientSession) -> None:
        self.ws_url, self.api_url, self.origin, self.session = ws_url, api_url, origin, session
        self.moderation_url = api_url.replace("/tweets/", "/moderation/")
        self.held: dict[int, dict] = {}
        self.hidden_ids: set[str] = set()
        self.last_seq = 0
        self.mod_mark: int | None = None  # every decision up to it applied; unknown before a history
        self.state = "connecting"
        self.attempt = 0
        self.connects = 0
        self.closes: Counter[int | str] = Counter()
        self.duplicates: Counter[str] = Counter()  # by source: history, api, live
        self.api_tweets = 0  # tweets fetched by catch-up (new or not)
        self._conn: _Conn | None = None

    # --- The connection loop --------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, and reconnect after every close, until cancelled."""
        while True:
            code = await self._connect_once()
            self.closes[code] += 1
            self._conn = None
            if code == CLOSE_NOT_FOUND:
                self.state = "not-found"  # the page waits a minute; a drill step settles sooner
                delay = RETRY_CAP_S
            else:
                ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2**self.attempt)
                self.attempt += 1
                delay = max(0.1, random.random() * ceiling)
                self.state = "reconnecting"
            await asyncio.sleep(delay)

    async def _connect_once(self) -> int | str:
        """One connection, until it closes; the close code (or what went wrong)."""
        self.state = "connecting"
        conn = self._conn = _Conn(self.last_seq, self.mod_mark)
        syncing: asyncio.Task | None = None
        loop = asyncio.get_running_loop()
        try:
            async with websockets.connect(
                self.ws_url, origin=self.origin, max_size=None, open_timeout=5, compression=None
            ) as socket:
                self.connects += 1
                history_by = loop.time() + HISTORY_TIMEOUT_S
                while True:
                    # The page's two timers: no history within 10 s, or 60 s without any frame
                    # (the server pings every 25 s), and it closes the socket to reconnect.
                    wait = SILENCE_S if syncing else min(SILENCE_S, history_by - loop.time())
                    try:
                        data = await asyncio.wait_for(socket.recv(), max(0.0, wait))
                    except TimeoutError:
                        return "silence" if syncing else "no history"
                    syncing = self._on_message(conn, socket, data) or syncing
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else "dropped"
        except InvalidStatus as error:
            return f"HTTP {error.response.status_code}"
        except (OSError, InvalidHandshake, TimeoutError) as error:
            return type(error).__name__
        finally:
            if syncing is not None:
                syncing.cancel()
                await asyncio.gather(syncing, return_exceptions=True)

    # --- Frames ---------------------------------------------------------------------------------
    def _on_message(self, conn: _Conn, socket, data: str) -> asyncio.Task | None:
        """Apply one frame; for the history frame, the task that catches up through the API."""
        try:
            message = json.loads(data)
        except ValueError:
            return None  # the page ignores what it cannot parse
        kind = message.get("type")
        if kind in ("hide", "show"):
            self._decide(kind, message)
            if isinstance(message.get("mod"), int):
                conn.max_mod = max(conn.max_mod, message["mod"])
                if conn.synced:
                    self.mod_mark = max(self.mod_mark or 0, conn.max_mod)
        elif kind == "tweets":
            self._accept(conn, _valid(message.get("tweets")), "live")
        elif kind == "history":
            # Merged at once, before any later frame, as the page does; only the API catch-up runs
            # alongside the live frames.
            tweets = _valid(message.get("tweets"))
            self.hidden_ids -= {t["id"] for t in tweets}  # visible as of the history
            self._accept(conn, tweets, "history")
            mark = message.get("mod") if isinstance(message.get("mod"), int) else 0
            return asyncio.create_task(self._sync(conn, socket, tweets, mark))
        return None  # ping, or unknown: ignored

    def _decide(self, kind: str, message: dict) -> None:
        if kind == "hide":
            hidden = set(map(str, message.get("ids") or []))
            self.hidden_ids |= hidden
            self.held = {seq: t for seq, t in self.held.items() if t.get("id") not in hidden}
        else:
            tweets = _valid(message.get("tweets"))
            self.hidden_ids -= {t["id"] for t in tweets}
            for tweet in tweets:
                self.held.setdefault(tweet["seq"], tweet)

    def _accept(self, conn: _Conn, tweets: list[dict], source: str) -> None:
        for tweet in tweets:
            if tweet["id"] in self.hidden_ids:
                continue  # hidden while this was under way: the page skips it too
            if tweet["seq"] in self.held:
                self.duplicates[source] += 1
            else:
                self.held[tweet["seq"]] = tweet
        conn.max_seen = max(conn.max_seen, _max_seq(tweets))
        if conn.synced:
            self.last_seq = max(self.last_seq, conn.max_seen)

    async def _sync(self, conn: _Conn, socket, tweets: list[dict], mark: int) -> None:
        # The history is the newest tweets, contiguous: if it reaches back to resume_from it covers
        # the gap; otherwise page forward from resume_from until the pages meet it.
        oldest = tweets[0]["seq"] if tweets else float("inf")
        missed_decisions = conn.resume_mod is not None and mark > conn.resume_mod
        if missed_decisions or (not conn.synced and oldest > conn.resume_from):
            self.state = "syncing"
            try:
                if missed_decisions:
                    await self._catch_up_decisions(conn)
                if not conn.synced and oldest > conn.resume_from:
                    await self._catch_up(conn, oldest)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                logger.warning("viewer: catch-up failed (%r); reconnecting", error)
                await socket.close()
                return
        conn.synced = True
        self.last_seq = max(self.last_seq, conn.max_seen)
        self.mod_mark = max(self.mod_mark or 0, mark, conn.max_mod)
        self.attempt = 0
        self.state = "live"

    async def _get(self, url: str) -> dict:
        timeout = aiohttp.ClientTimeout(total=10)
        async with self.session.get(url, timeout=timeout, headers={"Accept": "application/json"}) as response:
            response.raise_for_status()
            return await response.json()

    async def _catch_up_decisions(self, conn: _Conn) -> None:
        after = conn.resume_mod
        while True:
            page = await self._get(f"{self.moderation_url}?after={after}")
            events = [
                e for e in page.get("events") or [] if isinstance(e, dict) and isinstance(e.get("mod"), int)
            ]
            for event in events:
                if event.get("action") == "hide":
                    self._decide("hide", {"ids": [event.get("id")]})
                elif event.get("action") == "show":
                    self._decide("show", {"tweets": [event.get("tweet")]})
                after = max(after, event["mod"])
            conn.max_mod = max(conn.max_mod, after)
            if not page.get("has_more") or not events:
                return

    async def _catch_up(self, conn: _Conn, stop_at: float) -> None:
        after = conn.resume_from
        while True:
            url = f"{self.api_url}?after={after}&limit={API_PAGE}"
            timeout = aiohttp.ClientTimeout(total=10)
            async with self.session.get(
                url, timeout=timeout, headers={"Accept": "application/json"}
            ) as response:
                response.raise_for_status()
                page = await response.json()
            tweets = _valid(page.get("tweets"))
            self.api_tweets += len(tweets)
            self._accept(conn, tweets, "api")
            after = _max_seq(tweets)
            if not page.get("has_more") or after == 0 or after >= stop_at:
                return
