"""The worker's publisher: buffering while the channel layer is away, and gaps it cannot hide."""

import pytest
from channels.layers import channel_layers, get_channel_layer

from feed.services import TopicBatch
from streamer import publisher as publisher_module
from streamer.publisher import Publisher

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
