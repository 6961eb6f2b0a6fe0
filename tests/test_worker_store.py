"""One post never stops the stream: the worker's deliver → store → publish path, in this process.

A list source delivers stream lines as X would; the worker runs for real on the test database and the
in-memory channel layer, and each test checks what was stored and what viewers were sent.
"""

import asyncio
import json
import logging
import re

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.db import connection

from feed.models import Topic, Tweet
from feed.rendering import tweet_html
from streamer.models import QuarantinedPost
from streamer.status import worker_status_get
from streamer.worker import StreamWorker

from payloads import x_message

pytestmark = pytest.mark.django_db(transaction=True)


class ListSource:
    """Delivers `lines` at once, then stays open, as X does between posts."""

    name = "list"
    network = "x"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.delivered = asyncio.Event()

    async def sync_rules(self, topics) -> None:
        pass

    async def stream(self, deliver, on_state) -> None:
        on_state("streaming", "")
        for line in self.lines:
            await deliver(line)
        self.delivered.set()
        await asyncio.Event().wait()


@pytest.fixture(autouse=True)
def topic(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield Topic.objects.create(name="Python", slug="python", query="python")
    channel_layers.backends.clear()


async def run_worker(lines: list[str]) -> tuple[StreamWorker, list[str]]:
    """Deliver `lines`, stop the worker as SIGTERM does (it stores and publishes all it holds), and
    return it with the texts viewers of the topic were sent, in order."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("topic.python", channel)
    source = ListSource(lines)
    worker = StreamWorker(source)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(source.delivered.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=15)
    assert done, "the worker did not finish storing what it received"
    sent = []
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(channel), 0.2)
        except TimeoutError:
            return worker, sent
        sent += [json.loads(item)["text"] for item in message["items"]]


def line(text: str, **data) -> str:
    message = x_message(text, tags=["python"])
    message["data"].update(data)
    return json.dumps(message)  # ensure_ascii: a lone surrogate goes out as "\ud800", as X could send it


def stored_texts() -> list[str]:
    return list(Tweet.objects.order_by("pk").values_list("text", flat=True))


async def around(poison: str) -> tuple[StreamWorker, list[str]]:
    return await run_worker([line("python before"), poison, line("python after")])


@pytest.mark.parametrize(
    ("text", "stored"),
    [("python \ud800 lone", "python \ufffd lone"), ("python \x00 nul", "python  nul")],
    ids=["lone-surrogate", "nul"],
)
async def test_a_text_the_database_cannot_hold_is_cleaned_and_the_stream_goes_on(text, stored):
    _, sent = await around(line(text))
    assert sent == ["python before", stored, "python after"]
    assert await database_sync_to_async(stored_texts)() == sent


async def test_an_author_name_with_a_lone_surrogate_or_nul_is_cleaned():
    message = x_message("python named", tags=["python"])
    message["includes"]["users"][0].update(name="Al\ud83dice\x00", username="al\x00ice")
    _, sent = await around(json.dumps(message))
    assert sent == ["python before", "python named", "python after"]
    tweet = await database_sync_to_async(Tweet.objects.get)(text="python named")
    assert (tweet.author_name, tweet.author_username) == ("Al\ufffdice", "alice")


async def test_nul_and_lone_surrogates_inside_the_stored_payload_are_cleaned():
    poison = line(
        "python #py nested",
        entities={"hashtags": [{"start": 7, "end": 10, "tag": "py\x00"}]},
        note_tweet={"text": "long \ud800 form \x00"},
    )
    _, sent = await around(poison)
    assert sent == ["python before", "python #py nested", "python after"]
    tweet = await database_sync_to_async(Tweet.objects.get)(text="python #py nested")
    assert tweet.entities["hashtags"][0]["tag"] == "py"
    assert tweet.raw["data"]["note_tweet"] == {"text": "long \ufffd form "}


async def test_a_not_a_number_in_the_payload_is_stored_as_null():
    # json.loads accepts NaN, but neither PostgreSQL's jsonb nor SQLite's JSON does.
    poison = line("python nan").replace('"lang": "en"', '"lang": "en", "score": NaN')
    _, sent = await around(poison)
    assert sent == ["python before", "python nan", "python after"]
    tweet = await database_sync_to_async(Tweet.objects.get)(text="python nan")
    assert tweet.raw["data"]["score"] is None


async def test_entities_with_impossible_offsets_are_dropped():
    entities = {
        "hashtags": [
            {"start": -4, "end": 3, "tag": "py"},
            {"start": 7, "end": 10_000, "tag": "py"},
            {"start": 10, "end": 7, "tag": "py"},
            {"start": True, "end": 3, "tag": "py"},
            {"start": 7, "end": 10, "tag": "py"},
        ]
    }
    _, sent = await around(line("python #py offsets", entities=entities))
    assert sent == ["python before", "python #py offsets", "python after"]
    tweet = await database_sync_to_async(Tweet.objects.get)(text="python #py offsets")
    assert tweet.entities == {"hashtags": [{"start": 7, "end": 10, "tag": "py"}]}


async def test_an_id_with_a_trailing_newline_is_refused_with_its_reason(caplog):
    caplog.set_level(logging.WARNING, logger="streamer.worker")
    worker, sent = await around(line("python bad id", id="1862000000000000500\n"))
    assert sent == ["python before", "python after"]
    assert worker.rejected == 1
    assert "tweet id is not an X id" in caplog.text


def test_the_renderer_places_an_entity_with_negative_offsets_by_its_text():
    # Rows stored before offsets were checked: a negative offset used to slice from the end, and
    # the mention after it was written out twice.
    entities = {
        "hashtags": [{"start": -8, "end": -1, "tag": "python"}],
        "mentions": [{"start": 0, "end": 4, "username": "bob"}],
    }
    html = tweet_html("@bob #python!", entities)
    assert re.sub(r"<[^>]+>", "", html) == "@bob #python!"
    assert html.count("<a ") == 2


@pytest.fixture
def database_refuses_poison():
    """A row-level refusal that normalisation does not foresee, made by the database itself: a
    CHECK constraint on PostgreSQL, a trigger on SQLite. Both raise IntegrityError for a post whose
    text says "poison", as a new constraint or a server-side encoding rule would for a real post."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE feed_tweet ADD CONSTRAINT test_no_poison CHECK (text NOT LIKE '%poison%')"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_no_poison BEFORE INSERT ON feed_tweet WHEN NEW.text LIKE '%poison%' "
                "BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
            )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE feed_tweet DROP CONSTRAINT test_no_poison")
        else:
            cursor.execute("DROP TRIGGER test_no_poison")


