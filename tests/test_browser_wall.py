"""The wall's settings and spotlight in Chromium: a change saved for the topic reaches an open wall
without a reload, and two screens in spotlight show the same post at the same moment."""

import time

import pytest
from playwright.sync_api import expect

from feed.models import Topic, WallSettings
from feed.publishing import publish_batches_sync
from feed.wall import topic_wall_settings, wall_batch

from browser_pages import new_page
from payloads import ingest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("servers_layer"),
]

TEXTS = [f"post {n} #wall" for n in range(1, 6)]


def _store() -> None:
    Topic.objects.create(name="Wall", slug="wall", query="#wall")
    ingest(*TEXTS, tags=["wall"])


def _change(**fields) -> None:
    """What the admin's save does: store the settings, then tell open walls."""
    topic = Topic.objects.get(slug="wall")
    settings, _ = WallSettings.objects.get_or_create(topic=topic)
    for name, value in fields.items():
        setattr(settings, name, value)
    settings.save()
    publish_batches_sync([wall_batch(topic_wall_settings(topic=topic))])


def test_a_settings_change_reaches_an_open_wall_without_a_reload(browser, orm, start_server) -> None:
    orm(_store)
    server = start_server("uvicorn")
    wall = new_page(browser)
    wall.goto(f"{server.url}/topics/wall/wall/")
    root = wall.locator("[data-live-feed]")
    expect(wall.locator("#feed .tweet")).to_have_count(5)
    expect(root).to_have_attribute("data-columns", "1")
    wall.evaluate("window.notReloaded = true")
    orm(_change, columns=3, theme="brand", brand_colour="#ffd43b", show_quotes=False)
    expect(root).to_have_attribute("data-columns", "3", timeout=3_000)
    columns = wall.eval_on_selector(
        "#feed", "feed => getComputedStyle(feed).gridTemplateColumns.split(' ').length"
    )
    assert columns == 3
    expect(root).to_have_class("live-feed layout-wall wall--no-quotes")
    expect(wall.locator("html")).to_have_attribute("data-brand", "on")
    header = wall.eval_on_selector(".wall-head", "h => getComputedStyle(h).backgroundColor")
    assert header == "rgb(255, 212, 59)"
    assert wall.evaluate("window.notReloaded") is True
    assert wall.csp_violations == []  # type: ignore[attr-defined]


def test_two_screens_in_spotlight_show_the_same_post_at_the_same_moment(browser, orm, start_server) -> None:
    orm(_store)
    orm(_change, spotlight=True, spotlight_interval_s=3, spotlight_count=5)
    server = start_server("uvicorn")
    screens = [new_page(browser), new_page(browser)]
    # The second screen's clock is two minutes fast: the server's clock decides, not the browser's.
    screens[1].clock.install(time=time.time() + 120)
    for screen in screens:
        screen.goto(f"{server.url}/topics/wall/wall/")
        expect(screen.locator("[data-spotlight] .tweet--spotlight")).to_have_count(1)
        expect(screen.locator("#feed")).to_be_hidden()
    shown = set()
    for _ in range(4):
        seqs = [screen.locator("[data-spotlight]").get_attribute("data-seq") for screen in screens]
        if seqs[0] != seqs[1]:  # read across a slot's edge: read again, inside the slot
            time.sleep(0.5)
            seqs = [screen.locator("[data-spotlight]").get_attribute("data-seq") for screen in screens]
        assert seqs[0] == seqs[1]
        shown.add(seqs[0])
        time.sleep(3)
    assert len(shown) >= 3  # it rotates
    # A new post jumps the queue: it is the next one shown, on both screens.
    orm(lambda: publish_batches_sync(ingest("brand new #wall", tags=["wall"])))
    for screen in screens:
        expect(screen.locator("[data-spotlight] .tweet__text")).to_have_text("brand new #wall", timeout=8_000)
