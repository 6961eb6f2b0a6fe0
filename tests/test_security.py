"""Nobody let in: production settings, CSP, CSRF, origins, client frames, connection limits."""

import subprocess
import sys
from html.parser import HTMLParser

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feed.models import Topic
from feed.rendering import tweet_html
from feed.security import CLOSE_TOO_MANY_CONNECTIONS, AttemptBuckets
from streamer.models import MastodonInstance
from tweetsite.asgi import application

from conftest import ROOT, SERVERS
from raw_client import RawClient

PRODUCTION_ENV = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SETTINGS_MODULE": "tweetsite.settings",
    "DJANGO_SECRET_KEY": "k" * 20 + "production-like-secret-with-enough-entropy-3f9a1c",
    "DJANGO_ALLOWED_HOSTS": "wall.example.org",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = [sys.executable, "manage.py", *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # Said outright, not only through check's warnings: staff sessions never travel over plain HTTP,
    # and logins are limited (5 failures, then 15 minutes) without any setting.
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    )
    shown = manage("shell", "-c", code, env=PRODUCTION_ENV).stdout.splitlines()[-1]
    assert shown == "True True 5 0:15:00"


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked_for():
    code = "from django.conf import settings; print(settings.DEBUG)"
    assert manage("shell", "-c", code, env=PRODUCTION_ENV).stdout.splitlines()[-1] == "False"


@pytest.mark.django_db
def test_pages_forbid_inline_scripts(client):
    Topic.objects.create(name="Python", slug="python", query="python")
    for url in ["/", "/topics/python/", "/topics/python/wall/"]:
        policy = client.get(url).headers["Content-Security-Policy"]
        script_src = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'self'" in script_src


@pytest.mark.django_db
def test_admin_login_needs_a_csrf_token(django_user_model):
    from django.test import Client

    django_user_model.objects.create_superuser("boss", password="pw")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("admin:login"), {"username": "boss", "password": "pw"})
    assert response.status_code == 403


# --- WebSockets ---------------------------------------------------------------------------------
ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture
def topic(transactional_db):
    return Topic.objects.create(name="Python", slug="python", query="python")


@pytest.mark.usefixtures("channel_layer")
async def test_an_oversized_client_frame_closes_the_socket(topic):
    communicator = WebsocketCommunicator(application, "/ws/topics/python/", headers=[ORIGIN])
    assert (await communicator.connect(timeout=3))[0]
    await communicator.receive_from(timeout=3)  # history
    await communicator.send_to(text_data="x" * 1_000_000)
    closed = await communicator.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4400}


async def test_connections_per_address_are_bounded(topic, settings):
    settings.WS_MAX_CONNECTIONS_PER_IP = 2
    sockets = []
    for _ in range(2):
        communicator = WebsocketCommunicator(application, "/ws/topics/python/", headers=[ORIGIN])
        assert (await communicator.connect(timeout=3))[0]
        sockets.append(communicator)
    extra = WebsocketCommunicator(application, "/ws/topics/python/", headers=[ORIGIN])
    await extra.connect(timeout=3)
    closed = await extra.receive_output(timeout=3)
    assert closed["code"] == CLOSE_TOO_MANY_CONNECTIONS
    assert "too many connections" in closed["reason"]
    await sockets[0].disconnect()
    again = WebsocketCommunicator(application, "/ws/topics/python/", headers=[ORIGIN])
    assert (await again.connect(timeout=3))[0]
    for communicator in [*sockets[1:], again]:
        await communicator.disconnect()


async def test_connection_attempts_past_the_burst_are_refused_with_a_reason(topic, settings):
    settings.WS_CONNECT_BURST_PER_IP = 3
    settings.WS_CONNECT_RATE_PER_IP = 0.001  # no token comes back during the test
    for _ in range(3):
        communicator = WebsocketCommunicator(application, "/ws/topics/python/", headers=[ORIGIN])
        assert (await communicator.connect(timeout=3))[0]
        await communicator.disconnect()  # not open at once: only the attempts add up
    extra = WebsocketCommunicator(application, "/ws/topics/python/", headers=[ORIGIN])
    await extra.connect(timeout=3)
    closed = await extra.receive_output(timeout=3)
    assert closed["code"] == CLOSE_TOO_MANY_CONNECTIONS
    assert "too many connection attempts" in closed["reason"]


