"""What the drill talks to besides the viewers: the emulators' control endpoints, /healthz, the API
and the database (the truth the viewers are checked against). Loopback only, every call bounded.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import psycopg

from drill.stack import MASTODON_TAG, STAFF_PASSWORD, STAFF_USER, TOPIC_SLUG

HTTP_TIMEOUT_S = 10.0


def _loopback(url: str) -> str:
    # The drill must never reach beyond this machine, whatever a caller passes in.
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"refusing a non-loopback URL: {url}")
    return url


class Http:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def get(self, url: str) -> Any:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        async with self.session.get(_loopback(url), timeout=timeout) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def post(self, url: str, body: dict | None = None, data: bytes | None = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        payload = data if data is not None else json.dumps(body or {}).encode()
        headers = {"Content-Type": "application/json"}
        async with self.session.post(
            _loopback(url), data=payload, headers=headers, timeout=timeout
        ) as response:
            response.raise_for_status()
            return await response.json(content_type=None)


class Emulator:
    """The X emulator's /_emulator/ control endpoints (see xemulator/server.py)."""

    def __init__(self, http: Http, base_url: str) -> None:
        self.http, self.base = http, base_url + "/_emulator"

    async def state(self) -> dict:
        return await self.http.get(f"{self.base}/state")

    async def emit(self, text: str) -> bool:
        """True if the emulator wrote the post to an open stream (X can only deliver to one)."""
        author = {"id": "42", "username": "drill", "name": "Drill"}
        return (await self.http.post(f"{self.base}/emit", {"text": text, "author": author}))["delivered"]

    async def emit_raw(self, line: bytes) -> bool:
        return (await self.http.post(f"{self.base}/emit_raw", data=line))["sent"] > 0

    async def fail(self, status: int, count: int = 1) -> None:
        await self.http.post(f"{self.base}/fail", {"status": status, "count": count})

    async def drop(self) -> None:
        await self.http.post(f"{self.base}/drop")

    async def stall(self, stalled: bool = True) -> None:
        await self.http.post(f"{self.base}/stall", {"stalled": stalled})

    async def operational_disconnect(self) -> None:
        await self.http.post(f"{self.base}/operational_disconnect")

    async def wait(self, predicate, within: float, every: float = 0.1) -> dict | None:
        """Poll the state until `predicate(state)` holds; the state, or None after `within` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            state = await self.state()
            if predicate(state):
                return state
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(every)


class Bluesky:
    """The Bluesky emulator's /_emulator/ control endpoints (see blueskyemulator/server.py)."""

    AUTHOR = "drill.bsky.test"

    def __init__(self, http: Http, base_url: str) -> None:
        self.http, self.base = http, base_url + "/_emulator"

    async def state(self) -> dict:
        return await self.http.get(f"{self.base}/state")

    async def add_author(self) -> None:
        await self.http.post(f"{self.base}/accounts", {"handle": self.AUTHOR, "displayName": "Drill"})

    async def post(self, text: str) -> dict:
        """A post on the network: kept by Jetstream for replay, so it is delivered once we follow."""
        return await self.http.post(f"{self.base}/post", {"text": text, "author": self.AUTHOR})

    async def emit(self, text: str) -> bool:
        await self.post(text)
        return True

    async def commit(self, record: dict | None, operation: str = "create") -> dict:
        body = {"did": self.AUTHOR, "collection": "app.bsky.feed.post", "operation": operation}
        return await self.http.post(f"{self.base}/commit", {**body, "record": record})

    async def event(self, kind: str, body: dict) -> dict:
        return await self.http.post(f"{self.base}/event", {"kind": kind, "body": body, "did": self.AUTHOR})

    async def raw(self, text: str) -> int:
        return (await self.http.post(f"{self.base}/raw", {"text": text}))["sent"]

    async def drop(self) -> int:
        return (await self.http.post(f"{self.base}/drop"))["dropped"]

    async def refuse(self, status: int | None) -> None:
        await self.http.post(f"{self.base}/refuse", {"status": status})


