"""The Bluesky replay: Jetstream commit events from a sample, as if Jetstream sent them now.

The sample (streamer/data/sample_bluesky.ndjson, from make_bluesky_sample.py) holds create events
for app.bsky.feed.post; the authors' profiles are beside it, as getProfiles answered for them
(sample_bluesky_profiles.json), and a quoted post is one of the sample's, as getPosts would give it
(a postView: the record and its author's profile), so no AppView is asked. Each event is matched
as the live source matches it (streamer/sources/bluesky.py `record_topics`: the prefilter, then
each rule, on the text, the hashtags beyond it and the record's facts) and converted by
feed/bluesky.py. On each pass a matching event gets a fresh record key (a TID of now), `rev`,
`time_us`, `createdAt` and record CID, so its at:// URI is new and it is stored as a new post.
"""

import base64
import hashlib
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feed.bluesky import POST_COLLECTION, BlueskyAuthor, bluesky_post, post_uri
from feed.normalize import NormalizedTweet
from feed.references import bluesky_quote, bluesky_quoted_uri
from feed.rule_prefilter import TopicMatcher
from streamer.sources.bluesky import record_topics
from streamer.sources.bluesky_appview import profile_authors
from streamer.sources.replay import DATA_DIR, SampleReplay
from streamer.sources.replay_media import with_local_media

BLUESKY_SAMPLE = DATA_DIR / "sample_bluesky.ndjson"
BLUESKY_PROFILES = DATA_DIR / "sample_bluesky_profiles.json"
# atproto's TID alphabet (base32, sortable): a record key made at a later moment sorts after.
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


class BlueskyReplaySource(SampleReplay):
    name = "replay:bluesky"
    network = "bluesky"
    sample = BLUESKY_SAMPLE
    noun = "Jetstream events"

    def __init__(self, *, path: Path | None = None, profiles: Path | None = None, rate: float = 2.0) -> None:
        super().__init__(path=path, rate=rate)
        self.profiles_path = Path(profiles) if profiles else BLUESKY_PROFILES
        self._matcher = TopicMatcher([])
        self._authors: dict[str, BlueskyAuthor] = {}
        self._profiles: dict[str, dict[str, Any]] = {}  # did -> getProfiles' profile view
        self._posts: dict[str, dict[str, Any]] = {}  # the sample's at:// URI -> its event
        self._last_us = 0  # the last TID's moment: each is later, so every record key is new

    def rules_changed(self) -> None:
        self._matcher = TopicMatcher(self._rules)

    def load(self) -> list[dict[str, Any]]:
        body = json.loads(self.profiles_path.read_text(encoding="utf-8"))
        self._authors = {author.did: author for author in profile_authors(body)}
        self._profiles = {p["did"]: p for p in body.get("profiles", []) if isinstance(p, dict) and "did" in p}
        events = super().load()
        self._posts = {post_uri(e["did"], e["commit"]["rkey"]): e for e in events}
        return events

    def usable(self, event: Any) -> bool:
        if not isinstance(event, dict) or not isinstance(commit := event.get("commit"), dict):
            return False
        return (
            event.get("kind") == "commit"
            and commit.get("collection") == POST_COLLECTION
            and commit.get("operation") == "create"
            and isinstance(commit.get("record"), dict)
            and isinstance(commit["record"].get("text"), str)
        )

    def next_post(self, event: dict[str, Any]) -> NormalizedTweet | None:
        slugs = record_topics(self._matcher, event["commit"]["record"])
        if not slugs:
            return None
        fresh = self.replayed(event)
        author = self._authors.get(event["did"]) or BlueskyAuthor(event["did"])
        post = bluesky_post(fresh, author=author, topic_slugs=slugs)
        if quoted := bluesky_quoted_uri(event["commit"]["record"]):
            post = replace(post, quote=bluesky_quote(quoted, self._post_view(quoted)))
        return with_local_media(post)

    def _post_view(self, uri: str) -> dict[str, Any] | None:
        """The quoted post as getPosts would give it, if it is in the sample (None: unknown)."""
        if (event := self._posts.get(uri)) is None:
            return None
        author = self._profiles.get(event["did"]) or {"did": event["did"], "handle": "handle.invalid"}
        commit = event["commit"]
        return {"uri": uri, "cid": commit["cid"], "author": author, "record": commit["record"]}

    def replayed(self, event: dict[str, Any]) -> dict[str, Any]:
        """`event` as if the post had just been made: new record key, times and CID."""
        moment_us = max(time.time_ns() // 1000, self._last_us + 1)
        self._last_us = moment_us
        created = datetime.fromtimestamp(moment_us / 1_000_000, UTC)
        record = dict(event["commit"]["record"], createdAt=created.isoformat(timespec="milliseconds"))
        record["createdAt"] = record["createdAt"].replace("+00:00", "Z")
        commit = dict(event["commit"], rkey=tid(moment_us), rev=tid(moment_us + 1), record=record)
        commit["cid"] = record_cid(record)
        return dict(event, time_us=moment_us, commit=commit)


def tid(moment_us: int, clock_id: int = 0) -> str:
    """A TID (atproto's record key): microseconds since 1970 << 10 | clock id, 13 sortable chars."""
    value = (moment_us << 10) | clock_id
    return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def record_cid(record: dict[str, Any]) -> str:
    """A CIDv1 (dag-cbor, sha2-256, base32) for the record; over its JSON, not its CBOR, which is
    all a replay needs: a new version has a new CID."""
    data = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
    digest = b"\x01\x71\x12\x20" + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(digest).decode().lower().rstrip("=")
