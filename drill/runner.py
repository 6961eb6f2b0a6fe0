"""One fault step's bookkeeping: what was emitted, what must be stored, what the viewer must hold.

lost = good posts the network delivered that are not stored + stored posts (of the step's seq
range) the topic's viewer does not hold after a settle wait. A good tweet X could not deliver (no
open stream, or a stalled one) is not the product's loss: X does not replay it either; it is noted.
Bluesky (Jetstream replays from a cursor) and Mastodon (every status stays on its tag timeline)
deliver every post they accept, so each one counts. A post stored twice, or held by a viewer under
two seqs, is shown twice: a failure.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from drill.control import Bluesky, Db, Emulator, Mastodon, Web
from drill.stack import TOPIC_SLUG, Stack
from drill.viewer import Viewer

STORE_WAIT_S = 10.0
SETTLE_WAIT_S = 10.0
LOG_WAIT_S = 5.0
HEALTH_WAIT_S = 8.0  # the worker saves its status at most once a second, at least every 5 s
AUTHOR_ID = "42"


@dataclass
class Result:
    name: str
    ok: bool
    lost: int
    note: str

    def line(self) -> str:
        return f"{self.name:<30}  {'survived' if self.ok else 'FAILED  '}  lost={self.lost:<3}  {self.note}"


@dataclass
class Feed:
    """A topic the drill watches: its network, slug and viewer, and how a good post is made there
    (`emit(text)`: True if the network delivered it, or will)."""

    network: str
    slug: str
    viewer: Viewer
    emit: Callable[[str], Awaitable[bool]]


class Drill:
    """Everything a fault step needs: the processes, their control surfaces, the viewers."""

    def __init__(
        self,
        stack: Stack,
        web: Web,
        db: Db,
        feeds: dict[str, Feed],
        *,
        x: Emulator,
        bluesky: Bluesky,
        mastodon: Mastodon,
    ) -> None:
        self.stack, self.web, self.db, self.feeds = stack, web, db, feeds
        self.emulator, self.bluesky, self.mastodon = x, bluesky, mastodon
        self.viewer = feeds["x"].viewer  # the X topic's, which the X faults watch
        self._next_id = 8_000_000_000_000_000_000  # raw payload ids: 19 digits, clear of the emulator's

    def new_x_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    async def step(self, name: str, token: str, network: str = "x") -> "Step":
        """Start a fault step on `network`'s topic; `token` (one word) marks its posts' texts."""
        return await Step(self, name, token, self.feeds[network]).begin()

    async def rule_id(self) -> str:
        rules = (await self.emulator.state())["rules"]
        return next((r["id"] for r in rules if r.get("tag") == TOPIC_SLUG), "0")


class Step:
    def __init__(self, drill: Drill, name: str, token: str, feed: Feed) -> None:
        self.d, self.name, self.token, self.feed = drill, name, token, feed
        self.viewer = feed.viewer
        self.expected: list[str] = []  # text prefixes of delivered good tweets
        self.forbidden: list[str] = []  # text prefixes of bad input that must not be stored
        self.undelivered = 0
        self.problems: list[str] = []
        self.notes: list[str] = []
        self._n = 0
        self.store_wait_s = STORE_WAIT_S  # a polling source takes longer than a stream
        self._log_checks: list[tuple[str, str]] = []
        self._after_store: list = []

    async def begin(self) -> "Step":
        self.started = time.monotonic()
        self.start_seq = self.d.db.max_seq()
        self.worker_log = self.d.stack.worker.log_size()
        self.web_log = self.d.stack.web.log_size()
        self.dups = Counter(self.viewer.duplicates)
        self.connects = self.viewer.connects
        self.closes = Counter(self.viewer.closes)
        self.api_tweets = self.viewer.api_tweets
        self.rule_id = await self.d.rule_id()  # raw payloads name the rule, as X's do
        return self

    # --- Emitting -------------------------------------------------------------------------------
    def prefix(self) -> str:
        self._n += 1
        return f"drill {self.token} {self._n} "  # the trailing space keeps "1 " apart from "10 "

    async def good(self, count: int = 1, body: str = ".") -> list[str]:
        """Emit good posts on the step's network; their text prefixes."""
        prefixes = []
        for _ in range(count):
            prefix = self.prefix()
            prefixes.append(prefix)
            if await self.feed.emit(prefix + body):
                self.expected.append(prefix)
            else:
                self.undelivered += 1
        return prefixes

    def payload(self, prefix: str, body: str = ".", x_id: str | None = None) -> dict:
        return {
            "data": {"id": x_id or self.d.new_x_id(), "text": prefix + body, "author_id": AUTHOR_ID},
            "includes": {"users": [{"id": AUTHOR_ID, "username": "drill", "name": "Drill"}]},
            "matching_rules": [{"id": self.rule_id, "tag": TOPIC_SLUG}],
        }

    async def raw(
        self, line: bytes, *, good_prefix: str | None = None, bad_prefix: str | None = None
    ) -> None:
        """Send a raw stream line; a good one must be stored, a bad one must not."""
        sent = await self.d.emulator.emit_raw(line)
        if good_prefix is not None and sent:
            self.expected.append(good_prefix)
        if bad_prefix is not None:
            self.forbidden.append(bad_prefix)
        if not sent:
            self.problems.append("raw line not sent (no stream)")

    async def raw_json(self, message: dict, **kwargs) -> None:
        await self.raw(json.dumps(message).encode(), **kwargs)

    # --- Checks ---------------------------------------------------------------------------------
    def expect_worker_log(self, text: str) -> None:
        self._log_checks.append(("worker", text))

    def after_store(self, check) -> None:
        """Run `await check(step)` once the good tweets are stored (or the wait gave up)."""
        self._after_store.append(check)

    async def wait_log(self, which: str, text: str, within: float = LOG_WAIT_S) -> bool:
        proc = self.d.stack.worker if which == "worker" else self.d.stack.web
        offset = self.worker_log if which == "worker" else self.web_log
        deadline = time.monotonic() + within
        while text not in proc.log_since(offset):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def source_state(
        self, source: str, states: tuple[str, ...], what: str, within: float = HEALTH_WAIT_S
    ) -> str:
        """Wait until the worker records the source (its name, or the start of it) in one of `states`
        on the step's topic (the admin's networks column); a problem naming `what` if it never does."""
        deadline = time.monotonic() + within
        while True:
            rows = await asyncio.to_thread(self.d.db.network_status, self.feed.slug)
            state = next((r.get("state", "") for r in rows if str(r.get("source")).startswith(source)), "")
            if state in states:
                return state
            if time.monotonic() >= deadline:
                self.problems.append(f"{what} (the topic says {source}: {state or 'nothing'})")
                return state
            await asyncio.sleep(0.2)

    async def health(self, predicate, what: str, within: float = HEALTH_WAIT_S) -> dict | None:
        """Poll /healthz until `predicate(worker)` holds; a problem named `what` if it never does."""
        deadline = time.monotonic() + within
        while True:
            worker = await self.d.web.worker_or_none()
            if worker is not None and predicate(worker):
                return worker
            if time.monotonic() >= deadline:
                self.problems.append(f"/healthz: {what}")
                return worker
            await asyncio.sleep(0.2)

    async def wait_stored(self, within: float | None = None) -> list[str]:
        """Wait until every delivered good tweet so far is stored; the prefixes still missing."""
        deadline = time.monotonic() + (self.store_wait_s if within is None else within)
        while True:
            counts = await asyncio.to_thread(self.d.db.text_counts, self.expected)
            missing = [p for p in self.expected if counts[p] == 0]
            if not missing or time.monotonic() >= deadline:
                return missing
            await asyncio.sleep(0.1)

    async def finish(self) -> Result:
        db, viewer, slug = self.d.db, self.viewer, self.feed.slug
        for which, text in self._log_checks:
            if not await self.wait_log(which, text):
                self.problems.append(f"{which} log lacks {text!r}")
        # Stored: every delivered good tweet, once; no bad one.
        missing = await self.wait_stored()
        counts = await asyncio.to_thread(db.text_counts, self.expected + self.forbidden)
        for check in self._after_store:
            await check(self)
        if twice := [p for p in self.expected if counts[p] > 1]:
            self.problems.append(f"{len(twice)} stored twice")
        if stored_bad := [p for p in self.forbidden if counts[p] > 0]:
            self.problems.append(f"bad input stored: {stored_bad[0].strip()!r}")
        # Held: every stored tweet of the step's seq range, once the viewer is live again.
        deadline = time.monotonic() + SETTLE_WAIT_S
        while True:
            rows = [r for r in await asyncio.to_thread(db.topic_rows, slug) if r.seq > self.start_seq]
            unseen = [r for r in rows if r.seq not in viewer.held]
            if (not unseen and viewer.state == "live") or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.2)
        if missing:
            self.problems.append(f"not stored: {', '.join(p.strip() for p in missing[:3])}")
        if unseen:
            seqs = ranges([r.seq for r in unseen])
            self.problems.append(f"viewer ({viewer.state}) lacks {len(unseen)} stored: seq {seqs}")
        stored = {r.seq for r in rows}
        if phantom := [s for s in viewer.held if s > self.start_seq and s not in stored]:
            self.problems.append(f"viewer holds unknown seq {phantom[:3]}")
        if twice := shown_twice(viewer):
            self.problems.append(f"shown twice: {len(twice)} posts held under two seqs")
        return self._result(len(missing) + len(unseen))

    def _result(self, lost: int) -> Result:
        viewer = self.viewer
        dups = viewer.duplicates - self.dups
        parts = [*self.problems, *self.notes]
        if self.undelivered:
            parts.append(
                f"{self.undelivered} not delivered by {self.feed.network.capitalize()} (no open stream)"
            )
        if (reconnects := viewer.connects - self.connects) > 0:
            codes = ",".join(map(str, (viewer.closes - self.closes).keys()))
            via_api = viewer.api_tweets - self.api_tweets
            parts.append(f"viewer reconnected x{reconnects} (close {codes}), {via_api} via API")
        if dups:
            parts.append("dups " + ",".join(f"{k}={v}" for k, v in sorted(dups.items())))
        parts.append(f"{len(self.expected)} good, {time.monotonic() - self.started:.1f}s")
        return Result(self.name, not self.problems and lost == 0, lost, "; ".join(parts))


