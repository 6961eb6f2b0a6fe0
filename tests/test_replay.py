"""The replay source and its sample file."""

import asyncio
import json

import pytest

from feed.models import Topic, Tweet
from feed.normalize import normalize
from feed.rendering import tweet_html
from streamer.sources import TopicRule
from streamer.sources.replay import SAMPLE_FILE, ReplaySource

from conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def sample_messages() -> list[dict]:
    return [json.loads(line) for line in SAMPLE_FILE.read_text(encoding="utf-8").split("\n") if line]


def test_sample_file_is_realistic_and_varied():
    messages = sample_messages()
    assert len(messages) >= 200
    texts = [m["data"]["text"] for m in messages]
    assert any("<img src=x onerror=alert(1)>" in t or "&lt;img src=x onerror" in t for t in texts)
    assert {"en", "ar", "he", "ja"} <= {m["data"]["lang"] for m in messages}
    assert all(normalize(m).network_id for m in messages)  # every line is a valid stream message


async def test_replay_assigns_topics_by_their_rules():
    source = ReplaySource(rate=1000)
    await source.sync_rules([TopicRule("py", "python"), TopicRule("dj", "#django")])
    message = sample_messages()[0]
    tagged = source.replayed(dict(message, data=dict(message["data"], text="python and #django")))
    assert [rule["tag"] for rule in tagged["matching_rules"]] == ["py", "dj"]
    assert source.replayed(dict(message, data=dict(message["data"], text="nothing here"))) is None


async def test_replayed_tweets_get_fresh_increasing_ids_and_times():
    source = ReplaySource(rate=1000)
    await source.sync_rules([TopicRule("all", "python OR django")])
    message = next(m for m in sample_messages() if "python" in m["data"]["text"].lower())
    first, second = source.replayed(message), source.replayed(message)
    assert int(second["data"]["id"]) > int(first["data"]["id"]) > int(message["data"]["id"])
    assert first["data"]["created_at"] != message["data"]["created_at"]


async def test_an_invalid_topic_rule_is_skipped_not_fatal():
    source = ReplaySource(rate=1000)
    await source.sync_rules([TopicRule("bad", '"unbalanced'), TopicRule("py", "python")])
    message = sample_messages()[0]
    tagged = source.replayed(dict(message, data=dict(message["data"], text="python")))
    assert [rule["tag"] for rule in tagged["matching_rules"]] == ["py"]


def test_no_sample_tweet_renders_to_active_html():
    for message in sample_messages():
        tweet = normalize(message)
        html = tweet_html(tweet.text, tweet.entities).lower()
        assert "<script" not in html and "<img" not in html and "<svg" not in html
        assert 'href="javascript:' not in html and 'href="data:' not in html


def test_stream_command_stores_replayed_tweets(start_worker):
    Topic.objects.create(name="Python", slug="python", query="python OR django")
    worker = start_worker("--source", "replay", "--rate", "50")
    assert wait_until(lambda: Tweet.objects.filter(topics__slug="python").count() >= 10, 20), worker.output()


async def test_a_post_the_conversion_refuses_is_skipped_and_logged_once(tmp_path, caplog):
    good, bad = sample_messages()[0], sample_messages()[1]
    replay_file = tmp_path / "replay.ndjson"
    lines = [
        dict(good, data=dict(good["data"], text="python ok")),
        dict(bad, data=dict(bad["data"], text=["python"])),
    ]
    replay_file.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    source = ReplaySource(path=replay_file, rate=1000)
    await source.sync_rules([TopicRule("py", "python")])
    delivered, enough = [], asyncio.Event()

    async def deliver(post) -> None:
        delivered.append(post)
        if len(delivered) == 3:  # three passes
            enough.set()

    task = asyncio.create_task(source.stream(deliver, lambda state, detail: None))
    await asyncio.wait_for(enough.wait(), 5)
    task.cancel()
    assert {post.text for post in delivered} == {"python ok"}
    skipped = [r.message for r in caplog.records if "skipped" in r.message]
    assert len(skipped) == 1 and skipped[0].endswith("has no text"), skipped
