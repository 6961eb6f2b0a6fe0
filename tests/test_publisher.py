"""The worker's publisher: buffering while the channel layer is away, and gaps it cannot hide."""

import asyncio

import pytest
from channels.layers import channel_layers, get_channel_layer

from feed.models import Topic
from feed.services import TopicBatch
from streamer import publisher as publisher_module
from streamer.publisher import Publisher

from conftest import wait_until
from live_viewer import Viewer
from payloads import ingest
from tcp_proxy import TcpProxy

UNREACHABLE = {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": ["redis://127.0.0.1:9"]},
}
IN_MEMORY = {"BACKEND": "channels.layers.InMemoryChannelLayer"}


def use_layer(settings, config: dict) -> None:
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()


def batch(seq: int) -> TopicBatch:
    return TopicBatch("python", "tweets", (seq,), items=(f'{{"seq":{seq}}}',))


@pytest.fixture
def publisher(settings):
    use_layer(settings, UNREACHABLE)
    publisher = Publisher()
    publisher.start_from({"python": 10})
    yield publisher
    channel_layers.backends.clear()


async def listen():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("topic.python", channel)
    return layer, channel


async def test_batches_wait_while_the_layer_is_away_and_go_out_in_order(publisher, settings):
    await publisher.publish([batch(11)])
    await publisher.publish([batch(12)])
    assert (publisher.buffered, publisher.dropped) == (2, 0)
    use_layer(settings, IN_MEMORY)
    layer, channel = await listen()
    assert await publisher.flush()
    first, second = await layer.receive(channel), await layer.receive(channel)
    assert (first["seqs"], first["prev_seq"]) == ([11], 10)
    assert (second["seqs"], second["prev_seq"]) == ([12], 11)


async def test_a_dropped_batch_still_shows_as_a_gap_to_web_processes(publisher, settings, monkeypatch):
    monkeypatch.setattr(publisher_module, "MAX_BUFFERED_BATCHES", 1)
    await publisher.publish([batch(11)])
    await publisher.publish([batch(12)])  # the buffer is full: 11 is dropped and counted
    assert publisher.dropped == 1
    use_layer(settings, IN_MEMORY)
    layer, channel = await listen()
    assert await publisher.flush()
    message = await layer.receive(channel)
    # prev_seq 11 is above what web processes saw (10): they fetch 11 from the database.
    assert (message["seqs"], message["prev_seq"]) == ([12], 11)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("cap", "dropped"), [(1, 1), (2, 0)], ids=["shedding", "full"])
def test_every_post_reaches_a_viewer_when_the_buffer_fills_during_a_send(
    settings, monkeypatch, redis_proc, redis_url, start_server, cap, dropped
):
    """A long Redis stall fills the buffer while the oldest batch is being sent; every post still
    reaches an open page of a real web process, live or caught up from the database. (With a cap of
    2 the sent batch used to take the unsent one behind it out of the buffer, unseen by any gap.)"""
    monkeypatch.setattr(publisher_module, "MAX_BUFFERED_BATCHES", cap)
    Topic.objects.create(name="Python", slug="python", query="python")
    server = start_server("uvicorn")
    proxy = TcpProxy(redis_proc.port)  # the worker's path to Redis; the web's is direct
    use_layer(
        settings,
        {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{proxy.port}/0"]},
        },
    )
    viewer, done, publisher = Viewer(), asyncio.Event(), Publisher()

    async def scenario() -> list[int]:
        watching = asyncio.create_task(viewer.watch(f"{server.ws_url}/ws/topics/python/", server.url, done))
        await get_channel_layer().group_send("warm-up", {"type": "warm.up"})  # connected before the stall
        await asyncio.sleep(0.5)  # the page holds its (empty) history
        first, second, third = await asyncio.to_thread(
            lambda: [ingest(f"python {n}", tags=["python"])[0] for n in range(3)]
        )
        proxy.stall()
        sending = [asyncio.create_task(publisher.publish([first]))]
        await asyncio.sleep(0.2)  # `first` is in flight, held by the stall
        sending.append(asyncio.create_task(publisher.publish([second])))
        await asyncio.sleep(0.05)
        sending.append(asyncio.create_task(publisher.publish([third])))  # the buffer is full
        await asyncio.sleep(0.05)
        proxy.flow()
        await asyncio.gather(*sending)
        heartbeats = asyncio.create_task(publisher.run())
        await asyncio.to_thread(wait_until, lambda: len(set(viewer.seqs)) == 3, 5)
        heartbeats.cancel()
        done.set()
        await watching
        return [*first.seqs, *second.seqs, *third.seqs]

    try:
        seqs = asyncio.run(scenario())
    finally:
        proxy.close()
        channel_layers.backends.clear()
    assert sorted(viewer.seqs) == seqs  # every post, once
    assert publisher.dropped == dropped  # `second` at most, never `first` while it was being sent


async def test_review_batches_go_to_the_moderators_group_and_leave_the_seq_bookkeeping_alone(settings):
    use_layer(settings, IN_MEMORY)
    publisher = Publisher()
    publisher.start_from({"python": 10})
    layer, viewers = await listen()
    moderators = await layer.new_channel()
    await layer.group_add("moderate.python", moderators)
    review = TopicBatch("python", "review", (), items=('{"post_id":7,"state":"pending"}',))
    await publisher.publish([batch(11), review, batch(12)])
    first, second = await layer.receive(viewers), await layer.receive(viewers)
    assert [(m["kind"], m["seqs"], m["prev_seq"]) for m in (first, second)] == [
        ("tweets", [11], 10),
        ("tweets", [12], 11),
    ]
    assert await layer.receive(moderators) == {
        "type": "moderate.posts",
        "topic": "python",
        "mod": None,
        "items": ['{"post_id":7,"state":"pending"}'],
    }
    channel_layers.backends.clear()
