"""A real database outage, as the worker process sees it: its path to PostgreSQL cut, then restored.

The worker reaches the test database through a TCP proxy; the web process and the test reach it
directly, as a web process on another host still would when the worker's network fails.
"""

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from feed.models import Topic, TopicPost, Tweet
from streamer.status import worker_status_get

from conftest import wait_until
from live_viewer import Viewer, emit
from tcp_proxy import TcpProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]

# Small, so an outage of seconds fills the queue; the default would take minutes of posts.
QUEUE_CAP = 5
# Posts emitted once the first one is stuck in flight: the cap's worth wait, the rest are shed.
DURING = QUEUE_CAP + 3
# psycopg's pool retries a lost connection 1, 3, 7, 15, 31, 63 s after it failed (±10%), until it gives
# up: past 40 s its next try is 17 s or more away, longer than a request waits for a connection (10 s).
LONG_OUTAGE_S = 40


@pytest.fixture
def database_path(transactional_db):
    proxy = TcpProxy(int(settings.DATABASES["default"].get("PORT") or 5432))
    yield proxy
    proxy.close()


def proxied_url(proxy: TcpProxy) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db.get('USER') or 'postgres'}@127.0.0.1:{proxy.port}/{db['NAME']}"


@pytest.fixture
def outage_stack(x_emulator, start_worker, start_server, database_path):
    """A worker on the proxied path (queue cap QUEUE_CAP), and a web process on the direct one."""
    Topic.objects.create(name="Python", slug="python", query="python")
    worker = start_worker(
        "--source",
        "x",
        X_BEARER_TOKEN=x_emulator.token,
        X_API_BASE_URL=x_emulator.base_url,
        DATABASE_URL=proxied_url(database_path),
        STREAM_QUEUE_MAX_POSTS=str(QUEUE_CAP),
    )
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    return worker, start_server("uvicorn")


def health(server, session: str = "") -> dict:
    request = urllib.request.Request(f"{server.url}/healthz", headers={"Cookie": f"sessionid={session}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def staff_session(client, admin_user) -> str:
    # The web process shares the test's database and secret key, so this session is valid there.
    client.force_login(admin_user)
    return client.cookies["sessionid"].value


def test_a_database_outage_keeps_the_capped_posts_sheds_the_rest_and_the_worker_recovers(
    outage_stack, x_emulator, database_path, client, admin_user
):
    worker, server = outage_stack
    staff = staff_session(client, admin_user)
    emit(x_emulator, "python before")
    assert wait_until(lambda: Tweet.objects.count() == 1, 10)
    assert wait_until(lambda: health(server) == {"status": "ok"}, 10)

    database_path.cut()
    emit(x_emulator, "python during 0")  # taken off the queue at once: the batch in flight
    # Each try waits for the pool's timeout (10 s) before it fails.
    assert wait_until(lambda: "storing 1 tweets failed" in worker.output(), 30)
    emit(x_emulator, *[f"python during {n}" for n in range(1, DURING + 1)])
    x_emulator.emit_raw(b"not json: a marker")  # lines are handled in order: all before it were taken
    assert wait_until(lambda: "line is not JSON" in worker.output(), 10)

    # The worker cannot save its heartbeat either; once it is stale, the web says so.
    assert wait_until(lambda: health(server) == {"status": "unhealthy"}, 30)
    assert health(server, staff)["failing"] == ["worker"]

    database_path.restore()
    kept = ["python before", "python during 0", *[f"python during {n}" for n in range(1, QUEUE_CAP + 1)]]
    assert wait_until(lambda: Tweet.objects.count() == len(kept), 60)
    assert sorted(Tweet.objects.values_list("text", flat=True)) == sorted(kept)
    shed = DURING - QUEUE_CAP
    assert wait_until(lambda: worker_status_get().shed == shed, 30)  # its next status save
    log = worker.output()
    assert log.count("shedding new posts") == 1
    assert f"shedding stopped; {shed} posts were lost" in log

    # Recovered by itself: a new post is stored and reaches an open page; the health is ok again.
    viewer, done = Viewer(), asyncio.Event()

    async def watch_a_new_post() -> None:
        watching = asyncio.create_task(viewer.watch(f"{server.ws_url}/ws/topics/python/", server.url, done))
        await asyncio.wait_for(viewer.attached.wait(), 10)
        seen = len(viewer.seqs)
        await asyncio.to_thread(emit, x_emulator, "python after")
        await asyncio.to_thread(wait_until, lambda: len(viewer.seqs) > seen, 10)
        done.set()
        await watching

    asyncio.run(watch_a_new_post())
    assert viewer.seqs[-1] == TopicPost.objects.get(tweet__text="python after").pk
    assert wait_until(lambda: health(server) == {"status": "ok"}, 10)
    assert health(server, staff)["failing"] == []


def health_code(server) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_web_process_answers_as_soon_as_its_database_is_back_after_a_long_outage(
    start_server, database_path
):
    # The pool used to keep backing off after the database was back (a minute or more); it now gives
    # up trying after a few seconds, and the next request tries afresh (tweetsite/settings.py).
    server = start_server("uvicorn", DATABASE_URL=proxied_url(database_path))
    assert health_code(server) == 200
    database_path.cut()
    ends = time.monotonic() + LONG_OUTAGE_S
    while time.monotonic() < ends:  # requests come in all along, as a load balancer's checks do
        assert health_code(server) == 503
    database_path.restore()
    assert health_code(server) == 200
