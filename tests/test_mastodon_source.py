"""The Mastodon source against the local emulator: hashtag streams and tag timelines, through the
worker's store path; and Mastodon's HTML read into safe text and entities (feed/mastodon.py)."""

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers

from feed.mastodon import status_post
from feed.models import Topic, TopicPost, Tweet
from feed.normalize import MAX_TEXT_CHARS
from feed.rendering import tweet_html
from mastodonemulator import MastodonEmulator
from streamer.models import MastodonInstance, mastodon_image_hosts
from streamer.sources.mastodon import POLL_OVERLAP_S, MastodonSource, mastodon_sources
from streamer.sources.mastodon_tags import NO_HASHTAG, rule_hashtags
from streamer.worker import StreamWorker

TOKEN = "user-token"


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def masto():
    with MastodonEmulator(domain="a.example", tokens={TOKEN: "read"}) as emu:
        emu.add_account("alice", display_name="Alice")
        yield emu


@contextlib.asynccontextmanager
async def running(*sources):
    worker = StreamWorker(list(sources), topic_poll_s=0.1)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=15)


async def eventually(check, timeout=8.0):
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def stored_texts() -> list[str]:
    return [t.text async for t in Tweet.objects.order_by("id")]


async def topic(query="#cats", slug="cats"):
    return await Topic.objects.acreate(name=slug, slug=slug, query=query, networks=["mastodon"])


async def topic_says(source_name: str, state: str, slug: str = "cats") -> bool:
    """Whether the topic's status (the admin's "networks" column) says the source is in `state`."""
    rows = (await Topic.objects.aget(slug=slug)).network_status
    return [(row["source"], row["state"]) for row in rows] == [(source_name, state)]


def streaming(emu, **options):
    return MastodonSource(base_url=emu.base_url, access_token=TOKEN, poll_interval_s=0.1, **options)


# --- Through the worker ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_status_on_a_followed_tag_is_stored_as_mastodon_text_with_links(masto):
    await topic()
    source = streaming(masto)
    async with running(source):
        assert await masto.wait_subscribed_async(1)
        status = masto.emit(
            "Hello #cats see https://www.example.com/a/very/long/path/to/somewhere", account="alice"
        )
        masto.emit("no tag here", account="alice")
        await eventually(lambda: Tweet.objects.aexists())
    tweet = await Tweet.objects.aget()
    assert (tweet.source, tweet.network_id, tweet.permalink) == ("mastodon", status["uri"], status["url"])
    assert tweet.text == "Hello #cats see example.com/a/very/long/path/t…"
    assert tweet.author_username == "alice@a.example"
    html = tweet_html(tweet.text, tweet.entities, tweet.source)
    assert '<a href="https://a.example/tags/cats"' in html
    assert 'href="https://www.example.com/a/very/long/path/to/somewhere"' in html
    assert source.mode == "streaming"


@pytest.mark.django_db(transaction=True)
async def test_the_same_post_seen_on_two_instances_is_stored_once():
    with (
        MastodonEmulator(domain="a.example", tokens={TOKEN: "read"}) as a,
        MastodonEmulator(domain="b.example", tokens={TOKEN: "read"}) as b,
    ):
        await topic()
        async with running(streaming(a), streaming(b)):
            assert await a.wait_subscribed_async(1) and await b.wait_subscribed_async(1)
            b.federate(a.emit("Federated #cats", account="alice"))
            await asyncio.sleep(1.0)
    assert await stored_texts() == ["Federated #cats"]


@pytest.mark.django_db(transaction=True)
async def test_without_a_token_it_polls_the_tag_timeline_within_the_rate_limit():
    with MastodonEmulator(domain="a.example", rate_limit=6, rate_period=2) as emu:
        emu.emit("before we started #cats", account="alice")
        await topic()
        source = MastodonSource(base_url=emu.base_url, poll_interval_s=0.05)
        async with running(source):
            await eventually(lambda: Tweet.objects.aexists())
            emu.emit("while polling #cats", account="alice")
            await eventually(lambda: Tweet.objects.filter(text="while polling #cats").aexists())
            await asyncio.sleep(2.5)  # more than a whole window of polling
        assert emu.state()["rate_limit"]["refused"] == 0
        assert any("min_id" in r["query"] for r in emu.requests)
    assert await stored_texts() == ["before we started #cats", "while polling #cats"]
    assert source.mode == "polling"


