"""Replay sources: a network's recorded sample, looped at a fixed rate with fresh ids and times.

In development they stand in for each network that is not configured (streamer/build.py), so
`make run` shows a mixed wall offline; anywhere they run when named (`--source replay`,
`replay:bluesky`, `replay:mastodon`). Each sample is in its network's own shape (streamer/data/),
converted and matched by the live source's code, so a replayed post is what that network would
have given:

- `ReplaySource` (here): X's filtered-stream messages, matched as X matches them on its server.
- `BlueskyReplaySource` (replay_bluesky.py): Jetstream commit events and the authors' profiles.
- `MastodonReplaySource` (replay_mastodon.py): Status entities, only those with a followed hashtag.

Contract, for all three: each pass over the sample delivers every line some topic matches as a new
post (a fresh id, now as its time), so it is stored again and shows on top; one post every 1/rate
seconds; with none matching in a whole pass, the next pass waits IDLE_PASS_WAIT_S. An invalid rule
is refused alone, with its reason. Images point at this site's copies (replay_media.py), so they
show without the network: each replay delivers posts it converted itself, images rewritten.
"""

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.normalize import NormalizedTweet, PayloadError, normalize
from feed.rule_check import RuleOutcome
from feed.rule_facts import x_facts
from feed.rules import Rule, RuleError, compile_rule
from streamer.sources import Deliver, OnState, TopicRule
from streamer.sources.replay_media import with_local_media

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLE_FILE = DATA_DIR / "sample_stream.ndjson"
# Twitter's snowflake epoch: ids made from it look like, and sort like, real X ids.
SNOWFLAKE_EPOCH_MS = 1288834974657
# With no topic matching anything in a whole pass, wait this long before trying again.
IDLE_PASS_WAIT_S = 1.0


class SampleReplay:
    """The loop every replay shares. A subclass names its sample and says which lines it can
    replay (`usable`) and what one line gives on this pass (`next_post`: a post, or None if no
    topic follows it)."""

    name: str
    network: str
    sample: Path  # the bundled sample, unless another file is given
    noun = "posts"

    def __init__(self, *, path: Path | None = None, rate: float = 2.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (posts per second)")
        self.path = Path(path) if path else self.sample
        self.rate = rate
        self._rules: list[tuple[str, Rule]] = []
        self._refused: set[int] = set()  # lines the conversion refused: logged once, then skipped

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path.name} at {self.rate:g}/s>"

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        rules, outcomes = [], []
        for topic in topics:
            try:
                rules.append((topic.slug, compile_rule(topic.query)))
                outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query))
            except RuleError as error:
                logger.warning("%s: topic %s has an invalid rule, skipped: %s", self.name, topic.slug, error)
                outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query, error=str(error)))
        self._rules = rules
        self.rules_changed()
        logger.info("%s: %d topic rules active", self.name, len(rules))
        return outcomes

    def rules_changed(self) -> None:
        """Called after `sync_rules` set `self._rules`."""

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        lines = self.load()
        rate = f"{self.rate:g}/s"
        on_state("streaming", f"replay of {len(lines)} {self.noun} from {self.path.name} at {rate}")
        while True:
            matched_any = False
            for number, line in enumerate(lines):
                if number in self._refused:
                    continue
                try:
                    post = self.next_post(line)
                except PayloadError as error:  # the samples are checked, but a --replay-file may not be
                    self._refused.add(number)
                    logger.warning("%s: a post of %s skipped: %s", self.name, self.path.name, error)
                    continue
                if post is None:
                    continue
                matched_any = True
                await deliver(post)
                await asyncio.sleep(1 / self.rate)
            if not matched_any:
                await asyncio.sleep(IDLE_PASS_WAIT_S)

    def next_post(self, line: dict[str, Any]) -> Any | None:
        raise NotImplementedError

    def usable(self, line: Any) -> bool:
        raise NotImplementedError

    def load(self) -> list[dict[str, Any]]:
        """The sample's usable lines (JSON objects, one a line); ValueError if there is none."""
        lines = []
        with self.path.open(encoding="utf-8") as file:
            for number, text in enumerate(file, start=1):
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except ValueError as error:
                    logger.warning("%s: line %d is not JSON, skipped: %s", self.path, number, error)
                    continue
                if self.usable(line):
                    lines.append(line)
                else:
                    logger.warning("%s: line %d is not one of its %s, skipped", self.path, number, self.noun)
        if not lines:
            raise ValueError(f"{self.path} holds no {self.noun}")
        return lines


class ReplaySource(SampleReplay):
    """X: the filtered stream's messages, tagged with the topics whose rules match, as X tags them."""

    name = "replay"
    network = "x"  # replays recorded X posts
    sample = SAMPLE_FILE
    noun = "messages"

    def __init__(self, *, path: Path | None = None, rate: float = 2.0) -> None:
        super().__init__(path=path, rate=rate)
        self._sequence = 0

    def usable(self, line: Any) -> bool:
        return isinstance(line, dict) and isinstance(line.get("data"), dict)

    def next_post(self, message: dict[str, Any]) -> NormalizedTweet | None:
        """Normalised here rather than by the worker, so its images can be pointed at this site."""
        fresh = self.replayed(message)
        return with_local_media(normalize(fresh)) if fresh is not None else None

    def replayed(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """`message` as if it had just been posted, with the topics it matches; None if none."""
        data = message.get("data") or {}
        username = _author_username(message, str(data.get("author_id", "")))
        text = str(data.get("text", ""))
        facts = x_facts(message).kwargs()
        tags = [
            slug for slug, rule in self._rules if rule.matches(text=text, author_username=username, **facts)
        ]
        if not tags:
            return None
        tweet_id = self._next_id()
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        fresh_data = dict(data, id=tweet_id, created_at=now, edit_history_tweet_ids=[tweet_id])
        return dict(message, data=fresh_data, matching_rules=[{"id": "0", "tag": t} for t in tags])

    def _next_id(self) -> str:
        self._sequence = (self._sequence + 1) % 4096
        return str(((int(time.time() * 1000) - SNOWFLAKE_EPOCH_MS) << 22) | self._sequence)


def _author_username(message: dict[str, Any], author_id: str) -> str:
    for user in (message.get("includes") or {}).get("users") or []:
        if isinstance(user, dict) and str(user.get("id")) == author_id:
            return str(user.get("username") or "")
    return ""
