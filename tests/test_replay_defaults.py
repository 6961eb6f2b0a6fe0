"""Which source follows each network: live where it is configured, its replay in development where
it is not (so `make run` is a mixed wall offline), and a replay in production only when named."""

import asyncio
import io
import subprocess
import sys
import time

import pytest
from channels.layers import channel_layers
from django.core.management import call_command

from feed.models import Topic, Tweet
from mastodonemulator import MastodonEmulator
from streamer import embedded
from streamer.build import SourceConfigError, build_sources, mastodon_follower
from streamer.embedded import EmbeddedWorkerMiddleware
from streamer.models import MastodonInstance
from streamer.sources.bluesky import PUBLIC_JETSTREAM_URL

from conftest import ROOT, wait_until

TOKEN = "user-token"


def names(sources) -> list[str]:
    return [source.name for source in sources]


@pytest.fixture
def unconfigured(settings):
    """Development with nothing set up: no X token, no Jetstream, no Mastodon instance."""
    settings.DEBUG, settings.X_BEARER_TOKEN, settings.BLUESKY_JETSTREAM_URL = True, "", ""
    settings.BLUESKY_ENABLED = True
    return settings


@pytest.mark.django_db
def test_development_replays_every_network_that_is_not_configured(unconfigured):
    assert names(build_sources()) == ["replay", "replay:bluesky", "replay:mastodon"]


@pytest.mark.django_db
def test_development_follows_each_network_that_is_configured(unconfigured):
    unconfigured.X_BEARER_TOKEN = "token"
    unconfigured.BLUESKY_JETSTREAM_URL = "ws://127.0.0.1:6008/subscribe"
    MastodonInstance.objects.create(base_url="https://fosstodon.org")
    sources = build_sources()
    assert names(sources) == ["x", "bluesky", "mastodon:fosstodon.org"]
    assert sources[1].jetstream_url == "ws://127.0.0.1:6008/subscribe"


@pytest.mark.django_db
def test_production_never_replays_unless_a_replay_is_named(settings):
    settings.DEBUG, settings.X_BEARER_TOKEN, settings.BLUESKY_JETSTREAM_URL = False, "token", ""
    sources = build_sources()
    assert names(sources) == ["x", "bluesky"]  # no Mastodon instance: no Mastodon, and no replay
    assert sources[1].jetstream_url == PUBLIC_JETSTREAM_URL
    settings.X_BEARER_TOKEN = ""
    with pytest.raises(SourceConfigError, match="--source replay"):
        build_sources()
    named = ["replay", "replay:bluesky", "replay:mastodon"]
    assert names(build_sources(names=named)) == named


@pytest.mark.django_db
def test_switching_bluesky_off_leaves_out_its_replay_too(unconfigured):
    unconfigured.BLUESKY_ENABLED = False
    assert names(build_sources()) == ["replay", "replay:mastodon"]


@pytest.mark.parametrize(
    "named", [["x", "replay"], ["bluesky", "replay:bluesky"], ["mastodon", "replay:mastodon"]]
)
def test_a_network_named_live_and_replayed_is_refused(settings, named):
    settings.X_BEARER_TOKEN = "token"
    with pytest.raises(SourceConfigError, match="both stand for"):
        build_sources(names=named, mastodon=False)


@pytest.mark.django_db
def test_the_mastodon_replay_gives_way_to_an_instance_added_in_the_admin(unconfigured):
    follower = mastodon_follower()
    replay = follower()
    assert names(replay) == ["replay:mastodon"]
    assert follower()[0] is replay[0]  # the same source each time: the worker keeps it running
    row = MastodonInstance.objects.create(base_url="https://fosstodon.org")
    assert names(follower()) == ["mastodon:fosstodon.org"]
    row.is_active = False
    row.save()
    assert follower() == replay


def test_named_sources_follow_mastodon_only_when_named(settings):
    settings.DEBUG = True
    assert mastodon_follower(names=["replay"]) is None
    assert mastodon_follower(names=["mastodon"]).__name__ == "mastodon_sources"  # no replay then


@pytest.mark.django_db(transaction=True)
async def test_the_embedded_worker_follows_a_mastodon_instance_added_in_the_admin(unconfigured, monkeypatch):
    unconfigured.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    monkeypatch.setattr("streamer.worker.SOURCES_POLL_S", 0.1)
    workers, build_worker = [], embedded.build_worker

    def recorded_build_worker():
        workers.append(build_worker())
        return workers[-1]

    monkeypatch.setattr(embedded, "build_worker", recorded_build_worker)
    await Topic.objects.acreate(name="Cats", slug="cats", query="#cats OR #pycon", networks=["mastodon"])

    async def app(scope, receive, send) -> None:
        pass

    middleware = EmbeddedWorkerMiddleware(app)
    with MastodonEmulator(domain="a.example", tokens={TOKEN: "read"}) as masto:
        masto.add_account("alice", display_name="Alice")
        await middleware({"type": "http"}, None, None)  # the first request starts the worker
        try:
            # Without an instance, the Mastodon replay stands in ...
            await _eventually(lambda: Tweet.objects.filter(source="mastodon").aexists())
            await MastodonInstance.objects.acreate(base_url=masto.base_url, access_token=TOKEN)
            # ... and an instance added in the admin is followed, the replay stopped.
            assert await masto.wait_subscribed_async(1)
            masto.emit("a cat at the conference #cats", account="alice")
            await _eventually(lambda: Tweet.objects.filter(text__startswith="a cat at").aexists())
            assert "replay:mastodon" not in names(workers[0].sources)
            assert f"mastodon:{masto.base_url.split('//')[1]}" in names(workers[0].sources)
        finally:
            middleware._task.cancel()
            await asyncio.wait([middleware._task], timeout=15)
    channel_layers.backends.clear()


async def _eventually(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.django_db
def test_demo_topics_follow_every_network_and_an_untouched_old_one_moves_over(settings):
    settings.DEBUG = True
    Topic.objects.create(name="Python", slug="python", query='python OR #python OR asyncio OR "async web"')
    Topic.objects.create(name="Django", slug="django", query="django OR #djangocon")  # changed by an admin
    call_command("demo_setup", stdout=io.StringIO())
    networks = dict(Topic.objects.values_list("slug", "networks"))
    assert networks == {"python": ["x", "bluesky", "mastodon"], "django": ["x"]}
    Topic.objects.all().delete()
    call_command("demo_setup", stdout=io.StringIO())
    assert {tuple(n) for n in Topic.objects.values_list("networks", flat=True)} == {
        ("x", "bluesky", "mastodon")
    }


@pytest.mark.django_db(transaction=True)
def test_the_stream_command_replays_bluesky_and_mastodon_in_production_when_named(start_worker):
    Topic.objects.create(name="PyCon", slug="pycon", query="#pycon", networks=["bluesky", "mastodon"])
    worker = start_worker("--source", "replay:bluesky", "--source", "replay:mastodon", "--rate", "50")

    def stored(source: str) -> int:
        return Tweet.objects.filter(source=source, topics__slug="pycon").count()

    assert wait_until(lambda: stored("bluesky") >= 5 and stored("mastodon") >= 5, 30), worker.output()


def test_the_stream_command_refuses_a_network_named_live_and_replayed(process_env):
    result = subprocess.run(
        [sys.executable, "manage.py", "stream", "--source", "bluesky", "--source", "replay:bluesky"],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "bluesky and replay:bluesky both stand for Bluesky" in result.stderr