@pytest.mark.django_db(transaction=True)
async def test_a_refused_stream_falls_back_to_polling_then_streams_again_and_the_topic_says_so(masto):
    await topic()
    row = await MastodonInstance.objects.acreate(base_url=masto.base_url, access_token=TOKEN)
    masto.refuse_streaming(503)
    source = MastodonSource(
        base_url=masto.base_url,
        access_token=TOKEN,
        instance_id=row.pk,
        poll_interval_s=0.05,
        stream_retry_s=1.0,
    )
    async with running(source):
        await eventually(lambda: MastodonInstance.objects.filter(mode="polling").aexists())
        await eventually(lambda: topic_says(source.name, "polling"))
        masto.emit("polled #cats", account="alice")
        await eventually(lambda: Tweet.objects.filter(text="polled #cats").aexists())
        masto.refuse_streaming(None)
        assert await masto.wait_subscribed_async(1, timeout=5)
        masto.emit("streamed #cats", account="alice")
        await eventually(lambda: Tweet.objects.filter(text="streamed #cats").aexists())
        await eventually(lambda: topic_says(source.name, "streaming"))
    row = await MastodonInstance.objects.aget()
    assert row.mode == "streaming"
    assert TOKEN not in row.state


@pytest.mark.django_db(transaction=True)
async def test_a_deleted_status_is_hidden_and_an_edited_one_is_replaced(masto):
    await topic()
    await topic("#cats OR #dogs", slug="pets")
    async with running(streaming(masto)):
        assert await masto.wait_subscribed_async(2)
        gone = masto.emit("Going away #cats", account="alice")
        kept = masto.emit("Version one #cats", account="alice")
        await eventually(lambda: Tweet.objects.filter(text="Version one #cats").aexists())
        masto.delete(gone["id"])
        masto.edit(kept["id"], text="Version two #cats")
        await eventually(lambda: Tweet.objects.filter(text="Version two #cats").aexists())
        await eventually(lambda: TopicPost.objects.filter(state="hidden").aexists())
    states = {
        (p.topic.slug, p.tweet.text, p.state)
        async for p in TopicPost.objects.select_related("tweet", "topic")
    }
    assert states == {
        ("cats", "Going away #cats", "hidden"),
        ("pets", "Going away #cats", "hidden"),
        ("cats", "Version two #cats", "visible"),
        ("pets", "Version two #cats", "visible"),
    }


@pytest.mark.django_db(transaction=True)
async def test_statuses_posted_while_the_stream_was_down_are_read_from_the_timeline_once(masto):
    await topic()
    async with running(streaming(masto)):
        assert await masto.wait_subscribed_async(1)
        masto.emit("before #cats", account="alice")
        await eventually(lambda: Tweet.objects.aexists())
        masto.drop_streaming()  # cut: no close frame, as a network failure
        masto.emit("while the stream was down #cats", account="alice")  # on the timeline only
        assert await masto.wait_subscribed_async(1, timeout=10)
        masto.emit("after #cats", account="alice")
        await eventually(lambda: Tweet.objects.filter(text="after #cats").aexists())
        await eventually(lambda: Tweet.objects.filter(text__startswith="while").aexists())
        await asyncio.sleep(1.5)  # the catch-up re-reads "before" too: it must not be stored again
    assert sorted(await stored_texts()) == ["after #cats", "before #cats", "while the stream was down #cats"]


@pytest.mark.django_db(transaction=True)
async def test_a_source_that_starts_reads_the_last_minutes_so_a_restart_loses_nothing(masto):
    """A new token in the admin (or a worker restart) replaces the source: what was posted while
    none ran is read from the timeline; what is older than POLL_OVERLAP_S is not."""
    await topic()
    long_ago = datetime.now(UTC) - timedelta(seconds=POLL_OVERLAP_S + 60)
    masto.emit("long before the restart #cats", account="alice", created_at=long_ago)
    masto.emit("while no source ran #cats", account="alice")
    async with running(streaming(masto)):
        assert await masto.wait_subscribed_async(1)
        await eventually(lambda: Tweet.objects.aexists())
        await asyncio.sleep(0.5)
    assert await stored_texts() == ["while no source ran #cats"]