def test_an_address_gets_attempts_back_at_the_rate():
    now = [0.0]
    buckets = AttemptBuckets(rate=2, burst=2, clock=lambda: now[0])
    assert [buckets.allow("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert buckets.allow("10.0.0.2")  # another address has its own bucket
    now[0] = 0.5  # one token back at 2 a second
    assert [buckets.allow("10.0.0.1") for _ in range(2)] == [True, False]


def test_addresses_that_go_quiet_are_forgotten():
    now = [0.0]
    buckets = AttemptBuckets(rate=10, burst=5, clock=lambda: now[0])
    for n in range(1000):
        buckets.allow(f"10.0.{n // 256}.{n % 256}")
    assert len(buckets) == 1000
    now[0] = 60.0  # every bucket has long refilled
    buckets.allow("10.9.9.9")
    assert len(buckets) == 1


# --- Rendering ----------------------------------------------------------------------------------
class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


SAFE_LINK_ATTRS = {"href", "target", "rel"}
hostile = st.text() | st.sampled_from(
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        '"><svg onload=alert(1)>',
        "javascript:alert(1)",
    ]
)
entity = st.fixed_dictionaries(
    {"start": st.integers(-5, 300), "end": st.integers(-5, 300)},
    optional={
        "tag": hostile,
        "username": hostile,
        "url": hostile,
        "expanded_url": hostile | st.just("javascript:alert(1)") | st.just("https://ok.example/?a=<b>"),
        "display_url": hostile,
    },
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    text=hostile,
    hashtags=st.lists(entity, max_size=4),
    mentions=st.lists(entity, max_size=4),
    urls=st.lists(entity, max_size=4),
)
def test_rendered_tweets_only_ever_contain_safe_links(text, hashtags, mentions, urls):
    html = tweet_html(text, {"hashtags": hashtags, "mentions": mentions, "urls": urls})
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.elements:
        assert tag == "a"
        assert set(attrs) <= SAFE_LINK_ATTRS
        assert attrs["href"].lower().startswith(("https://", "http://"))


def test_production_refuses_a_placeholder_secret_key():
    result = manage("check", env=dict(PRODUCTION_ENV, DJANGO_SECRET_KEY="change-me-to-a-long-random-string"))
    assert result.returncode != 0
    assert "placeholder" in result.stderr


@pytest.mark.parametrize("server_kind", SERVERS)
def test_the_servers_refuse_an_oversized_frame_unread(server_kind, transactional_db, start_server):
    Topic.objects.create(name="Python", slug="python", query="python")
    server = start_server(server_kind)
    client = RawClient(server.port, "/ws/topics/python/")
    frame = client.frame_bytes("x" * 1_000_000)
    # Only the header (2 bytes, the 64-bit length, the mask): the server must refuse on the announced
    # length alone. Writing the megabyte raced the server's close, which then surfaced in the write.
    client.write(frame[: 2 + 8 + 4])
    closed = client.read_until_closed()
    client.close()
    # Before any app code runs (which would close with 4400): uvicorn says 1009 "message too big";
    # Daphne (autobahn's failByDrop) drops the connection without a close frame.
    assert (closed.code if closed else None) == {"uvicorn": 1009, "daphne": None}[server_kind]


@pytest.mark.django_db
def test_images_load_only_from_the_networks_hosts_and_the_instances_the_worker_saw(client):
    MastodonInstance.objects.create(
        base_url="https://a.example", image_hosts=["https://files.a.example", "https://evil; script-src *"]
    )
    MastodonInstance.objects.create(
        base_url="https://off.example", is_active=False, image_hosts=["https://off.cdn"]
    )
    policy = client.get("/").headers["Content-Security-Policy"]
    img_src = next(part.split()[1:] for part in policy.split(";") if part.strip().startswith("img-src"))
    assert img_src == [
        "'self'",
        "data:",
        "https://pbs.twimg.com",
        "https://cdn.bsky.app",
        "https://video.bsky.app",
        "https://files.a.example",
    ]
    assert "script-src *" not in policy
