"""A moderator's decision reaches every screen, whatever the screen or the channel layer was doing.

Decisions are stored first (ModerationEvent); the published message is only a nudge, so these tests
often store a decision and publish nothing, as when Redis is away while the moderator acts.
"""

import json
from dataclasses import replace

import pytest
from channels.db import database_sync_to_async

from feed import hub, topic_lookup
from feed.hub import get_hub
from feed.models import ModerationEvent, Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.publishing import publish_batches
from feed.viewer import ViewerSocket

from in_process import connect, receive
from payloads import for_viewers, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer", "topic")]


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python")


def texts(frame: dict) -> list[str]:
    return [t["text"] for t in frame["tweets"]]


async def hide(text: str, *, publish: bool) -> Tweet:
    tweet = await database_sync_to_async(Tweet.objects.get)(text=text)
    batches = await database_sync_to_async(tweets_set_hidden)(tweets=[tweet], hidden=True)
    if publish:
        await publish_batches(batches)
    return tweet


async def test_a_hide_whose_message_was_lost_still_reaches_open_pages(monkeypatch):
    monkeypatch.setattr(hub, "MODERATION_POLL_S", 0.05)
    await database_sync_to_async(ingest)("python keep", "python spam", tags=["python"])
    page = await connect("python")
    await receive(page)
    spam = await hide("python spam", publish=False)  # Redis was away: nobody was told
    message = await receive(page)
    assert (message["type"], message["ids"]) == ("hide", [spam.network_id])
    await page.disconnect()


async def test_a_new_page_never_gets_a_hidden_tweet_from_a_cached_history():
    await database_sync_to_async(ingest)("python keep", "python spam", tags=["python"])
    first = await connect("python")
    assert texts(await receive(first)) == ["python spam", "python keep"]  # now cached
    spam = await hide("python spam", publish=False)
    second = await connect("python")
    assert texts(await receive(second)) == ["python keep"]
    message = await receive(first)  # the page already open is told too
    assert (message["type"], message["ids"]) == ("hide", [spam.network_id])
    await first.disconnect(), await second.disconnect()


async def test_a_tweet_shown_again_comes_back_live_with_its_content():
    await database_sync_to_async(ingest)("python keep", "python later", tags=["python"])
    later = await hide("python later", publish=True)
    page = await connect("python")
    history = await receive(page)
    assert texts(history) == ["python keep"]
    batches = await database_sync_to_async(tweets_set_hidden)(tweets=[later], hidden=False)
    await publish_batches(batches)
    message = await receive(page)
    assert message["type"] == "show" and texts(message) == ["python later"]
    assert message["mod"] > history["mod"]
    await page.disconnect()


def test_showing_visible_tweets_again_stores_and_announces_nothing(db, topic):
    ingest("python visible", tags=["python"])
    assert tweets_set_hidden(tweets=list(Tweet.objects.all()), hidden=False) == []
    assert not ModerationEvent.objects.exists()


async def test_a_batch_published_twice_reaches_pages_once_and_leaves_no_hole_in_history():
    await database_sync_to_async(ingest)(*[f"python old {n}" for n in range(60)], tags=["python"])
    page = await connect("python")
    await receive(page)
    previous = None
    for n in range(30):
        (batch,) = for_viewers(await database_sync_to_async(ingest)(f"python new {n}", tags=["python"]))
        batch = replace(batch, prev_seq=previous or batch.seqs[0] - 1)  # as the worker's publisher sets it
        await publish_batches([batch])
        await publish_batches([batch])  # a publisher retry after a timeout that had gone through
        previous = batch.seqs[0]
    received = []
    while len(received) < 30:
        received += texts(await receive(page))
    assert received == [f"python new {n}" for n in range(30)]
    later = await connect("python")
    history = [t["seq"] for t in (await receive(later))["tweets"]]
    newest = await database_sync_to_async(
        lambda: list(TopicPost.objects.order_by("-pk").values_list("pk", flat=True)[:50])
    )()
    assert history == newest
    await page.disconnect(), await later.disconnect()


class FailingSocket(ViewerSocket):
    """A viewer whose writes raise something unexpected, as a server bug would."""

    def push(self, *args, **kwargs) -> None:
        raise RuntimeError("injected write failure")


async def test_a_socket_that_fails_to_write_affects_only_itself(monkeypatch):
    monkeypatch.setattr(hub, "PING_EVERY_S", 0.05)
    page = await connect("python")
    await receive(page)
    failing = FailingSocket(lambda message: None, label="failing")
    await get_hub().attach("python", failing)
    assert await receive(page) == {"type": "ping"}  # the pinger met the failing socket and went on
    for text in ("python one", "python two"):
        await publish_batches(await database_sync_to_async(ingest)(text, tags=["python"]))
        while (message := await receive(page))["type"] == "ping":
            pass
        assert texts(message) == [text]
    assert get_hub().viewer_count("python") == 1
    await page.disconnect()


async def test_an_unknown_topic_costs_one_query_however_often_pages_ask(monkeypatch):
    reads = []
    real = topic_lookup.topic_get_with_mark
    monkeypatch.setattr(topic_lookup, "topic_get_with_mark", lambda **kw: reads.append(kw) or real(**kw))
    for _ in range(3):
        closed = await connect("no-such-topic")
        assert (await closed.receive_output(timeout=3))["code"] == 4404
    assert len(reads) == 1


async def test_the_api_lists_the_decisions_after_a_mark(client):
    await database_sync_to_async(ingest)("python keep", "python spam", tags=["python"])
    spam = await hide("python spam", publish=False)
    response = await database_sync_to_async(client.get)("/api/topics/python/moderation/?after=0")
    (event,) = json.loads(response.content)["events"]
    seq = await database_sync_to_async(lambda: TopicPost.objects.get(tweet=spam).pk)()
    assert (event["action"], event["id"], event["seq"], event["tweet"]) == (
        "hide",
        spam.network_id,
        seq,
        None,
    )
    later = await database_sync_to_async(client.get)(f"/api/topics/python/moderation/?after={event['mod']}")
    assert json.loads(later.content) == {"events": [], "has_more": False}
