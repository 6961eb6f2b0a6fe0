"""The replay source: a recorded stream, looped at a fixed rate with fresh ids and times."""

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.rule_check import RuleOutcome
from feed.rule_facts import x_facts
from feed.rules import Rule, RuleError, compile_rule
from streamer.sources import Deliver, OnState, TopicRule

logger = logging.getLogger(__name__)

SAMPLE_FILE = Path(__file__).resolve().parent.parent / "data" / "sample_stream.ndjson"
# Twitter's snowflake epoch: ids made from it look like, and sort like, real X ids.
SNOWFLAKE_EPOCH_MS = 1288834974657
# With no topic matching anything in a whole pass, wait this long before trying again.
IDLE_PASS_WAIT_S = 1.0


class ReplaySource:
    name = "replay"
    network = "x"  # replays recorded X posts

    def __init__(self, *, path: Path = SAMPLE_FILE, rate: float = 2.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (tweets per second)")
        self.path = path
        self.rate = rate
        self._rules: list[tuple[str, Rule]] = []
        self._sequence = 0

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        rules, outcomes = [], []
        for topic in topics:
            try:
                rules.append((topic.slug, compile_rule(topic.query)))
                outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query))
            except RuleError as error:
                logger.warning("replay: topic %s has an invalid rule, skipped: %s", topic.slug, error)
                outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query, error=str(error)))
        self._rules = rules
        logger.info("replay: %d topic rules active", len(rules))
        return outcomes

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        messages = self._load()
        on_state("streaming", f"replay of {len(messages)} messages from {self.path.name} at {self.rate:g}/s")
        while True:
            matched_any = False
            for message in messages:
                fresh = self.replayed(message)
                if fresh is None:
                    continue
                matched_any = True
                await deliver(fresh)
                await asyncio.sleep(1 / self.rate)
            if not matched_any:
                await asyncio.sleep(IDLE_PASS_WAIT_S)

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

    def _load(self) -> list[dict[str, Any]]:
        messages = []
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    message = json.loads(line)
                except ValueError as error:
                    logger.warning("replay: %s line %d is not JSON, skipped: %s", self.path, number, error)
                    continue
                if isinstance(message, dict) and isinstance(message.get("data"), dict):
                    messages.append(message)
                else:
                    logger.warning("replay: %s line %d has no tweet, skipped", self.path, number)
        if not messages:
            raise ValueError(f"{self.path} holds no tweets")
        return messages


def _author_username(message: dict[str, Any], author_id: str) -> str:
    for user in (message.get("includes") or {}).get("users") or []:
        if isinstance(user, dict) and str(user.get("id")) == author_id:
            return str(user.get("username") or "")
    return ""