@pytest.mark.django_db(transaction=True)
async def test_a_long_status_matches_by_its_hashtags_past_the_text_kept(masto):
    await topic()
    async with running(streaming(masto)):
        assert await masto.wait_subscribed_async(1)
        masto.emit("long " + "y" * 30_000 + " #cats", account="alice")
        await eventually(lambda: Tweet.objects.aexists())
    [tweet] = [t async for t in Tweet.objects.all()]
    assert tweet.text.startswith("long yyy") and len(tweet.text) == MAX_TEXT_CHARS


@pytest.mark.django_db(transaction=True)
async def test_keywords_are_matched_within_the_followed_hashtags_posts(masto):
    await topic("#cats kitten", slug="kittens")
    async with running(streaming(masto)):
        assert await masto.wait_subscribed_async(1)
        masto.emit("just #cats", account="alice")
        masto.emit("a kitten! #cats", account="alice")
        await eventually(lambda: Tweet.objects.aexists())
        await asyncio.sleep(0.3)
    assert await stored_texts() == ["a kitten! #cats"]


async def test_a_rule_without_a_hashtag_is_refused_with_the_reason():
    from streamer.sources import TopicRule

    source = MastodonSource(base_url="https://a.example")
    outcomes = await source.sync_rules(
        [
            TopicRule("words", "python django", ("mastodon",)),
            TopicRule("tags", "#python -#spam", ("mastodon",)),
        ]
    )
    assert [(o.slug, o.error) for o in outcomes] == [("words", NO_HASHTAG), ("tags", "")]
    assert rule_hashtags('#Python OR (#django -#spam) "#not a tag"') == ["python", "django"]


@pytest.mark.django_db
def test_mastodon_sources_builds_one_source_per_active_instance():
    MastodonInstance.objects.create(base_url="https://b.example", access_token="secret-token-1234")
    MastodonInstance.objects.create(base_url="https://c.example", is_active=False)
    [source] = mastodon_sources()
    assert (source.name, source.network, source.access_token) == (
        "mastodon:b.example",
        "mastodon",
        "secret-token-1234",
    )
    assert "secret" not in repr(source)


# --- Content ------------------------------------------------------------------------------------


def test_hostile_html_never_reaches_the_stored_text_or_entities_as_markup(masto):
    status = masto.emit(
        content=(
            '<p>Ελληνικά <script>alert("x")</script><style>p{color:red}</style>'
            '<a href="javascript:alert(1)">click</a> <img src=x onerror="alert(2)">'
            '<span><span class="invisible">hid</span><b onclick="x()">bold</b></span> '
            '<a href="https://evil.example/x" onmouseover="y()">#<span>cats</span></a></p>'
        ),
        account="alice",
    )
    post = status_post(status)
    assert post.text == "Ελληνικά click bold #cats"
    assert post.entities["hashtags"] == [
        {"start": 20, "end": 25, "tag": "cats", "url": "https://evil.example/x"}
    ]
    assert post.entities["urls"] == []
    html = tweet_html(post.text, post.entities, "mastodon")
    for bad in ("<script", "javascript:", "onerror", "onclick", "onmouseover", "<style", "<img", "<b"):
        assert bad not in html and bad not in post.text


def test_custom_emoji_images_come_only_from_the_statuses_own_list(masto):
    masto.add_emoji("blobcat", url="https://a.example/emoji/blobcat.png")
    status = masto.emit("日本語 :blobcat: and :unknown: #cats", account="alice")
    status["emojis"].append({"shortcode": "evil", "url": "javascript:alert(1)"})
    post = status_post(status)
    assert post.text == "日本語 :blobcat: and :unknown: #cats"
    [emoji] = post.entities["emojis"]
    assert post.text[emoji["start"] : emoji["end"]] == ":blobcat:"
    assert emoji["url"].startswith("https://a.example/")
    assert post.entities["hashtags"][0]["start"] == post.text.index("#cats")


