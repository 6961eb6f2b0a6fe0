"""One worker, several networks: each source gets the rules of the topics that follow its network,
and every source's posts go down the same store-and-publish path."""

import asyncio
from dataclasses import replace

import pytest
from channels.layers import channel_layers

from feed.models import Topic, TopicPost, Tweet
from feed.normalize import normalize
from streamer.sources import PostEdited, PostRemoved
from streamer.worker import StreamWorker

from payloads import x_message

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingSource:
    """Delivers its posts once its rules are synced, and records the topics it was given."""

    def __init__(self, name: str, network: str, posts: list, state: tuple[str, str] | None = None) -> None:
        self.name, self.network, self.posts, self.state = name, network, posts, state
        self.topics: list[str] = []
        self.synced, self.delivered = asyncio.Event(), asyncio.Event()

    async def sync_rules(self, topics):
        self.topics = [topic.slug for topic in topics]
        self.synced.set()
        return []

    async def stream(self, deliver, on_state) -> None:
        if self.state is not None:
            on_state(*self.state)
        await self.synced.wait()
        for post in self.posts:
            await deliver(post)
        self.delivered.set()
        await asyncio.Event().wait()


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_each_source_gets_its_networks_topics_and_all_posts_are_stored(transactional_db):
    await Topic.objects.acreate(name="X only", slug="on-x", query="python", networks=["x"])
    await Topic.objects.acreate(name="Both", slug="both", query="python", networks=["x", "bluesky"])
    await Topic.objects.acreate(name="Sky", slug="sky", query="python", networks=["bluesky"])
    from_x = x_message("python on x", tags=["on-x", "both"])
    # A source for a network without X's payloads delivers posts it normalised and matched itself.
    from_sky = replace(
        normalize(x_message("python on bluesky", tags=["both", "sky"])),
        source="bluesky",
        network_id="at://did:plc:abc/app.bsky.feed.post/3kabc",
    )
    x, sky = RecordingSource("x", "x", [from_x]), RecordingSource("bluesky", "bluesky", [from_sky])
    worker = StreamWorker([x, sky])
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(asyncio.gather(x.delivered.wait(), sky.delivered.wait()), 5)
    task.cancel()
    await asyncio.wait([task], timeout=15)
    assert (x.topics, sky.topics) == (["both", "on-x"], ["both", "sky"])
    stored = [(t.source, t.text) async for t in Tweet.objects.order_by("source")]
    assert stored == [("bluesky", "python on bluesky"), ("x", "python on x")]
    assert worker.stored == 4  # a post per topic it matched


async def test_a_post_deleted_on_its_network_leaves_every_topic_and_an_edit_is_stored(transactional_db):
    await Topic.objects.acreate(name="Sky", slug="sky", query="python", networks=["bluesky"])
    uri = "at://did:plc:abc/app.bsky.feed.post/3kabc"
    first = replace(normalize(x_message("python v1", tags=["sky"])), source="bluesky", network_id=uri)
    other = replace(first, network_id=uri + "z", text="python stays")
    edited = PostEdited(replace(other, text="python stays, edited"))
    sky = RecordingSource("bluesky", "bluesky", [first, other, PostRemoved("bluesky", uri), edited])
    worker = StreamWorker([sky])
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(sky.delivered.wait(), 5)
    await asyncio.sleep(0.5)  # the store step runs beside the source
    task.cancel()
    await asyncio.wait([task], timeout=15)
    states = {p.tweet.text: p.state async for p in TopicPost.objects.select_related("tweet")}
    assert states == {"python v1": "hidden", "python stays, edited": "visible"}


async def test_a_topics_status_names_each_networks_source_and_a_network_nobody_follows(transactional_db):
    await Topic.objects.acreate(name="Both", slug="both", query="python", networks=["x", "bluesky"])
    x = RecordingSource("x", "x", [], state=("connected", "stream open"))
    worker = StreamWorker([x], topic_poll_s=0.05)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(x.delivered.wait(), 5)
    await asyncio.sleep(0.5)  # a topic poll or two
    task.cancel()
    await asyncio.wait([task], timeout=15)
    rows = (await Topic.objects.aget(slug="both")).network_status
    assert [(row["source"], row["state"]) for row in rows] == [("x", "connected"), ("bluesky", "none")]
    assert "BLUESKY_ENABLED" in rows[1]["detail"]
