"""The topic WebSocket, in process, on the in-memory and the Redis pub/sub channel layers."""

from dataclasses import replace

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from feed import hub
from feed.models import Topic, TopicPost
from feed.moderation import tweets_set_hidden
from feed.publishing import HEARTBEAT_GROUP, HEARTBEAT_MESSAGE_TYPE, publish_batches
from feed.services import topics_deactivate
from tweetsite.asgi import application

from in_process import TIMEOUT, connect, receive
from payloads import for_viewers, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python")


async def test_connect_sends_the_newest_visible_tweets_first(topic):
    await database_sync_to_async(ingest)("python one", "python two", "python three", tags=["python"])
    communicator = await connect("python")
    history = await receive(communicator)
    assert history["type"] == "history"
    assert [t["text"] for t in history["tweets"]] == ["python three", "python two", "python one"]
    seqs = [t["seq"] for t in history["tweets"]]
    assert seqs == sorted(seqs, reverse=True)
    await communicator.disconnect()


async def test_history_holds_at_most_fifty_tweets(topic):
    texts = [f"python {n}" for n in range(60)]
    await database_sync_to_async(ingest)(*texts, tags=["python"])
    communicator = await connect("python")
    history = await receive(communicator)
    assert len(history["tweets"]) == 50
    assert history["tweets"][0]["text"] == "python 59"
    await communicator.disconnect()


async def test_tweet_carries_the_documented_fields(topic):
    await database_sync_to_async(ingest)("python #tips by @bob", tags=["python"])
    communicator = await connect("python")
    (tweet,) = (await receive(communicator))["tweets"]
    assert set(tweet) == {
        "seq",
        "id",
        "source",
        "text",
        "html",
        "created_at",
        "url",
        "author",
        "lang",
        "topics",
        "at",
    }  # and media, quote, reply_to, reposted_by when the post has them (test_media, test_references)
    assert tweet["source"] == "x"
    assert set(tweet["author"]) == {"id", "username", "name", "avatar_url"}
    assert tweet["url"] == f"https://x.com/alice/status/{tweet['id']}"
    assert tweet["topics"] == ["python"]
    await communicator.disconnect()


@pytest.mark.parametrize("slug", ["nope", "inactive"])
async def test_unknown_or_inactive_topic_closes_with_4404(slug, topic):
    await database_sync_to_async(Topic.objects.create)(
        name="Off", slug="inactive", query="x", is_active=False
    )
    communicator = await connect(slug)
    assert await communicator.receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4404}


async def test_published_tweets_reach_every_viewer_of_the_topic(topic):
    first, second = await connect("python"), await connect("python")
    await receive(first), await receive(second)
    batches = await database_sync_to_async(ingest)("python live", tags=["python"])
    await publish_batches(batches)
    for communicator in (first, second):
        message = await receive(communicator)
        assert message["type"] == "tweets"
        assert [t["text"] for t in message["tweets"]] == ["python live"]
        await communicator.disconnect()


async def test_viewers_get_only_their_topics_tweets(topic):
    await database_sync_to_async(Topic.objects.create)(name="Django", slug="django", query="django")
    communicator = await connect("python")
    await receive(communicator)
    await publish_batches(await database_sync_to_async(ingest)("django only", tags=["django"]))
    await publish_batches(await database_sync_to_async(ingest)("python only", tags=["python"]))
    message = await receive(communicator)
    assert [t["text"] for t in message["tweets"]] == ["python only"]
    await communicator.disconnect()


async def test_hiding_a_tweet_removes_it_live_and_from_history(topic):
    await database_sync_to_async(ingest)("python keep", "python spam", tags=["python"])
    communicator = await connect("python")
    await receive(communicator)
    spam = await database_sync_to_async(TopicPost.objects.select_related("tweet").get)(
        tweet__text="python spam"
    )
    await publish_batches(await database_sync_to_async(tweets_set_hidden)(tweets=[spam.tweet], hidden=True))
    hide = await receive(communicator)
    assert (hide["type"], hide["ids"], hide["seqs"]) == ("hide", [spam.tweet.network_id], [spam.pk])
    await communicator.disconnect()
    later = await connect("python")
    assert [t["text"] for t in (await receive(later))["tweets"]] == ["python keep"]
    await later.disconnect()


async def test_a_client_that_sends_anything_is_closed(topic):
    communicator = await connect("python")
    await receive(communicator)
    await communicator.send_to(text_data="hello")
    assert (await communicator.receive_output(timeout=TIMEOUT))["code"] == 4400


async def test_a_foreign_origin_is_refused(topic):
    communicator = WebsocketCommunicator(
        application, "/ws/topics/python/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_switching_a_topic_off_closes_its_open_pages_with_4404(topic):
    communicator = await connect("python")
    await receive(communicator)
    await publish_batches(await database_sync_to_async(topics_deactivate)(topics=[topic]))
    closed = await communicator.receive_output(timeout=TIMEOUT)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4404)


async def test_a_quiet_topic_still_gets_pings_so_pages_can_tell_a_dead_connection(topic, monkeypatch):
    monkeypatch.setattr(hub, "PING_EVERY_S", 0.05)
    communicator = await connect("python")
    await receive(communicator)
    assert await receive(communicator) == {"type": "ping"}
    await communicator.disconnect()


async def received_texts(communicator, count: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        message = await receive(communicator)
        texts += [t["text"] for t in sorted(message["tweets"], key=lambda t: t["seq"])]
    return texts


async def test_a_batch_after_a_gap_makes_the_hub_send_what_it_missed_in_order(topic):
    communicator = await connect("python")
    await receive(communicator)
    await database_sync_to_async(ingest)("python lost 1", "python lost 2", tags=["python"])  # never published
    (batch,) = for_viewers(await database_sync_to_async(ingest)("python live", tags=["python"]))
    await publish_batches([replace(batch, prev_seq=batch.seqs[0] - 1)])
    assert await received_texts(communicator, 3) == ["python lost 1", "python lost 2", "python live"]
    await communicator.disconnect()


async def test_a_heartbeat_ahead_of_the_hub_makes_it_send_what_it_missed(topic):
    communicator = await connect("python")
    await receive(communicator)
    (batch,) = for_viewers(
        await database_sync_to_async(ingest)("python lost", tags=["python"])
    )  # never published
    heartbeat = {"type": HEARTBEAT_MESSAGE_TYPE, "seqs": {"python": batch.seqs[0]}}
    await get_channel_layer().group_send(HEARTBEAT_GROUP, heartbeat)
    assert await received_texts(communicator, 1) == ["python lost"]
    await communicator.disconnect()