def test_a_spoiler_is_kept_with_the_post(masto):
    post = status_post(masto.emit("the ending #cats", spoiler_text="Film spoilers", account="alice"))
    assert (post.entities["spoiler_text"], post.entities["sensitive"]) == ("Film spoilers", True)
    assert post.raw["mastodon"]["spoiler_text"] == "Film spoilers"


def test_a_boost_is_the_original_marked_as_a_repost(masto):
    original = masto.emit("original #cats", account="alice")
    boost = masto.emit(reblog_of=original["id"], account="bob")
    post = status_post(boost)
    assert (post.text, post.author_username, post.network_id) == (
        "original #cats",
        "alice@a.example",
        boost["uri"],
    )
    assert post.raw["data"]["referenced_tweets"] == [{"type": "retweeted", "id": original["uri"]}]
    assert post.raw["reposted_by"]["acct"] == "bob@a.example"


# --- Admin --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_masks_the_token_and_keeps_it_when_left_blank(admin_client):
    admin_client.post(
        "/admin/streamer/mastodoninstance/add/",
        {"base_url": "https://a.example", "access_token": "secret-token-abcd", "is_active": "on"},
    )
    row = MastodonInstance.objects.get()
    page = admin_client.get(f"/admin/streamer/mastodoninstance/{row.pk}/change/").content.decode()
    listing = admin_client.get("/admin/streamer/mastodoninstance/").content.decode()
    assert "secret-token-abcd" not in page and "secret-token-abcd" not in listing
    assert "…abcd" in listing
    admin_client.post(
        f"/admin/streamer/mastodoninstance/{row.pk}/change/",
        {"base_url": "https://a.example", "access_token": "", "is_active": "on"},
    )
    row.refresh_from_db()
    assert row.access_token == "secret-token-abcd"


@pytest.mark.django_db
def test_the_admin_refuses_plain_http_except_on_loopback(admin_client):
    for url in ("http://a.example", "http://127.0.0.1:8098"):
        admin_client.post("/admin/streamer/mastodoninstance/add/", {"base_url": url, "is_active": "on"})
    assert list(MastodonInstance.objects.values_list("base_url", flat=True)) == ["http://127.0.0.1:8098"]


@pytest.mark.django_db(transaction=True)
async def test_an_instance_added_in_the_admin_is_followed_without_a_restart_and_a_removed_one_stops(
    masto, monkeypatch
):
    monkeypatch.setattr("streamer.worker.SOURCES_POLL_S", 0.1)
    await topic()
    worker = StreamWorker(
        [], topic_poll_s=0.1, changing_sources=lambda: mastodon_sources(poll_interval_s=0.1)
    )
    task = asyncio.create_task(worker.run())
    try:
        instance = await MastodonInstance.objects.acreate(base_url=masto.base_url, access_token=TOKEN)
        assert await masto.wait_subscribed_async(1)
        masto.emit("added while running #cats", account="alice")
        await eventually(lambda: Tweet.objects.aexists())
        instance.is_active = False
        await instance.asave()
        await eventually(lambda: asyncio.sleep(0, result=not worker.sources))
        assert await asyncio.to_thread(masto.wait_until, lambda: masto.connection_count == 0, 5)
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=15)
    assert await stored_texts() == ["added while running #cats"]


@pytest.mark.django_db(transaction=True)
async def test_the_hosts_an_instance_serves_images_from_are_recorded_for_the_pages_policy(masto):
    await topic()
    row = await MastodonInstance.objects.acreate(base_url=masto.base_url, access_token=TOKEN)
    source = streaming(masto, instance_id=row.pk)

    async def recorded() -> list[str]:
        return await database_sync_to_async(mastodon_image_hosts)()

    async with running(source):
        assert await masto.wait_subscribed_async(1)
        masto.emit("No tag followed", account="alice", media=[{"url": "https://elsewhere.example/x.png"}])
        masto.emit("Slides #cats", account="alice", media=[{"description": "Slide 1"}])
        await eventually(lambda: Tweet.objects.aexists())
        await eventually(lambda: _equal(recorded(), ["https://a.example", "https://files.a.example"]))


async def _equal(value, expected) -> bool:
    return await value == expected