async def test_a_post_the_database_refuses_is_quarantined_and_its_neighbours_go_through(
    database_refuses_poison, admin_client
):
    poison = x_message("python poison", tags=["python"], tweet_id="1862000000000000666")
    _, sent = await around(json.dumps(poison))
    assert sent == ["python before", "python after"]
    kept = await database_sync_to_async(QuarantinedPost.objects.get)()
    assert kept.x_id == "1862000000000000666"
    assert json.loads(kept.raw)["data"]["text"] == "python poison"
    assert "IntegrityError" in kept.error
    status = await database_sync_to_async(worker_status_get)()
    assert (status.quarantined, status.stored) == (1, 2)
    assert status.store_failing_since is None  # the database is there: only the post was at fault
    page = await database_sync_to_async(admin_client.get)("/admin/streamer/quarantinedpost/")
    assert b"1862000000000000666" in page.content


async def test_a_burst_past_the_queue_cap_is_shed_counted_and_logged_once(settings, caplog):
    caplog.set_level(logging.WARNING, logger="streamer.worker")
    settings.STREAM_QUEUE_MAX_POSTS = 3
    # The source delivers all eight before the store task runs once: five find the queue full.
    _, sent = await run_worker([line(f"python {n}") for n in range(8)])
    assert sent == ["python 0", "python 1", "python 2"]
    status = await database_sync_to_async(worker_status_get)()
    assert (status.shed, status.shedding) == (5, False)
    assert caplog.text.count("shedding new posts") == 1
    assert "Shed posts are lost" in caplog.text
    assert "shedding stopped; 5 posts were lost" in caplog.text