# What is kept of a post's text (feed/normalize.py MAX_TEXT_CHARS): the drill checks a huge post was
# cut to it, not refused.
MAX_TEXT_CHARS = 25_000


def stored_length_check(prefix: str) -> Callable[["Step"], Awaitable[None]]:
    """An after-store check: the post whose text starts with `prefix` was stored cut to
    MAX_TEXT_CHARS."""

    async def check(step: Step) -> None:
        rows = await asyncio.to_thread(step.d.db.topic_rows, step.feed.slug)
        row = next((r for r in rows if r.head.startswith(prefix)), None)
        if row is not None and row.length != MAX_TEXT_CHARS:
            step.problems.append(f"stored text is {row.length} chars, expected {MAX_TEXT_CHARS}")
        elif row is not None:
            step.notes.append(f"stored cut to {row.length} chars")

    return check


def shown_twice(viewer: Viewer) -> list[str]:
    """Post ids the viewer holds under more than one seq: on its page twice."""
    return [post_id for post_id, n in Counter(t["id"] for t in viewer.held.values()).items() if n > 1]


def ranges(seqs: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5,9": a gap reads at a glance."""
    parts: list[list[int]] = []
    for seq in sorted(seqs):
        if parts and seq == parts[-1][1] + 1:
            parts[-1][1] = seq
        else:
            parts.append([seq, seq])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in parts)
