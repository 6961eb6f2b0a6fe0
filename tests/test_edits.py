"""A post its network edits (or whose author's profile came late) is replaced on every open screen,
in place, and a page that was away reads the edit on its way back, like a moderator's decision."""

from dataclasses import replace

import pytest
from channels.db import database_sync_to_async

from feed.edits import post_edit
from feed.models import Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.normalize import normalize
from feed.publishing import publish_batches
from feed.services import tweets_ingest

from in_process import connect, receive
from payloads import for_viewers, x_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]

URI = "at://did:plc:abc/app.bsky.feed.post/3kabc"


def _sky_post(text: str, **fields):
    post = normalize(x_message(text, tags=["python"]))
    return replace(post, source="bluesky", network_id=URI, **fields)


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python", networks=["bluesky"])


@database_sync_to_async
def store(text: str):
    return for_viewers(tweets_ingest(tweets=[_sky_post(text)]))


@database_sync_to_async
def edit(text: str, **fields):
    return post_edit(post=_sky_post(text, **fields))


async def test_an_edit_reaches_an_open_page_in_place_and_every_new_history(topic):
    page = await connect("python")
    await receive(page)  # history: nothing yet
    await publish_batches(await store("python v1"))  # live, so the hub keeps it for histories
    [before] = (await receive(page))["tweets"]
    await publish_batches(await edit("python v2", author_username="alice.bsky.social"))
    frame = await receive(page)
    assert frame["type"] == "edit"
    [after] = frame["tweets"]
    assert (after["seq"], after["text"]) == (before["seq"], "python v2")
    assert after["author"]["username"] == "alice.bsky.social"
    later = await connect("python")
    assert [t["text"] for t in (await receive(later))["tweets"]] == ["python v2"]
    await page.disconnect()
    await later.disconnect()


async def test_a_page_that_was_away_reads_the_edit_from_the_api(topic, async_client):
    await store("python v1")
    page = await connect("python")
    mark = (await receive(page))["mod"]
    await page.disconnect()
    await edit("python v2")  # published nowhere: the page is away
    events = (await async_client.get(f"/api/topics/python/moderation/?after={mark}")).json()["events"]
    assert [(e["action"], e["tweet"]["text"]) for e in events] == [("edit", "python v2")]
    later = await connect("python")
    assert [t["text"] for t in (await receive(later))["tweets"]] == ["python v2"]
    await later.disconnect()


async def test_an_edit_of_a_post_waiting_for_approval_tells_only_the_moderators(topic):
    await database_sync_to_async(Topic.objects.filter(pk=topic.pk).update)(moderation="approve")
    await store("python v1")
    batches = await edit("python v2")
    assert [(b.kind, b.mod) for b in batches] == [("review", 0)]
    post = await TopicPost.objects.select_related("tweet").aget()
    assert (post.state, post.tweet.text) == ("pending", "python v2")


async def test_an_edit_of_a_post_never_stored_is_ignored(topic):
    assert await edit("python v2") is None
    assert await Tweet.objects.acount() == 0


async def test_a_post_hidden_after_its_edit_never_sends_its_new_text(topic, async_client):
    await store("python v1")
    page = await connect("python")
    mark = (await receive(page))["mod"]
    await page.disconnect()
    await edit("python v2, hidden since")
    tweet = await Tweet.objects.aget()
    await database_sync_to_async(tweets_set_hidden)(tweets=[tweet], hidden=True)
    events = (await async_client.get(f"/api/topics/python/moderation/?after={mark}")).json()["events"]
    assert [(e["action"], e["tweet"]) for e in events] == [("edit", None), ("hide", None)]
    later = await connect("python")
    history = await receive(later)
    assert history["tweets"] == []
    await later.disconnect()
