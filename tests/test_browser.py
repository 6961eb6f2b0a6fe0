"""The pages in Chromium against the real stack: uvicorn, the stream worker, Redis and the X emulator.

The test walks the live feed end to end (live delivery, hostile content, a server restart with a
catch-up through the API, the "new tweets" button, hides, the wall and the home page) and saves
screenshots; set UPDATE_SCREENSHOTS=1 to copy them to docs/. Every page is served under a strict
Content-Security-Policy (tests/browser_pages.py), and any violation fails the test. The connection
state machine has its own test (test_browser_reconnect.py).
"""

import os
import re
import shutil
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from feed.models import Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.publishing import publish_batches_sync

from browser_pages import feed_rows, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
expect.set_options(timeout=10_000)


def _db_rows(slug: str) -> list[tuple[int, str]]:
    posts = TopicPost.objects.filter(topic__slug=slug, state="visible").order_by("-pk")
    return list(posts.values_list("pk", "tweet__text"))


def _wait(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


SHOWCASE_AUTHORS = {  # username: (display name, avatar path: "" for none, "broken" for a 404)
    "priyaraman": ("Priya Raman", "a1"),
    "ahmedhassan_dev": ("Ahmed Hassan", ""),
    "chenwei_py": ("陈伟 Chen Wei", "broken"),
    "sarahoconnor": ("Sarah O'Connor", "a2"),
    "ruthcohen": ("Ruth Cohen", ""),
    "olena_dev": ("Olena Kovalenko 👩‍💻", "a3"),
    "marcusj": ("Marcus Johnson", ""),
    "sofiarossi": ("Sofia Rossi", "a4"),
    "samokafor": ("Sam Okafor", ""),
}
SHOWCASE = [  # (minutes ago, username, lang, text), oldest first
    (58, "priyaraman", "en", "Doors are open! ☕ Grab a coffee, the keynote starts in 20 minutes #PyCon"),
    (41, "ahmedhassan_dev", "ar", "أول مرة أحضر مؤتمر PyCon! الواي فاي بطيء جداً 😅 #بايثون"),
    (33, "chenwei_py", "zh", "Python 异步编程的演讲太棒了！🎉 #PyCon #asyncio"),
    (
        25,
        "sarahoconnor",
        "en",
        'Slides for my talk "Async views in Django 5" are up: https://speakerdeck.com/sarah/async-django '
        "Thanks to everyone who came to Track 3! #PyCon",
    ),
    (17, "ruthcohen", "he", "הרצאה מעולה על asyncio ב-Python! 🇮🇱 #PyCon"),
    (11, "olena_dev", "uk", "Перший день на PyCon! Доповідь про async Django — просто вогонь 🔥🐍"),
    (
        6,
        "marcusj",
        "en",
        "Free-threaded Python in the keynote looks wild 🤯 cc @priyaraman @sarahoconnor #PyCon",
    ),
    (3, "sofiarossi", "it", "Sprint room is packed 🚀 Chi viene a fare pair programming? #PyCon"),
    (
        1,
        "samokafor",
        "en",
        "Coffee queue is 31 people deep. Real async PyCon: everyone awaiting, nobody running ☕",
    ),
]


def _emit_showcase(x_emulator) -> list[str]:
    now = datetime.now(UTC)
    for minutes, username, lang, text in SHOWCASE:
        name, avatar = SHOWCASE_AUTHORS[username]
        author = {"id": str(zlib.crc32(username.encode())), "username": username, "name": name}
        if avatar:
            author["profile_image_url"] = (
                f"https://pbs.twimg.com/profile_images/{avatar}/{username}_normal.jpg"
            )
        created_at = now - timedelta(minutes=minutes, seconds=7)
        x_emulator.emit(text=text, author=author, created_at=created_at, lang=lang)
    return [text for *_, text in SHOWCASE]


def _save_screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    path = tmp_path / name
    page.screenshot(path=path)
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / name)


