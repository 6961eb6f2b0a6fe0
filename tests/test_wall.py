"""A topic's wall settings: stored, sent to open walls as a frame, and read with the topic's status by
a wall that missed it; the logo is a small PNG, JPEG or WebP, checked by its bytes."""

import base64
import time

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from feed.models import Topic, WallSettings

from in_process import connect, receive

pytestmark = [pytest.mark.django_db(transaction=True)]

# A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python")


def _change_form(topic: Topic, **wall) -> dict:
    """The topic's admin form, with the wall inline filled in as `wall` says."""
    fields = {
        "theme": "dark",
        "brand_colour": "",
        "columns": "1",
        "font_scale": "1.00",
        "spotlight_interval_s": "8",
        "spotlight_count": "10",
        "show_media": "on",
        "show_quotes": "on",
        "show_reposts": "on",
        **wall,
    }
    existing = WallSettings.objects.filter(topic=topic).exists()
    data = {
        "name": topic.name,
        "query": topic.query,
        "is_active": "on",
        "moderation": "open",
        "networks": ["x"],
        "wall-TOTAL_FORMS": "1",
        "wall-INITIAL_FORMS": "1" if existing else "0",
        "wall-0-topic": str(topic.pk),
        **{f"wall-0-{name}": value for name, value in fields.items() if value is not None},
    }
    return {key: value for key, value in data.items() if value != "off"}


def _save(client, topic: Topic, **wall):
    return client.post(reverse("admin:feed_topic_change", args=[topic.pk]), _change_form(topic, **wall))


@pytest.mark.usefixtures("channel_layer")
async def test_a_settings_change_in_the_admin_reaches_an_open_wall(topic, admin_client):
    wall = await connect("python")
    await receive(wall)  # history
    response = await sync_to_async(_save)(admin_client, topic, columns="3", spotlight="on", show_media="off")
    assert response.status_code == 302
    frame = await receive(wall)
    assert frame["type"] == "wall"
    assert (frame["wall"]["columns"], frame["wall"]["spotlight"], frame["wall"]["show_media"]) == (
        3,
        True,
        False,
    )
    await wall.disconnect()


def test_a_wall_that_missed_the_frame_reads_the_settings_with_the_status(topic, admin_client, client):
    before = client.get(f"/api/topics/{topic.slug}/status/").json()["wall"]
    assert (before["columns"], before["spotlight"], before["theme"]) == (1, False, "dark")
    _save(admin_client, topic, theme="brand", brand_colour="#3b5bdb", font_scale="1.50")
    after = client.get(f"/api/topics/{topic.slug}/status/").json()["wall"]
    assert (after["theme"], after["brand_colour"], after["font_scale"]) == ("brand", "#3b5bdb", 1.5)
    assert after["version"] > before["version"]


@pytest.mark.parametrize(
    ("wall", "error"),
    [
        ({"columns": "5"}, "less than or equal to 4"),
        ({"font_scale": "0.10"}, "greater than or equal to 0.60"),
        ({"brand_colour": "red; background:url(x)"}, "#rrggbb"),
        ({"spotlight_interval_s": "1"}, "greater than or equal to 3"),
    ],
)
def test_settings_out_of_range_are_refused_with_the_reason(topic, admin_client, wall, error):
    response = _save(admin_client, topic, **wall)
    assert response.status_code == 200 and error in response.content.decode()
    assert not WallSettings.objects.exists()


def test_a_logo_is_served_as_the_image_its_bytes_say_and_an_svg_is_refused(
    topic, admin_client, client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    refused = _save(admin_client, topic, logo=SimpleUploadedFile("logo.png", SVG, content_type="image/png"))
    assert "must be a PNG, JPEG or WebP" in refused.content.decode()
    _save(admin_client, topic, logo=SimpleUploadedFile("logo.svg", PNG, content_type="image/svg+xml"))
    logo_url = client.get(f"/api/topics/{topic.slug}/status/").json()["wall"]["logo_url"]
    logo = client.get(logo_url)
    assert (logo.status_code, logo["Content-Type"], logo.content) == (200, "image/png", PNG)


def test_a_wall_without_a_logo_has_none_to_serve(topic, client):
    assert client.get(reverse("topic-logo", args=[topic.slug])).status_code == 404


def test_the_server_clock_is_given_in_milliseconds(client):
    assert abs(client.get("/api/time/").json()["now"] - time.time() * 1000) < 5_000
