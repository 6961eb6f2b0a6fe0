"""The Mastodon replay: Status entities from a sample, as if an instance's hashtag streams sent them now.

The sample (streamer/data/sample_mastodon.ndjson, from make_mastodon_sample.py) holds statuses as
a tag timeline returns them. The replay follows what the live source follows
(streamer/sources/mastodon_tags.py `hashtag_rules`: each rule's #hashtags; a rule without one is refused
with the same reason), so a status reaches it only if it carries one of them, and then it is
converted by feed/mastodon.py and matched against every whole rule (`status_topics`), as a status
from an instance is. On each pass a matching status gets a fresh id (a Mastodon snowflake of now),
`uri`, `url` and `created_at` (a boost: the boost's and the boosted status's), so it is stored as
a new post.
"""

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.mastodon import status_post, with_topics
from feed.normalize import NormalizedTweet
from feed.rule_check import RuleOutcome
from feed.rule_facts import mastodon_facts
from feed.rules import Rule
from streamer.sources import TopicRule
from streamer.sources.mastodon import snowflake_at
from streamer.sources.mastodon_tags import hashtag_rules, status_topics, tag_names
from streamer.sources.replay import DATA_DIR, SampleReplay
from streamer.sources.replay_media import with_local_media

MASTODON_SAMPLE = DATA_DIR / "sample_mastodon.ndjson"
# The status id at the end of a `uri` (…/statuses/<id>, a boost's …/statuses/<id>/activity) or a
# `url` (…/@user/<id>): replaced by the fresh id.
_TRAILING_ID = re.compile(r"/\d+(/activity)?$")


class MastodonReplaySource(SampleReplay):
    name = "replay:mastodon"
    network = "mastodon"
    sample = MASTODON_SAMPLE
    noun = "statuses"

    def __init__(self, *, path: Path | None = None, rate: float = 2.0) -> None:
        super().__init__(path=path, rate=rate)
        self._topic_rules: dict[str, Rule] = {}
        self._tags: set[str] = set()
        self._last_id = 0  # each id is above the last, so every uri is new

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        self._topic_rules, self._tags, outcomes = hashtag_rules(topics)
        self._rules = list(self._topic_rules.items())
        return outcomes

    def usable(self, status: Any) -> bool:
        return isinstance(status, dict) and isinstance(status.get("uri"), str)

    def next_post(self, status: dict[str, Any]) -> NormalizedTweet | None:
        tags = tag_names(status)
        if not self._tags & {tag.casefold() for tag in tags}:
            return None  # no followed hashtag: a hashtag stream would not have sent it
        fresh = self.replayed(status)
        post = status_post(fresh)
        slugs = status_topics(self._topic_rules, post, mastodon_facts(fresh), tags)
        return with_local_media(with_topics(post, slugs)) if slugs else None

    def replayed(self, status: dict[str, Any]) -> dict[str, Any]:
        """`status` as if it had just been posted: a new id, uri, url and time (for a boost, the
        boosted status's too)."""
        fresh = self._fresh(status)
        if isinstance(status.get("reblog"), dict):
            fresh["reblog"] = self._fresh(status["reblog"])
        return fresh

    def _fresh(self, status: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        self._last_id = max(snowflake_at(now), self._last_id + 1)
        status_id = str(self._last_id)
        fresh = dict(status, id=status_id)
        fresh["created_at"] = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
        fresh["created_at"] = fresh["created_at"].replace("+00:00", "Z")
        for key in ("uri", "url"):
            if isinstance(status.get(key), str):
                fresh[key] = _TRAILING_ID.sub(lambda match: f"/{status_id}{match[1] or ''}", status[key])
        return fresh