class Mastodon:
    """The Mastodon emulator's /_emulator/ control endpoints (see mastodonemulator/server.py)."""

    ACCOUNT = "drill"

    def __init__(self, http: Http, base_url: str) -> None:
        self.http, self.base = http, base_url + "/_emulator"

    async def state(self) -> dict:
        return await self.http.get(f"{self.base}/state")

    async def status(self, text: str) -> dict:
        """A status with the followed hashtag: on its stream and its timeline, so always delivered."""
        body = {"text": f"{text} #{MASTODON_TAG}", "account": self.ACCOUNT}
        return await self.http.post(f"{self.base}/statuses", body)

    async def emit(self, text: str) -> bool:
        await self.status(text)
        return True

    async def raw(self, text: str) -> int:
        return (await self.http.post(f"{self.base}/streaming/raw", {"text": text}))["sent"]

    async def drop(self) -> int:
        return (await self.http.post(f"{self.base}/streaming/drop"))["dropped"]

    async def add_token(self, token: str) -> None:
        await self.http.post(f"{self.base}/tokens", {"token": token, "scopes": "read"})

    async def revoke(self, token: str) -> int:
        return (await self.http.post(f"{self.base}/tokens/revoke", {"token": token}))["closed"]

    async def exhaust_rate_limit(self, seconds: float) -> None:
        await self.http.post(f"{self.base}/ratelimit/exhaust", {"seconds": seconds})

    async def subscribed(self) -> bool:
        """Some open socket follows the drill's hashtag."""
        connections = (await self.state())["connections"]
        return any(["hashtag", MASTODON_TAG] in c["subscriptions"] for c in connections)


class Web:
    def __init__(self, http: Http, base_url: str) -> None:
        self.http, self.base = http, base_url

    async def login(self) -> None:
        """Log in as the drill's staff user: /healthz shows the worker's fields to staff only."""
        timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
        url = _loopback(f"{self.base}/admin/login/")
        async with self.http.session.get(url, timeout=timeout) as response:
            response.raise_for_status()
        token = next((c.value for c in self.http.session.cookie_jar if c.key == "csrftoken"), "")
        form = {
            "username": STAFF_USER,
            "password": STAFF_PASSWORD,
            "next": "/admin/",
            "csrfmiddlewaretoken": token,
        }
        async with self.http.session.post(url, data=form, timeout=timeout, allow_redirects=False) as response:
            if response.status != 302:
                raise RuntimeError(f"drill: staff login refused (HTTP {response.status})")

    async def worker(self) -> dict:
        """The worker's status as /healthz shows it to operators (staff)."""
        health = await self.http.get(f"{self.base}/healthz")
        if "worker" not in health:  # not logged in (yet, or any more)
            await self.login()
            health = await self.http.get(f"{self.base}/healthz")
        return health["worker"]

    async def worker_or_none(self) -> dict | None:
        try:
            return await self.worker()
        except (aiohttp.ClientError, TimeoutError):
            return None  # the web process is the one being restarted

    async def topic_count(self, slug: str = TOPIC_SLUG) -> int:
        topics = (await self.http.get(f"{self.base}/api/topics/"))["topics"]
        return next((t["tweet_count"] for t in topics if t["slug"] == slug), -1)


@dataclass(frozen=True)
class Row:
    seq: int
    x_id: str
    head: str  # the first characters of the text: the drill's markers are at the start
    length: int


class Db:
    """Checks against the drill database (read-only, but for what an admin would change)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
            return db.execute(sql, params).fetchall()

    def topic_rows(self, slug: str = TOPIC_SLUG) -> list[Row]:
        rows = self._query(
            "SELECT tp.id, t.network_id, left(t.text, 80), length(t.text) FROM feed_tweet t"
            " JOIN feed_topicpost tp ON tp.tweet_id = t.id"
            " JOIN feed_topic p ON p.id = tp.topic_id"
            " WHERE p.slug = %s AND tp.state = 'visible' ORDER BY tp.id",
            (slug,),
        )
        return [Row(*row) for row in rows]

    def network_status(self, slug: str) -> list[dict]:
        """What the worker last recorded of each source following the topic (the admin's column)."""
        rows = self._query("SELECT network_status FROM feed_topic WHERE slug = %s", (slug,))
        return rows[0][0] if rows and isinstance(rows[0][0], list) else []

    def mastodon_token_set(self, token: str) -> None:
        """What an admin does on the instance's page: a new access token (the worker follows it)."""
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
            db.execute("UPDATE streamer_mastodoninstance SET access_token = %s", (token,))

    def max_seq(self) -> int:
        return self._query("SELECT coalesce(max(id), 0) FROM feed_topicpost")[0][0]

    def text_counts(self, prefixes: list[str]) -> dict[str, int]:
        """How many stored tweets start with each prefix (an X id is unique; a text should be too)."""
        if not prefixes:
            return {}
        # The prefixes are the drill's own ("drill <word> <n> "): no LIKE wildcards to escape.
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
            rows = db.execute(
                "SELECT p, (SELECT count(*) FROM feed_tweet WHERE starts_with(text, p))"
                " FROM unnest(%s::text[]) AS p",
                (prefixes,),
            ).fetchall()
        return dict(rows)

    def duplicate_x_ids(self) -> int:
        return self._query("SELECT count(*) - count(DISTINCT (source, network_id)) FROM feed_tweet")[0][0]
