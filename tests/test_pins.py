"""Pins: a pinned post stays on top of the topic's pages, on every open screen and after reconnects."""

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from feed.models import ModerationDecision, Topic, Tweet
from feed.moderation import posts_decide, tweets_set_hidden
from feed.publishing import publish_batches

from in_process import connect, receive
from payloads import ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python")


@database_sync_to_async
def decide(topic: Topic, action: str, *texts: str):
    moderator, _ = get_user_model().objects.get_or_create(username="mia", is_superuser=True)
    posts = [Tweet.objects.get(text=text).pk for text in texts]
    return posts_decide(topic=topic, action=action, post_ids=posts, moderator=moderator)


async def test_a_pin_reaches_open_pages_and_every_new_history(topic):
    await database_sync_to_async(ingest)("python old", "python pinned", "python new", tags=["python"])
    page = await connect("python")
    assert (await receive(page))["pinned"] == []
    decided = await decide(topic, "pin", "python pinned")
    assert [(r.state, r.applied, r.pinned) for r in decided.results] == [("visible", True, True)]
    await publish_batches(decided.batches)
    pin = await receive(page)
    assert (pin["type"], [t["text"] for t in pin["tweets"]]) == ("pin", ["python pinned"])
    await page.disconnect()
    later = await connect("python")  # a reconnect: the history says what is pinned
    history = await receive(later)
    assert [t["text"] for t in history["pinned"]] == ["python pinned"]
    await later.disconnect()


async def test_pins_come_newest_first_and_an_unpin_reaches_pages(topic):
    await database_sync_to_async(ingest)("python a", "python b", tags=["python"])
    await decide(topic, "pin", "python a")
    await decide(topic, "pin", "python b")
    page = await connect("python")
    assert [t["text"] for t in (await receive(page))["pinned"]] == ["python b", "python a"]
    decided = await decide(topic, "unpin", "python a")
    await publish_batches(decided.batches)
    unpin = await receive(page)
    unpinned = await database_sync_to_async(Tweet.objects.get)(text="python a")
    assert (unpin["type"], unpin["ids"]) == ("unpin", [unpinned.network_id])
    await page.disconnect()
    later = await connect("python")
    assert [t["text"] for t in (await receive(later))["pinned"]] == ["python b"]
    await later.disconnect()


async def test_hiding_a_pinned_post_unpins_it(topic):
    await database_sync_to_async(ingest)("python pinned", tags=["python"])
    await decide(topic, "pin", "python pinned")
    spam = await database_sync_to_async(Tweet.objects.get)(text="python pinned")
    await database_sync_to_async(tweets_set_hidden)(tweets=[spam], hidden=True)
    await database_sync_to_async(tweets_set_hidden)(tweets=[spam], hidden=False)
    page = await connect("python")
    history = await receive(page)
    assert (history["pinned"], [t["text"] for t in history["tweets"]]) == ([], ["python pinned"])
    await page.disconnect()


async def test_only_a_visible_post_is_pinned_and_a_second_pin_is_not_applied(topic):
    await database_sync_to_async(Topic.objects.filter(pk=topic.pk).update)(moderation="approve")
    await database_sync_to_async(ingest)("python waiting", tags=["python"])
    refused = await decide(topic, "pin", "python waiting")
    assert [(r.state, r.applied, r.pinned) for r in refused.results] == [("pending", False, False)]
    await decide(topic, "approve", "python waiting")
    await decide(topic, "pin", "python waiting")
    again = await decide(topic, "pin", "python waiting")
    assert [(r.state, r.applied, r.pinned) for r in again.results] == [("visible", False, True)]
    actions = await database_sync_to_async(
        lambda: list(ModerationDecision.objects.order_by("pk").values_list("action", flat=True))
    )()
    assert actions == ["approve", "pin"]
