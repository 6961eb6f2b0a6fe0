"""The three replays (X, Bluesky, Mastodon): their samples, in each network's shape, and the posts
they deliver through the worker's store path, converted and matched as the live sources do."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.contrib.staticfiles import finders

from feed.models import Topic, Tweet
from streamer.build import REPLAYS, build_source
from streamer.sources import TopicRule
from streamer.sources.mastodon_tags import NO_HASHTAG
from streamer.sources.replay import SAMPLE_FILE
from streamer.sources.replay_bluesky import BLUESKY_PROFILES, BLUESKY_SAMPLE
from streamer.sources.replay_mastodon import MASTODON_SAMPLE
from streamer.sources.replay_media import MANIFEST, local_url
from streamer.worker import StreamWorker

# Every sample has posts on these, with the hashtags Mastodon needs.
CONFERENCE = "#pycon OR #python OR #djangocon"


def lines(path) -> list[dict]:
    # split("\n"), not splitlines(): X's sample has a U+2028 inside a post's text, as X allows.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


def one_pass(source) -> list:
    return [post for line in source.load() if (post := source.next_post(line)) is not None]


@pytest.fixture(params=list(REPLAYS))
def replay(request):
    return build_source(name=request.param, rate=1000)


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


# --- The samples ---------------------------------------------------------------------------------


def test_bluesky_facets_index_the_text_by_utf8_bytes():
    shifted = 0
    for event in lines(BLUESKY_SAMPLE):
        record = event["commit"]["record"]
        data = record["text"].encode()
        for facet in record.get("facets", []):
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            shown, feature = data[start:end].decode(), facet["features"][0]
            if feature["$type"].endswith("#tag"):
                assert shown == "#" + feature["tag"]
            elif feature["$type"].endswith("#mention"):
                assert shown.startswith("@") and feature["did"].startswith("did:plc:")
            else:
                assert feature["uri"].startswith("https://") and shown.rstrip(".") in feature["uri"]
            shifted += start != len(data[:start].decode())  # bytes, not characters, before it
    assert shifted >= 5


def test_bluesky_sample_is_jetstream_posts_with_every_authors_profile():
    events = lines(BLUESKY_SAMPLE)
    profiles = json.loads(BLUESKY_PROFILES.read_text(encoding="utf-8"))["profiles"]
    assert len(events) >= 30 and len(profiles) <= 25  # one getProfiles call
    assert {e["kind"] for e in events} == {"commit"}
    assert {(e["commit"]["collection"], e["commit"]["operation"]) for e in events} == {
        ("app.bsky.feed.post", "create")
    }
    assert {e["did"] for e in events} <= {p["did"] for p in profiles}
    embeds = {e["commit"]["record"].get("embed", {}).get("$type") for e in events}
    assert {"app.bsky.embed.images", "app.bsky.embed.record", "app.bsky.embed.recordWithMedia"} <= embeds
    assert any("reply" in e["commit"]["record"] for e in events)
    assert len({lang for e in events for lang in e["commit"]["record"]["langs"]}) >= 8


def test_mastodon_sample_has_custom_emoji_a_content_warning_a_boost_and_images():
    statuses = lines(MASTODON_SAMPLE)
    assert len(statuses) >= 20
    assert any(s["emojis"] and f":{s['emojis'][0]['shortcode']}:" in s["content"] for s in statuses)
    assert any(s["spoiler_text"] and s["sensitive"] for s in statuses)
    boosts = [s for s in statuses if s["reblog"]]
    assert len(boosts) == 1 and boosts[0]["uri"].endswith("/activity") and boosts[0]["content"] == ""
    kinds = {m["type"] for s in statuses for m in s["media_attachments"]}
    assert kinds == {"image", "gifv"}
    assert any(s["in_reply_to_id"] for s in statuses)
    assert len({s["language"] for s in statuses if s["language"]}) >= 8


def test_sample_images_are_small_and_sized_as_the_samples_say():
    for image in json.loads(MANIFEST.read_text(encoding="utf-8")):
        path = finders.find(f"samples/{image['file']}")
        assert path, image["file"]
        data = Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 16_000
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (image["width"], image["height"]) and image["alt"]


def test_every_image_a_sample_names_is_one_this_site_serves():
    x = [
        m.get("url") or m["preview_image_url"]
        for msg in lines(SAMPLE_FILE)
        for m in msg.get("includes", {}).get("media", [])
    ]
    bluesky = [
        f"https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:x/{image['image']['ref']['$link']}@jpeg"
        for e in lines(BLUESKY_SAMPLE)
        for embed in [e["commit"]["record"].get("embed", {})]
        for image in (embed.get("media") or embed).get("images", [])
    ]
    mastodon = [m["preview_url"] for s in lines(MASTODON_SAMPLE) for m in s["media_attachments"]]
    assert len(x) > 30 and len(bluesky) >= 8 and len(mastodon) >= 6
    for url in x + bluesky + mastodon:
        assert (local := local_url(url)) and local.startswith("/static/samples/"), url


# --- Each replay ---------------------------------------------------------------------------------


async def test_each_pass_replays_the_sample_as_new_posts_of_its_network(replay):
    await replay.sync_rules([TopicRule("conf", CONFERENCE, (replay.network,))])
    first, second = one_pass(replay), one_pass(replay)
    assert len(first) == len(second) >= 20
    ids = [post.network_id for post in first + second]
    assert len(set(ids)) == len(ids)  # fresh ids: every pass is stored again
    assert {post.source for post in first} == {replay.network}
    assert {post.topic_slugs for post in first} == {("conf",)}
    assert all(abs(post.created_at - datetime.now(UTC)) < timedelta(minutes=1) for post in first)


async def test_replayed_images_are_this_sites_copies(replay):
    await replay.sync_rules([TopicRule("conf", CONFERENCE, (replay.network,))])
    media = [item for post in one_pass(replay) for item in post.media]
    assert len(media) >= 5
    for item in media:
        assert item["url"].startswith("/static/samples/") and finders.find(item["url"][len("/static/") :])
        assert item["width"] and item["height"] and item["alt"]


async def test_an_invalid_rule_is_refused_alone(replay):
    outcomes = await replay.sync_rules(
        [TopicRule("bad", '"unbalanced', (replay.network,)), TopicRule("conf", CONFERENCE, (replay.network,))]
    )
    assert [(o.slug, bool(o.error)) for o in outcomes] == [("bad", True), ("conf", False)]
    assert {post.topic_slugs for post in one_pass(replay)} == {("conf",)}


@pytest.mark.django_db(transaction=True)
async def test_replayed_posts_are_stored_through_the_worker_with_their_network(replay, in_memory_layer):
    await Topic.objects.acreate(name="Conf", slug="conf", query=CONFERENCE, networks=[replay.network])
    per_pass = await _per_pass(replay.name)
    worker = StreamWorker([replay], topic_poll_s=0.1)
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 30
    while await Tweet.objects.acount() < 2 * per_pass:  # two passes at least
        assert time.monotonic() < deadline, f"{await Tweet.objects.acount()} of {2 * per_pass} stored"
        await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.wait([task], timeout=15)
    # Every post delivered became a row of its own: no id came back on a later pass.
    assert await Tweet.objects.acount() == worker.received
    assert {t.source async for t in Tweet.objects.all()} == {replay.network}
    assert await Tweet.objects.filter(topics__slug="conf").acount() == worker.received
    media = [item async for t in Tweet.objects.exclude(media=[]) for item in t.media]
    assert media and all(item["url"].startswith("/static/samples/") for item in media)


async def _per_pass(name: str) -> int:
    counter = build_source(name=name, rate=1000)
    await counter.sync_rules([TopicRule("conf", CONFERENCE, (counter.network,))])
    return len(one_pass(counter))


# --- Bluesky and Mastodon, as their live sources match ------------------------------------------


async def test_bluesky_replay_takes_its_authors_from_the_bundled_profiles():
    replay = build_source(name="replay:bluesky", rate=1000)
    await replay.sync_rules([TopicRule("all", "#pycon OR #python OR #djangocon OR django", ("bluesky",))])
    authors = {(p.author_username, p.author_name) for p in one_pass(replay)}
    assert ("priya-codes.bsky.social", "Priya Raman") in authors
    assert ("maria-dev.bsky.social", "maria-dev.bsky.social") in authors  # no display name: the handle


async def test_bluesky_replay_matches_hidden_tags_and_languages_as_the_live_source():
    replay = build_source(name="replay:bluesky", rate=1000)
    await replay.sync_rules(
        [
            TopicRule("lt", "#lightningtalks", ("bluesky",)),
            TopicRule("ja", "#djangocon lang:ja", ("bluesky",)),
        ]
    )
    posts = one_pass(replay)
    hidden = [p for p in posts if "lt" in p.topic_slugs]
    assert len(hidden) == 1 and "#lightningtalks" not in hidden[0].text  # only in the record's tags
    assert [p.lang for p in posts if "ja" in p.topic_slugs] == ["ja"]


async def test_bluesky_replay_quotes_come_from_the_sample_as_the_appview_would_give_them():
    replay = build_source(name="replay:bluesky", rate=1000)
    await replay.sync_rules([TopicRule("all", "#pycon OR #django", ("bluesky",))])
    quoting = [p for p in one_pass(replay) if p.quote]
    assert len(quoting) == 2
    cards = {p.text.split(" ")[0]: p.quote for p in quoting}
    assert cards["This"]["author"]["username"] == "kenji.bsky.social"
    assert cards["This"]["text"].startswith("非同期Django")
    with_image = cards["Same"]  # recordWithMedia: the post's own image, and the quoted post's
    assert with_image["author"]["name"] == "Conference Crew 🎪"
    assert [m["url"] for m in with_image["media"]] == ["/static/samples/keynote-stage.png"]


async def test_mastodon_replay_follows_hashtags_and_refuses_a_rule_without_one():
    replay = build_source(name="replay:mastodon", rate=1000)
    outcomes = await replay.sync_rules(
        [TopicRule("words", "django", ("mastodon",)), TopicRule("dj", "#djangocon channels", ("mastodon",))]
    )
    assert [o.error for o in outcomes] == [NO_HASHTAG, ""]
    posts = one_pass(replay)
    assert posts and all(p.topic_slugs == ("dj",) and "channels" in p.text.lower() for p in posts)
    assert all("djangocon" in {h["tag"].lower() for h in p.entities["hashtags"]} for p in posts)


async def test_mastodon_replay_gives_the_boost_as_a_repost_with_fresh_uris():
    replay = build_source(name="replay:mastodon", rate=1000)
    await replay.sync_rules([TopicRule("boosts", "#pycon is:retweet", ("mastodon",))])
    sample_boost = next(s for s in lines(MASTODON_SAMPLE) if s["reblog"])
    first, second = one_pass(replay), one_pass(replay)
    assert len(first) == len(second) == 1
    for post in (first[0], second[0]):
        assert post.network_id.endswith("/activity") and post.network_id != sample_boost["uri"]
        assert post.raw["reposted_by"]["acct"] == "confcrew@mastodon.social"
        assert post.raw["mastodon"]["reblog"]["uri"] != sample_boost["reblog"]["uri"]
    assert first[0].network_id != second[0].network_id


async def test_mastodon_replay_keeps_the_content_warning_and_the_custom_emoji():
    replay = build_source(name="replay:mastodon", rate=1000)
    await replay.sync_rules([TopicRule("conf", CONFERENCE, ("mastodon",))])
    posts = one_pass(replay)
    warned = [p for p in posts if p.entities["spoiler_text"]]
    assert len(warned) == 1 and warned[0].entities["sensitive"]
    assert any(e["shortcode"] == "blobcatcoffee" for p in posts for e in p.entities["emojis"])
