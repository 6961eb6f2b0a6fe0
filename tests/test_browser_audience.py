"""The audience's way in, in Chromium against a real uvicorn: the wall's QR code decodes (zxing-cpp,
from a screenshot) to the topic page's URL; the posts-per-minute counter starts from the server's
count, goes up as posts arrive, down as they age, and is right again after a reconnect; the home
page's sparklines follow new posts; and the embed is framed by the listed origin only."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from feed.models import Topic, TopicPost
from feed.publishing import publish_batches_sync

from browser_pages import VIEWPORT, new_page
from payloads import ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _topic(slug: str, query: str, **fields) -> None:
    Topic.objects.create(name=f"{slug.title()} Live", slug=slug, query=query, **fields)


def _aged(texts: list[str], slug: str, seconds: float) -> None:
    ingest(*texts, tags=[slug])
    arrived = datetime.now(UTC) - timedelta(seconds=seconds)
    TopicPost.objects.filter(topic__slug=slug, tweet__text__in=texts).update(created_at=arrived)


def _post(texts: list[str], slug: str) -> None:
    publish_batches_sync(ingest(*texts, tags=[slug]))


def _decode(page: Page, selector: str, tries: int = 10) -> list[str]:
    """The QR codes a camera would read in the element: its pixels, as the screen shows them. Like a
    phone, it looks again for a moment: a frame taken while the header still settles (fonts, the
    theme) can cut the code."""
    for _ in range(tries):
        picture = Image.open(io.BytesIO(page.locator(selector).screenshot()))
        if texts := [barcode.text for barcode in zxingcpp.read_barcodes(picture)]:
            return texts
        page.wait_for_timeout(300)
    return []


def test_the_walls_qr_code_decodes_to_the_topic_pages_url(browser, orm, start_server) -> None:
    orm(_topic, "pycon", "#PyCon OR (#PyConUS -#spam) python")
    server = start_server("uvicorn")
    wall = new_page(browser)
    wall.goto(f"{server.url}/topics/pycon/wall/")
    expect(wall.locator("h1")).to_have_text("Pycon Live")
    expect(wall.locator(".audience__tag")).to_have_text(["#PyCon", "#PyConUS"])
    qr = wall.locator(".audience__qr svg")
    expect(qr).to_be_visible()
    assert qr.bounding_box()["width"] >= 96
    assert _decode(wall, ".audience__qr svg") == [f"{server.url}/topics/pycon/"]
    wall.locator("[data-theme-toggle]").click()  # on the light theme too
    assert _decode(wall, ".audience__qr svg") == [f"{server.url}/topics/pycon/"]
    assert wall.csp_violations == []  # type: ignore[attr-defined]


def test_the_counter_starts_from_the_server_and_follows_arrivals_ageing_and_reconnects(
    browser, orm, start_server, servers_layer
) -> None:
    orm(_topic, "rate", "rate")
    orm(_aged, ["early 1", "early 2"], "rate", 48)  # out of the minute about 12 s from now
    orm(_aged, ["recent"], "rate", 2)
    orm(_aged, ["too old"], "rate", 75)
    server = start_server("uvicorn")
    wall, page = new_page(browser), new_page(browser)
    wall.goto(f"{server.url}/topics/rate/wall/")
    page.goto(f"{server.url}/topics/rate/")
    counters = [screen.locator("[data-rate-value]") for screen in (wall, page)]
    for counter in counters:  # the server's count, before any post arrives
        expect(counter).to_have_text("3")
    for screen in (wall, page):
        expect(screen.locator("#feed-status")).to_have_attribute("data-state", "live")

    orm(_post, ["new 1", "new 2"], "rate")
    for counter in counters:
        expect(counter).to_have_text("5", timeout=3_000)
    for counter in counters:  # "early" leaves the minute, with no frame to say so
        expect(counter).to_have_text("3", timeout=20_000)

    # Away while a post arrived, nearly a minute ago: the page learns when from the server (it came
    # in the history only now), so the post counts only until it is a minute old, and once.
    status = wall.locator("#feed-status")
    server.stop()
    expect(status).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
    orm(_aged, ["while away"], "rate", 57)
    server.start()
    expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    expect(wall.locator("#feed .tweet__text", has_text="while away")).to_have_count(1)
    expect(counters[0]).to_have_text("3", timeout=5_000)  # recent, new 1 and new 2
    wall.wait_for_timeout(2_000)
    expect(counters[0]).to_have_text("3")
    assert wall.csp_violations == [] and page.csp_violations == []  # type: ignore[attr-defined]


def test_the_home_pages_sparklines_follow_new_posts(browser, orm, start_server) -> None:
    orm(_topic, "spark", "spark")
    orm(_topic, "quiet", "quiet")
    orm(_aged, ["ten minutes ago"], "spark", 600)
    server = start_server("uvicorn")
    home = new_page(browser)
    home.goto(f"{server.url}/")
    spark = home.locator(".topic-card[data-slug='spark'] [data-sparkline]")
    expect(spark).to_have_attribute("aria-label", "1 post in the last hour; 0 this minute")
    line = spark.locator("[data-sparkline-line]")
    before = line.get_attribute("points")
    assert before.split()[-11].endswith(",2.0")  # ten minutes ago: the peak

    orm(ingest, "now 1", "now 2", tags=["spark"])
    expect(spark).to_have_attribute("aria-label", re.compile(r"^3 posts in the last hour"), timeout=10_000)
    after = line.get_attribute("points")
    assert after != before
    quiet = home.locator(".topic-card[data-slug='quiet'] [data-sparkline]")
    expect(quiet).to_have_attribute("aria-label", "0 posts in the last hour; 0 this minute")
    assert home.csp_violations == []  # type: ignore[attr-defined]


EMBEDDER = "https://conference.example"
STRANGER = "https://stranger.example"


def _framing_page(browser, server_url: str) -> Page:
    """A context where the listed origin and a stranger each serve a page that frames `?src=`; the
    server's own headers reach Chromium unchanged."""
    context = browser.new_context(viewport=VIEWPORT, permissions=["local-network-access"])

    def serve(route) -> None:
        src = route.request.url.partition("?src=")[2]
        frame = f'<iframe src="{server_url}{src}" width="900" height="600"></iframe>'
        body = f"<!doctype html><title>A conference's site</title>{frame}"
        route.fulfill(status=200, content_type="text/html", body=body)

    context.route(re.compile(r"^https://(conference|stranger)\.example/"), serve)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def _framed(page: Page, url: str) -> bool:
    """Whether the iframe on `url` shows our page (Chromium shows an error page in a refused frame)."""
    page.goto(url)
    page.wait_for_load_state("load")
    frame = page.frames[1]
    return frame.url.startswith("http://127.0.0.1") and frame.locator("h1").count() == 1


def test_the_embed_is_framed_by_the_listed_origin_only(browser, orm, start_server) -> None:
    orm(_topic, "pycon", "#PyCon", embed_origins=[EMBEDDER])
    server = start_server("uvicorn")
    page = _framing_page(browser, server.url)
    assert _framed(page, f"{EMBEDDER}/?src=/topics/pycon/embed/")
    embed = page.frames[1]
    expect(embed.locator("h1")).to_have_text("Pycon Live")
    expect(embed.locator("#feed-status")).to_have_attribute("data-state", "live")
    expect(embed.locator(".audience__qr svg")).to_be_visible()
    assert not _framed(page, f"{STRANGER}/?src=/topics/pycon/embed/")
    assert not _framed(page, f"{EMBEDDER}/?src=/topics/pycon/wall/")
    assert not _framed(page, f"{EMBEDDER}/?src=/topics/pycon/")
