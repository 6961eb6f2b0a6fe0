"""The rule language's fact operators (lang:, is:reply, is:retweet, has:media) mean the same on
every source: the same cases, each post made by the network's emulator (or, for replay, in X's
recorded shape) and matched by that source's own path, the one its posts take in the worker."""

import json
from collections.abc import Callable

import pytest

from blueskyemulator import BlueskyEmulator
from mastodonemulator import MastodonEmulator
from streamer.sources import TopicRule
from streamer.sources.bluesky import BlueskySource
from streamer.sources.mastodon import MastodonSource
from streamer.sources.replay import ReplaySource
from xemulator.core import EmulatorCore

TEXT = "I write #python"
# (rule, the post's facts, whether it matches). Every rule has #python, which Mastodon needs.
CASES = [
    ("#python lang:de", {"lang": "de"}, True),
    ("#python lang:de", {"lang": "en"}, False),
    ("#python -lang:en", {"lang": "de"}, True),
    ("#python is:reply", {"reply": True}, True),
    ("#python is:reply", {}, False),
    ("#python -is:reply", {"reply": True}, False),
    ("#python -is:reply", {}, True),
    ("#python has:media", {"media": True}, True),
    ("#python has:media", {}, False),
    ("#python -has:media", {"media": True}, False),
    ("#python is:retweet", {"repost": True}, True),
    ("#python is:retweet", {}, False),
    ("#python -is:retweet", {"repost": True}, False),
    ("#python -is:retweet", {}, True),
    ("#python (has:media OR is:reply) lang:en", {"lang": "en", "reply": True}, True),
]


# --- Each source: make a post with these facts, say whether the topic's rule took it ------------


def x_matches(rule: str, facts: dict) -> bool:
    """X filters on its server: the emulator's rule book, as the worker's X source meets it."""
    core = EmulatorCore("token")
    core.rulebook.add(rule, "t")
    original = core.emit("an original #python post", lang=facts.get("lang", "en"))
    core.emit(
        TEXT,
        lang=facts.get("lang", "en"),
        reply_to="1" if facts.get("reply") else None,
        retweet_of=(original or core.emitted[-1]["tweet"])["id"] if facts.get("repost") else None,
        media_keys=["3_1"] if facts.get("media") else [],
    )
    return bool(core.emitted[-1]["matching_rules"])


async def replay_matches(rule: str, facts: dict) -> bool:
    source = ReplaySource()
    await source.sync_rules([TopicRule("t", rule)])
    data: dict = {"id": "1", "text": TEXT, "author_id": "9", "lang": facts.get("lang", "en")}
    refs = [("replied_to", "reply"), ("retweeted", "repost")]
    data["referenced_tweets"] = [{"type": kind, "id": "2"} for kind, fact in refs if facts.get(fact)]
    if facts.get("media"):
        data["attachments"] = {"media_keys": ["3_1"]}
    message = {"data": data, "includes": {"users": [{"id": "9", "username": "alice"}]}}
    return source.replayed(message) is not None


async def bluesky_matches(bsky: BlueskyEmulator, rule: str, facts: dict) -> bool:
    source = BlueskySource(jetstream_url=bsky.jetstream_url, appview_url=bsky.base_url)
    await source.sync_rules([TopicRule("t", rule, ("bluesky",))])
    fields: dict = {"langs": [facts.get("lang", "en")]}
    if facts.get("reply"):
        fields["reply_to"] = bsky.post("the parent", author="alice.test")["uri"]
    if facts.get("media"):
        fields["images"] = ["a python"]
    event = bsky.post(TEXT, author="alice.test", **fields)
    event = {k: v for k, v in event.items() if k != "uri"}
    return source._on_message(json.dumps(event)) is not None


async def mastodon_matches(masto: MastodonEmulator, rule: str, facts: dict) -> bool:
    source = MastodonSource(base_url=masto.base_url)
    await source.sync_rules([TopicRule("t", rule, ("mastodon",))])
    options: dict = {"language": facts.get("lang", "en")}
    if facts.get("reply"):
        options["in_reply_to"] = masto.emit("the parent", account="alice")["id"]
    if facts.get("media"):
        options["media"] = [{"type": "image", "description": "a python"}]
    status = masto.emit(TEXT, account="alice", **options)
    if facts.get("repost"):
        status = masto.emit(reblog_of=status["id"], account="bob")
    delivered = []

    async def deliver(item):
        delivered.append(item)

    await source._offer(status, deliver)
    return bool(delivered)


@pytest.fixture(scope="module")
def bsky():
    with BlueskyEmulator() as emulator:
        emulator.add_account("alice.test", display_name="Alice")
        yield emulator


@pytest.fixture(scope="module")
def masto():
    with MastodonEmulator(domain="a.example") as emulator:
        emulator.add_account("alice", display_name="Alice")
        yield emulator


# Every case on every source, but a repost on Bluesky: a repost there is a record of another
# collection, never a post the source reads, so `is:retweet` cannot match one and `-is:retweet`
# keeps every Bluesky post (the cases without a repost hold that).
PARAMS = [
    pytest.param(source, rule, facts, expected, id=f"{source}: {rule} {facts}")
    for source in ("x", "replay", "bluesky", "mastodon")
    for rule, facts, expected in CASES
    if not (source == "bluesky" and facts.get("repost"))
]


@pytest.fixture
def matcher(request) -> Callable:
    """The source under test, as an async (rule, facts) -> matched."""
    name = request.param
    if name == "x":

        async def run(rule, facts):
            return x_matches(rule, facts)

        return run
    if name == "replay":
        return replay_matches
    emulator = request.getfixturevalue("bsky" if name == "bluesky" else "masto")
    check = bluesky_matches if name == "bluesky" else mastodon_matches
    return lambda rule, facts: check(emulator, rule, facts)


@pytest.mark.parametrize(("matcher", "rule", "facts", "expected"), PARAMS, indirect=["matcher"])
async def test_the_same_rule_takes_the_same_posts_on_every_source(matcher, rule, facts, expected):
    assert await matcher(rule, facts) is expected
