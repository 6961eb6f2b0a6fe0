"""The Bluesky source against the local Jetstream and AppView (blueskyemulator), through the real
worker: what a post on Bluesky becomes on a topic that follows Bluesky."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from channels.layers import channel_layers

from blueskyemulator import BlueskyEmulator
from feed.blocking import shown_texts
from feed.bluesky import BlueskyAuthor, bluesky_post, facet_entities
from feed.models import Topic, TopicPost, Tweet
from feed.rendering import tweet_html
from streamer.build import build_sources
from streamer.cursors import DatabaseCursor
from streamer.models import MastodonInstance, StreamCursor
from streamer.sources import PostEdited, TopicRule
from streamer.sources.bluesky import BlueskySource
from streamer.worker import StreamWorker

from conftest import wait_until

POST = "app.bsky.feed.post"


@pytest.fixture
def bsky() -> Iterator[BlueskyEmulator]:
    with BlueskyEmulator() as emulator:
        emulator.add_account("alice.test", display_name="Alice", avatar="https://cdn.example/alice.jpg")
        emulator.add_account("bob.test", display_name="Bob")
        yield emulator


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
async def source(bsky, transactional_db, in_memory_layer) -> AsyncIterator[BlueskySource]:
    """A worker with the Bluesky source, following a topic `sky` (rule: python) on Bluesky."""
    await Topic.objects.acreate(name="Sky", slug="sky", query="python", networks=["bluesky"])
    bluesky = BlueskySource(jetstream_url=bsky.jetstream_url, appview_url=bsky.base_url)
    task = asyncio.create_task(StreamWorker([bluesky], topic_poll_s=0.1).run())
    assert await bsky.wait_connected_async(1, timeout=10)
    yield bluesky
    task.cancel()
    await asyncio.wait([task], timeout=15)


async def stored(count: int = 1, timeout: float = 5, **where) -> list[Tweet]:
    deadline = time.monotonic() + timeout
    while True:
        tweets = [t async for t in Tweet.objects.filter(**where).order_by("id")]
        if len(tweets) >= count or time.monotonic() > deadline:
            return tweets
        await asyncio.sleep(0.05)


async def test_a_matching_post_is_stored_with_its_author_and_its_facets_linked_in_place(bsky, source):
    bob = bsky.account("bob.test")["did"]
    post = bsky.post("🎉 東京 #python with @bob.test https://example.com/slides", author="alice.test")
    [tweet] = await stored()
    assert (tweet.source, tweet.network_id, tweet.text) == (
        "bluesky",
        post["uri"],
        post["commit"]["record"]["text"],
    )
    assert (tweet.author_username, tweet.author_name) == ("alice.test", "Alice")
    assert tweet.author_avatar_url == "https://cdn.example/alice.jpg"
    assert tweet.url == f"https://bsky.app/profile/{post['did']}/post/{post['commit']['rkey']}"
    html = tweet_html(tweet.text, tweet.entities, tweet.source)
    assert html.startswith('🎉 東京 <a href="https://bsky.app/hashtag/python" ')
    assert f'<a href="https://bsky.app/profile/{bob}" ' in html and ">@bob.test</a>" in html
    assert '<a href="https://example.com/slides" ' in html and ">example.com/slides</a>" in html
    assert await TopicPost.objects.filter(tweet=tweet, topic__slug="sky", state="visible").aexists()


async def test_a_post_matching_no_topic_is_dropped(bsky, source):
    bsky.post("nothing about snakes here", author="alice.test")
    bsky.post("python, at last", author="alice.test")
    tweets = await stored()
    assert [t.text for t in tweets] == ["python, at last"]  # delivered in order: the first was dropped
    assert source.matched == 1


async def test_a_topic_following_only_x_gets_no_bluesky_posts(bsky, source):
    await Topic.objects.acreate(name="On X", slug="on-x", query="django", networks=["x"])
    await asyncio.sleep(0.3)  # a topic poll
    bsky.post("django and python", author="alice.test")
    [tweet] = await stored()
    assert [p.topic.slug async for p in TopicPost.objects.filter(tweet=tweet).select_related("topic")] == [
        "sky"
    ]


async def test_extra_tags_of_a_post_match_as_hashtags(bsky, transactional_db, in_memory_layer):
    await Topic.objects.acreate(name="EP", slug="ep", query="#europython", networks=["bluesky"])
    bluesky = BlueskySource(jetstream_url=bsky.jetstream_url, appview_url=bsky.base_url)
    task = asyncio.create_task(StreamWorker([bluesky], topic_poll_s=0.1).run())
    try:
        assert await bsky.wait_connected_async(1, timeout=10)
        bsky.post("see you in Prague", author="alice.test", tags=["EuroPython"])
        assert [t.text for t in await stored()] == ["see you in Prague"]
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=15)


async def test_duplicates_after_a_reconnect_are_stored_once(bsky, source):
    for i in range(3):
        bsky.post(f"python {i}", author="alice.test")
    assert len(await stored(3)) == 3
    bsky.resend_on_reconnect(3)
    bsky.drop_connections()
    assert await bsky.wait_until_async(lambda: bsky.state()["connect_count"] >= 2, 10)
    bsky.post("python after", author="alice.test")
    assert [t.text for t in await stored(4)] == ["python 0", "python 1", "python 2", "python after"]
    assert source.duplicates >= 3


async def test_posts_made_while_disconnected_arrive_through_the_cursor(bsky, source):
    bsky.post("python before", author="alice.test")
    await stored(1)
    bsky.drop_connections()
    missed = bsky.post("python while away", author="alice.test")  # no subscriber: only a replay has it
    assert await bsky.wait_connected_async(1, timeout=10)
    [connection] = bsky.state()["connections"]
    assert connection["cursor"] is not None and connection["cursor"] < missed["time_us"]
    assert [t.text for t in await stored(2)] == ["python before", "python while away"]


async def test_a_post_deleted_on_bluesky_leaves_every_topic(bsky, source):
    await Topic.objects.acreate(name="Sky 2", slug="sky-2", query="python", networks=["bluesky"])
    await asyncio.sleep(0.3)
    post = bsky.post("python, soon gone", author="alice.test")
    assert await stored()
    bsky.delete(post["uri"])

    async def states() -> set[str]:
        return {p.state async for p in TopicPost.objects.filter(tweet__network_id=post["uri"])}

    for _ in range(100):  # 5 s
        if await states() == {"hidden"}:
            break
        await asyncio.sleep(0.05)
    assert await states() == {"hidden"}
    assert await TopicPost.objects.filter(tweet__network_id=post["uri"]).acount() == 2


async def test_an_edit_on_bluesky_replaces_the_stored_text(bsky, source):
    post = bsky.post("python v1", author="alice.test")
    assert await stored()
    bsky.update_post(post["uri"], "python v2, with #python")
    assert await stored(text="python v2, with #python")
    tweet = await Tweet.objects.aget(network_id=post["uri"])
    assert [h["tag"] for h in tweet.entities["hashtags"]] == ["python"]


async def test_an_identity_event_refreshes_the_handle(bsky, source):
    bsky.post("python one", author="alice.test")
    assert (await stored())[0].author_username == "alice.test"
    bsky.identity("alice.test", "alice.example")
    bsky.post("python two", author="alice.example")
    assert [t.author_username for t in await stored(2)] == ["alice.test", "alice.example"]


async def test_a_slow_appview_does_not_hold_a_post(bsky, source):
    bsky.profile_latency = 2.0
    post = bsky.post("python, quickly", author="bob.test")
    started = time.monotonic()
    [tweet] = await stored(timeout=5)
    assert time.monotonic() - started < 1.5  # the profile takes 2 s; the post went without it
    assert tweet.author_username == tweet.author_id == post["did"]


async def test_malformed_events_are_skipped_and_the_stream_goes_on(bsky, source):
    did = bsky.account("alice.test")["did"]
    bsky.commit(did, POST, "create", record={"text": 5})
    bsky.commit(did, POST, "create", record=None)
    bsky.commit("did:plc:" + "x" * 24, POST, "create", record={"text": "python", "createdAt": "yesterday"})
    hostile = {"index": {"byteStart": -1, "byteEnd": 10**9}, "features": [{"$type": "nonsense"}]}
    bsky.commit(did, POST, "create", rkey="bad/key", record={"text": "python"})
    bsky.commit(did, POST, "create", record={"text": "python 🎉", "facets": [hostile, "junk", None]})
    tweets = await stored(2)
    assert [t.text for t in tweets] == ["python", "python 🎉"]
    assert tweets[1].entities == {"hashtags": [], "mentions": [], "urls": []}
    assert source.malformed >= 3


def test_a_commit_event_without_its_commit_is_counted_as_malformed_without_a_traceback(caplog):
    source = BlueskySource(jetstream_url="ws://127.0.0.1:9/subscribe", appview_url="http://127.0.0.1:9")
    for event in ({"kind": "commit", "did": "did:plc:x", "time_us": 5}, {"kind": "commit", "commit": "nope"}):
        assert source._on_message(json.dumps(event)) is None
    assert source.malformed == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_invalid_rule_is_refused_alone():
    source = BlueskySource(jetstream_url="ws://127.0.0.1:9/subscribe", appview_url="http://127.0.0.1:9")
    outcomes = await source.sync_rules([TopicRule("bad", "(python", ("bluesky",)), TopicRule("ok", "python")])
    assert [(o.slug, bool(o.error)) for o in outcomes] == [("bad", True), ("ok", False)]
    assert source._matcher.matching("python") == ("ok",)


def test_facet_offsets_count_utf8_bytes_before_them():
    text = "naïve 🎉 привет #тест"
    start = len(text[: text.index("#")].encode())
    tag = {"$type": "app.bsky.richtext.facet#tag", "tag": "тест"}
    entities = facet_entities(
        text, [{"index": {"byteStart": start, "byteEnd": start + 9}, "features": [tag]}]
    )
    [hashtag] = entities["hashtags"]
    assert text[hashtag["start"] : hashtag["end"]] == "#тест"


@pytest.mark.parametrize(
    "index",
    [
        {"byteStart": 0, "byteEnd": 99},
        {"byteStart": 3, "byteEnd": 1},
        {"byteStart": 1, "byteEnd": 3},
        {"byteStart": "0", "byteEnd": 2},
        {"byteStart": True, "byteEnd": 2},
        None,
    ],
)
def test_out_of_range_or_split_facets_are_dropped(index):
    link = {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com"}
    entities = facet_entities("🎉 x", [{"index": index, "features": [link]}])  # 🎉 is 4 bytes
    assert entities["urls"] == []


def test_alt_text_and_quotes_are_where_block_rules_read_them():
    record = {
        "text": "look",
        "createdAt": "2024-01-01T00:00:00Z",
        "embed": {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"record": {"uri": "at://did:plc:q/app.bsky.feed.post/1", "cid": "c"}},
            "media": {"images": [{"alt": "a spammy banner", "image": {}}]},
        },
    }
    event = {"did": "did:plc:abc", "time_us": 1, "kind": "commit", "commit": {"rkey": "3k", "record": record}}
    post = bluesky_post(event, author=BlueskyAuthor("did:plc:abc"))
    assert "a spammy banner" in list(shown_texts(post))
    assert post.raw["data"]["referenced_tweets"] == [
        {"type": "quoted", "id": "at://did:plc:q/app.bsky.feed.post/1"}
    ]


@pytest.mark.django_db
def test_bluesky_and_mastodon_run_beside_x_by_default_and_bluesky_can_be_switched_off(settings):
    settings.DEBUG, settings.X_BEARER_TOKEN = True, ""
    settings.BLUESKY_JETSTREAM_URL = "wss://jetstream.example/subscribe"
    assert [s.name for s in build_sources()] == ["replay", "bluesky", "replay:mastodon"]
    MastodonInstance.objects.create(base_url="https://fosstodon.org")
    MastodonInstance.objects.create(base_url="https://gone.example", is_active=False)
    assert [s.name for s in build_sources()] == ["replay", "bluesky", "mastodon:fosstodon.org"]
    settings.BLUESKY_ENABLED = False
    assert [s.name for s in build_sources(mastodon=False)] == ["replay"]


def test_the_stream_command_follows_bluesky_alone(bsky, start_worker):
    Topic.objects.create(name="Sky", slug="sky", query="python", networks=["bluesky"])
    start_worker(
        *("--source", "bluesky"), BLUESKY_JETSTREAM_URL=bsky.jetstream_url, BLUESKY_APPVIEW_URL=bsky.base_url
    )
    assert bsky.wait_until(lambda: bsky.connection_count == 1, 20)
    post = bsky.post("python from a real worker", author="alice.test")
    assert wait_until(lambda: Tweet.objects.filter(network_id=post["uri"], author_name="Alice").exists(), 10)


async def _deliveries_with_a_slow_appview(bsky, *posts: tuple[str, dict], latency: float = 1.0) -> list:
    """What the source delivers for these posts, each posted once the one before is delivered and
    its late update has come (or not), while the AppView takes `latency` to answer."""
    bsky.profile_latency = latency
    bluesky = BlueskySource(jetstream_url=bsky.jetstream_url, appview_url=bsky.base_url)
    await bluesky.sync_rules([TopicRule("sky", "python", ("bluesky",))])
    delivered = []

    async def deliver(item) -> None:
        delivered.append(item)

    task = asyncio.create_task(bluesky.stream(deliver, lambda state, detail: None))
    try:
        assert await bsky.wait_connected_async(1, timeout=10)
        for text, fields in posts:
            before = len(delivered)
            bsky.post(text, **fields)
            assert await bsky.wait_until_async(lambda before=before: len(delivered) > before, 5)
            await asyncio.sleep(latency + 0.5)  # the AppView has answered meanwhile
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=5)
    return delivered


async def test_a_post_sent_without_its_author_is_followed_by_an_edit_with_the_author(bsky):
    delivered = await _deliveries_with_a_slow_appview(bsky, ("python, author later", {"author": "bob.test"}))
    first, later = delivered
    assert first.author_username == first.author_id  # the DID: the AppView had not answered
    assert isinstance(later, PostEdited)
    assert (later.post.network_id, later.post.author_username, later.post.author_name) == (
        first.network_id,
        "bob.test",
        "Bob",
    )


async def test_the_follower_and_account_age_filters_apply_to_bluesky_authors(bsky, source):
    await Topic.objects.filter(slug="sky").aupdate(min_followers=10, min_account_age_days=30)

    def days_ago(days: int) -> str:
        return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")

    bsky.add_account("fresh.test", followers_count=500, created_at=days_ago(7))
    bsky.add_account("quiet.test", followers_count=2, created_at=days_ago(400))
    bsky.add_account("known.test", followers_count=500, created_at=days_ago(400))
    for handle in ("fresh.test", "quiet.test", "known.test"):
        bsky.post(f"python from {handle}", author=handle)
    await stored(3)
    states = {
        p.tweet.author_username: (p.state, p.reason) async for p in TopicPost.objects.select_related("tweet")
    }
    assert states == {
        "fresh.test": ("blocked", "account_age"),
        "quiet.test": ("blocked", "followers"),
        "known.test": ("visible", ""),
    }


async def test_a_quote_post_carries_the_quoted_posts_author_and_text_from_the_appview(bsky, source):
    quoted = bsky.post("Slides for my talk are up", author="bob.test")  # matches no topic
    bsky.post("python: read this", author="alice.test", quote=quoted["uri"])
    bsky.post("python: and this one, gone", author="alice.test", quote=quoted["uri"] + "gone")
    first, second = await stored(2)
    assert first.quote["author"] == {"username": "bob.test", "name": "Bob", "avatar_url": ""}
    assert (first.quote["text"], first.quote["id"]) == ("Slides for my talk are up", quoted["uri"])
    assert first.quote["url"] == f"https://bsky.app/profile/{quoted['did']}/post/{quoted['commit']['rkey']}"
    assert (second.quote["text"], second.quote["author"]["username"]) == ("", "")  # unknown: a link
    assert [len(uris) for uris in bsky.post_requests] in ([2], [1, 1])  # batched, or two moments


async def test_a_quote_the_appview_answers_late_comes_as_an_edit(bsky):
    quoted = bsky.post("The quoted post", author="bob.test")
    delivered = await _deliveries_with_a_slow_appview(
        bsky, ("python, quoting", {"author": "alice.test", "quote": quoted["uri"]})
    )
    first, later = delivered
    assert first.quote["text"] == ""  # on time, with what was known: the link
    assert isinstance(later, PostEdited) and later.post.quote["text"] == "The quoted post"


async def test_a_restarted_worker_resumes_from_the_saved_cursor_and_loses_nothing(
    bsky, transactional_db, in_memory_layer
):
    await Topic.objects.acreate(name="Sky", slug="sky", query="python", networks=["bluesky"])

    async def run_until(texts: list[str], total: int) -> None:
        """A worker with a database cursor, while these are posted, until `total` posts are stored."""
        cursor = DatabaseCursor("bluesky", save_every_s=0.1)
        bluesky = BlueskySource(
            jetstream_url=bsky.jetstream_url, appview_url=bsky.base_url, cursor_store=cursor
        )
        task = asyncio.create_task(StreamWorker([bluesky], topic_poll_s=0.1).run())
        try:
            assert await bsky.wait_connected_async(1, timeout=10)
            for text in texts:
                bsky.post(text, author="alice.test")
            assert len(await stored(total)) == total
            await asyncio.sleep(0.3)  # a save or two
        finally:
            task.cancel()
            await asyncio.wait([task], timeout=15)

    await run_until(["python before"], total=1)
    assert await StreamCursor.objects.filter(source="bluesky").aexists()
    bsky.post("python while the worker was down", author="alice.test")
    await run_until(["python after"], total=3)
    texts = [t.text async for t in Tweet.objects.order_by("id")]
    assert texts == ["python before", "python while the worker was down", "python after"]


async def test_a_late_answer_that_knows_nothing_more_sends_no_edit(bsky):
    quoted = bsky.post("The quoted post", author="bob.test")
    # The first post is delivered on time, then as an edit with its author and quote. For the second
    # the quote is known at once; its author is not, and the AppView will not know them either.
    delivered = await _deliveries_with_a_slow_appview(
        bsky,
        ("python, quoting", {"author": "alice.test", "quote": quoted["uri"]}),
        ("python, quoting again", {"author": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "quote": quoted["uri"]}),
        latency=0.5,
    )
    assert len(delivered) == 3  # no edit that would only repeat the post
