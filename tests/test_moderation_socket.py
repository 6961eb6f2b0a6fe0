"""The moderators' WebSocket, /ws/topics/<slug>/moderate/, in process, on the in-memory and the Redis
pub/sub channel layers: who it lets in, its snapshot, and every post and decision arriving live."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from feed import moderation_socket
from feed.models import BlockRule, Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.publishing import publish_batches
from feed.services import topics_deactivate
from tweetsite.asgi import application

from in_process import ORIGIN, TIMEOUT, connect, receive
from payloads import ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("channel_layer")]

PATH = "/ws/topics/python/moderate/"


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python", moderation="approve")


def _session(username: str, *, permitted: bool = True) -> str:
    user = get_user_model().objects.create_user(username, password="pw", is_staff=True)
    if permitted:
        user.user_permissions.add(Permission.objects.get(codename="moderate_topic"))
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(session: str | None, path: str = PATH, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin] + ([(b"cookie", f"sessionid={session}".encode())] if session else [])
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def closed_with(communicator: WebsocketCommunicator) -> int:
    return (await communicator.receive_output(timeout=TIMEOUT))["code"]


def _decide(session: str, action: str, post_ids: list[int]) -> dict:
    client = Client(enforce_csrf_checks=False)
    client.cookies["sessionid"] = session
    url = reverse("api-topic-decisions", kwargs={"slug": "python"})
    body = json.dumps({"action": action, "post_ids": post_ids})
    return client.post(url, body, content_type="application/json").json()


def _tweet_pk(text: str) -> int:
    return Tweet.objects.get(text=text).pk


def _posts_by_text(frame: dict) -> dict[str, tuple[str, str]]:
    return {post["text"]: (post["state"], post["reason"]) for post in frame["posts"]}


async def test_an_anonymous_socket_is_refused_with_4403(topic):
    communicator = await open_socket(None)
    assert await closed_with(communicator) == 4403


async def test_a_staff_socket_without_the_moderate_permission_is_refused_with_4403(topic):
    session = await database_sync_to_async(_session)("sam", permitted=False)
    communicator = await open_socket(session)
    assert await closed_with(communicator) == 4403


async def test_a_moderators_socket_from_a_foreign_origin_is_refused(topic):
    session = await database_sync_to_async(_session)("mia")
    communicator = WebsocketCommunicator(
        application,
        PATH,
        headers=[(b"origin", b"https://evil.example"), (b"cookie", f"sessionid={session}".encode())],
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_an_unknown_topic_is_closed_with_4404(topic):
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session, "/ws/topics/nope/moderate/")
    assert await closed_with(communicator) == 4404


async def test_a_frame_from_the_client_closes_the_socket_with_4400(topic):
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    await receive(communicator)
    await communicator.send_to(text_data='{"action":"hide"}')
    assert await closed_with(communicator) == 4400


def _store_every_state() -> None:
    BlockRule.objects.create(kind="word", value="spam")
    ingest("first waiting", "second waiting", "buy spam", "to hide", tags=["python"])
    Topic.objects.filter(slug="python").update(moderation="open")
    ingest("shown", tags=["python"])
    tweets_set_hidden(tweets=Tweet.objects.filter(text="to hide"), hidden=True)


async def test_the_snapshot_holds_pending_oldest_first_and_the_newest_of_each_state_with_reasons(topic):
    await database_sync_to_async(_store_every_state)()
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    snapshot = await receive(communicator)
    assert snapshot["type"] == "snapshot" and snapshot["mod"] > 0
    spam_reason = snapshot["posts"][4]["reason"]
    assert "spam" in spam_reason
    assert [(p["text"], p["state"]) for p in snapshot["posts"]] == [
        ("first waiting", "pending"),
        ("second waiting", "pending"),
        ("shown", "visible"),
        ("to hide", "hidden"),
        ("buy spam", "blocked"),
    ]
    post = snapshot["posts"][0]
    assert post["post_id"] == await database_sync_to_async(_tweet_pk)("first waiting")
    assert {"seq", "id", "text", "html", "created_at", "author", "state", "reason"} <= set(post)
    assert snapshot["counts"] == [
        {"state": "pending", "reason": "", "hour": 2, "day": 2},
        {"state": "blocked", "reason": spam_reason, "hour": 1, "day": 1},
    ]
    await communicator.disconnect()


async def test_new_pending_and_blocked_posts_arrive_live_with_their_reason_and_viewers_get_neither(topic):
    await database_sync_to_async(BlockRule.objects.create)(kind="word", value="spam")
    session = await database_sync_to_async(_session)("mia")
    moderator, viewer = await open_socket(session), await connect("python")
    await receive(moderator), await receive(viewer)
    batches = await database_sync_to_async(ingest)("please approve", "buy spam", tags=["python"])
    await publish_batches(batches)
    frame = await receive(moderator)
    assert (frame["type"], frame["mod"]) == ("posts", 0)
    posts = _posts_by_text(frame)
    assert posts["please approve"] == ("pending", "")
    assert posts["buy spam"][0] == "blocked" and "spam" in posts["buy spam"][1]
    assert await viewer.receive_nothing(timeout=0.3)
    await moderator.disconnect(), await viewer.disconnect()


async def test_a_decision_by_one_moderator_reaches_the_others_socket_and_a_second_one_is_not_applied(topic):
    await database_sync_to_async(ingest)("please approve", tags=["python"])
    first = await database_sync_to_async(_session)("mia")
    second = await database_sync_to_async(_session)("max")
    watching = await open_socket(second)
    await receive(watching)
    post_id = await database_sync_to_async(_tweet_pk)("please approve")

    answer = await database_sync_to_async(_decide)(first, "approve", [post_id])
    assert answer["results"] == [{"post_id": post_id, "state": "visible", "applied": True, "pinned": False}]
    frame = await receive(watching)
    assert frame["type"] == "posts" and frame["mod"] > 0
    assert [(p["post_id"], p["state"]) for p in frame["posts"]] == [(post_id, "visible")]

    late = await database_sync_to_async(_decide)(second, "approve", [post_id])
    assert late["results"] == [{"post_id": post_id, "state": "visible", "applied": False, "pinned": False}]
    assert await watching.receive_nothing(timeout=0.3)  # nothing changed, nothing announced
    await watching.disconnect()


async def test_a_pin_reaches_the_other_moderators_and_the_snapshot_lists_pinned_posts(topic):
    await database_sync_to_async(Topic.objects.filter(pk=topic.pk).update)(moderation="open")
    await database_sync_to_async(ingest)("pin me", tags=["python"])
    session = await database_sync_to_async(_session)("mia")
    watching = await open_socket(session)
    await receive(watching)
    post_id = await database_sync_to_async(_tweet_pk)("pin me")
    await database_sync_to_async(_decide)(session, "pin", [post_id])
    frame = await receive(watching)
    assert [(p["post_id"], p["pinned"]) for p in frame["posts"]] == [(post_id, True)]
    await watching.disconnect()
    later = await open_socket(session)
    snapshot = await receive(later)
    assert [p["post_id"] for p in snapshot["posts"] if p["pinned"]] == [post_id]
    await later.disconnect()


async def test_after_a_reconnect_the_snapshot_shows_a_decision_made_while_away(topic):
    await database_sync_to_async(ingest)("please approve", "to hide", tags=["python"])
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    before = _posts_by_text(await receive(communicator))
    assert before == {"please approve": ("pending", ""), "to hide": ("pending", "")}
    await communicator.disconnect()

    posts = {text: await database_sync_to_async(_tweet_pk)(text) for text in before}
    await database_sync_to_async(_decide)(session, "approve", [posts["please approve"]])
    await database_sync_to_async(_decide)(session, "hide", [posts["to hide"]])

    communicator = await open_socket(session)
    after = await receive(communicator)
    assert _posts_by_text(after) == {"please approve": ("visible", ""), "to hide": ("hidden", "")}
    assert after["counts"] == []
    await communicator.disconnect()


async def test_an_approved_post_keeps_its_post_id_and_takes_a_new_seq(topic):
    await database_sync_to_async(ingest)("please approve", tags=["python"])
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    (pending,) = (await receive(communicator))["posts"]
    await database_sync_to_async(_decide)(session, "approve", [pending["post_id"]])
    (approved,) = (await receive(communicator))["posts"]
    assert approved["post_id"] == pending["post_id"] and approved["seq"] > pending["seq"]
    seq = await database_sync_to_async(lambda: TopicPost.objects.get(tweet_id=pending["post_id"]).pk)()
    assert approved["seq"] == seq
    await communicator.disconnect()


async def test_a_decision_whose_announcement_was_lost_arrives_as_a_new_snapshot(topic, monkeypatch):
    monkeypatch.setattr(moderation_socket, "REFRESH_EVERY_S", 0.1)
    await database_sync_to_async(ingest)("to hide", tags=["python"])
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    await receive(communicator)
    # Its batches are never published, as when Redis is away.
    await database_sync_to_async(tweets_set_hidden)(tweets=Tweet.objects.filter(text="to hide"), hidden=True)
    frame = await receive(communicator)
    while frame["type"] == "counts":  # the pending post left the counts
        frame = await receive(communicator)
    assert frame["type"] == "snapshot"
    assert _posts_by_text(frame) == {"to hide": ("hidden", "")}
    await communicator.disconnect()


async def test_switching_the_topic_off_closes_its_moderation_sockets_with_4404(topic):
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    await receive(communicator)  # snapshot
    await publish_batches(await database_sync_to_async(topics_deactivate)(topics=[topic]))
    assert await closed_with(communicator) == 4404


async def test_a_moderation_socket_whose_close_message_was_lost_closes_on_its_next_refresh(
    topic, monkeypatch
):
    monkeypatch.setattr(moderation_socket, "REFRESH_EVERY_S", 0.1)
    session = await database_sync_to_async(_session)("mia")
    communicator = await open_socket(session)
    await receive(communicator)  # snapshot
    await database_sync_to_async(topics_deactivate)(topics=[topic])  # never published: Redis away
    output = await communicator.receive_output(timeout=TIMEOUT)
    while output["type"] != "websocket.close":  # a counts frame may come first
        output = await communicator.receive_output(timeout=TIMEOUT)
    assert output["code"] == 4404