def test_live_feed_end_to_end(
    browser, orm, x_emulator, start_server, start_worker, servers_layer, tmp_path
) -> None:
    orm(Topic.objects.create, name="Wall test", slug="wall", query="wall")
    orm(Topic.objects.create, name="PyCon Live", slug="pycon", query="pycon")
    server = start_server("uvicorn")
    start_worker("--source", "x", X_BEARER_TOKEN=x_emulator.token, X_API_BASE_URL=x_emulator.base_url)
    _wait(lambda: {r.get("tag") for r in x_emulator.rules} >= {"wall", "pycon"}, what="rules synced")
    _wait(lambda: x_emulator.connected, what="the worker's stream")
    alice = {"id": "1001", "username": "alice", "name": "Alice"}

    page = new_page(browser)
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    catch_up_requests: list[str] = []
    page.on("request", lambda r: "/tweets/?before=" in r.url and catch_up_requests.append(r.url))
    home = new_page(browser)
    home.goto(server.url + "/")
    expect(home.locator(".topic-card")).to_have_count(2)

    # a. Live: the status goes live, and an emitted tweet shows within 2 s.
    page.goto(f"{server.url}/topics/wall/")
    status = page.locator("#feed-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(page.locator("[data-empty]")).to_be_visible()
    x_emulator.emit(text="hello wall 👋 first post https://example.com/a", author=alice)
    first = page.locator("#feed > .tweet").first
    expect(first.locator(".tweet__text")).to_have_text(
        "hello wall 👋 first post example.com/a", timeout=2_000
    )
    expect(first.locator(".tweet__name")).to_have_text("Alice")
    expect(first.locator(".tweet__handle")).to_have_text("@alice")
    expect(first.locator(".tweet__text")).to_have_attribute("dir", "auto")
    expect(first.locator(".tweet__text a")).to_have_attribute("href", "https://example.com/a")
    expect(first.locator("a.tweet__time")).to_have_attribute(
        "href", re.compile(r"^https://x\.com/alice/status/\d+$")
    )
    expect(first.locator(".avatar--initial")).to_have_text("A")
    expect(page.locator("[data-empty]")).to_be_hidden()

    # b. Hostile text and names stay text: no dialog, no element made from them.
    hostile = ["wall <img src=x onerror=alert(1)>", "wall <script>alert(1)</script> & done"]
    names = ["<img src=x onerror=alert(2)>", "<script>alert(3)</script>"]
    x_emulator.emit(text=hostile[0], author={"id": "666", "username": "mallory", "name": names[0]})
    x_emulator.emit(text=hostile[1], author={"id": "667", "username": "eve", "name": names[1]})
    for text in hostile:
        expect(page.locator("#feed .tweet__text", has_text=text)).to_have_count(1)
    for name in names:
        expect(page.locator("#feed .tweet__name", has_text=name)).to_be_visible()
    assert page.locator("#feed img[src='x'], #feed script").count() == 0
    # The page's own scripts only, by their hashed static names: feed.js and audience.js.
    scripts = page.evaluate("[...document.scripts].map((s) => new URL(s.src).pathname)")
    assert [re.sub(r"\.[0-9a-f]{12}\.js$", ".js", path) for path in scripts] == [
        "/static/feed/feed.js",
        "/static/feed/audience.js",
    ]

    # c. The server restarts; tweets stored meanwhile come back through the API, once each.
    server.stop()
    expect(status).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
    expect(status).to_contain_text(re.compile(r"Reconnecting|Connecting"))
    for i in range(60):  # more than the 50-tweet history: the rest must come from the API
        x_emulator.emit(text=f"wall while down {i:02d}", author=alice)
    stored_while_down = Tweet.objects.filter(text__startswith="wall while down").count
    _wait(lambda: orm(stored_while_down) == 60, what="60 stored")
    server.start()
    for i in range(3):
        x_emulator.emit(text=f"wall after restart {i}", author=alice)
    expect(status).to_have_attribute("data-state", "live", timeout=40_000)
    expect(page.locator("#feed .tweet__text", has_text="wall after restart 2")).to_have_count(1)
    expected = orm(_db_rows, "wall")
    assert len(expected) == 1 + 2 + 60 + 3
    expect(page.locator("#feed > .tweet")).to_have_count(len(expected))
    rows = feed_rows(page)
    assert [seq for seq, _ in rows] == [seq for seq, _ in expected]  # each once, newest first
    newest = ["wall after restart 2", "wall after restart 1", "wall after restart 0", "wall while down 59"]
    assert [text for _, text in rows][:4] == newest
    assert page.locator("#feed").get_attribute("data-last-seq") == str(expected[0][0])
    assert catch_up_requests, "the reconnect should have caught up through the API"

    # The "new tweets" button: while scrolled down, new tweets wait instead of shifting the page.
    page.evaluate("window.scrollTo(0, 900)")
    page.wait_for_function("window.scrollY >= 900")
    x_emulator.emit(text="wall while you were reading", author=alice)
    button = page.locator("[data-new-tweets]")
    expect(button).to_have_text("↑ 1 new tweet")
    assert page.locator("#feed .tweet__text", has_text="while you were reading").count() == 0
    assert page.evaluate("window.scrollY") >= 900
    button.click()
    expect(page.locator("#feed > .tweet").first.locator(".tweet__text")).to_have_text(
        "wall while you were reading"
    )
    page.wait_for_function("window.scrollY === 0")
    expect(button).to_be_hidden()

    # Hides remove the tweet by id.
    orm(
        lambda: publish_batches_sync(
            tweets_set_hidden(tweets=Tweet.objects.filter(text=hostile[0]), hidden=True)
        )
    )
    expect(page.locator("#feed .tweet__text", has_text=hostile[0])).to_have_count(0)
    assert [seq for seq, _ in feed_rows(page)] == [seq for seq, _ in orm(_db_rows, "wall")]

    # The home page's counts follow along (polled every 5 s).
    wall_count = home.locator(".topic-card[data-slug='wall'] [data-topic-count]")
    expect(wall_count).to_have_text(f"{len(orm(_db_rows, 'wall'))} tweets", timeout=12_000)

    # d. Screenshots of a well-filled topic, on the page and on the wall (dark by default).
    texts = _emit_showcase(x_emulator)
    _wait(lambda: len(orm(_db_rows, "pycon")) == len(texts), what="showcase stored")
    shot = new_page(browser)
    shot.goto(f"{server.url}/topics/pycon/")
    expect(shot.locator("#feed-status")).to_have_attribute("data-state", "live")
    expect(shot.locator("#feed > .tweet")).to_have_count(len(texts))
    expect(shot.locator("#feed .tweet__text[lang='ar']")).to_have_attribute("dir", "auto")
    expect(shot.locator("#feed .tweet", has_text="陈伟").locator(".avatar--initial")).to_have_text("陈")
    _save_screenshot(shot, tmp_path, "screenshot-topic.png")
    shot.goto(f"{server.url}/topics/pycon/wall/")
    expect(shot.locator("html")).to_have_attribute("data-theme", "dark")
    expect(shot.locator("#feed-status")).to_have_attribute("data-state", "live")
    expect(shot.locator("#feed > .tweet").first).to_contain_text("Coffee queue")
    assert shot.evaluate("document.querySelector('#feed').scrollHeight <= innerHeight + 400")
    _save_screenshot(shot, tmp_path, "screenshot-wall.png")
    shot.locator("[data-theme-toggle]").click()
    expect(shot.locator("html")).to_have_attribute("data-theme", "light")
    shot.reload()
    expect(shot.locator("html")).to_have_attribute("data-theme", "light")  # remembered
    shot.goto(f"{server.url}/topics/pycon/wall/?theme=dark")
    expect(shot.locator("html")).to_have_attribute("data-theme", "dark")

    not_found = page.goto(f"{server.url}/topics/no-such-topic/")
    assert not_found is not None and not_found.status == 404
    expect(page.locator("h1")).to_have_text("This page isn’t here")
    assert dialogs == [] and errors == []
    assert page.csp_violations == home.csp_violations == shot.csp_violations == []
