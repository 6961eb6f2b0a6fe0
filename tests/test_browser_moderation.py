"""The moderation page in Chromium against a real uvicorn and Redis: a moderator's keyboard decision
reaches an open wall within a second, new posts and another moderator's decisions arrive live on the
moderation socket, and after a server restart the page shows the database's truth (its snapshot).
Set UPDATE_SCREENSHOTS=1 to copy the screenshot to docs/."""

import os
import re
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Page, expect

from feed.models import Topic, Tweet
from feed.moderation import tweets_set_hidden
from feed.publishing import publish_batches_sync

from browser_pages import new_page
from payloads import ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
POSTS = [  # (username, author id, text), oldest first
    ("priyaraman", "101", "Doors are open! ☕ Grab a coffee, the keynote starts in 20 minutes #modtest"),
    ("spammer_9000", "666", "🔥 FREE crypto giveaway, click now!!! #modtest"),
    ("marcusj", "102", "Free-threaded Python in the keynote looks wild 🤯 #modtest"),
    ("sofiarossi", "103", "Sprint room is packed 🚀 Chi viene a fare pair programming? #modtest"),
]


def _session(username: str) -> str:
    """A superuser's session key, as the admin's login would set it."""
    client = Client()
    client.force_login(get_user_model().objects.create_superuser(username, password="pw"))
    return client.cookies["sessionid"].value


def _store_posts_and_moderator(moderation: str = "open") -> str:
    """The topic, its posts, and a moderator's session key."""
    Topic.objects.create(
        name="PyCon moderation", slug="modtest", query="#modtest -is:retweet", moderation=moderation
    )
    for username, author_id, text in POSTS:
        ingest(text, tags=["modtest"], username=username, author_id=author_id)
    return _session("mia")


def _moderation_page(browser, server, session_key: str, errors: list[str]) -> Page:
    page = new_page(browser)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.context.add_cookies([{"name": "sessionid", "value": session_key, "url": server.url}])
    page.goto(f"{server.url}/topics/modtest/moderate/")
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")
    return page


def _decide_while_away(hide: str, show: str, newer: int) -> None:
    """What happens while the page is away: one post hidden, one shown again, and newer posts."""
    tweets_set_hidden(tweets=Tweet.objects.filter(text=hide), hidden=True)
    tweets_set_hidden(tweets=Tweet.objects.filter(text=show), hidden=False)
    texts = (f"newer post {i:02d} #modtest" for i in range(newer))
    ingest(*texts, tags=["modtest"], username="zoe", author_id="104")


def _save_screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    path = tmp_path / name
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / name)


def test_a_post_hidden_with_the_keyboard_leaves_the_wall_within_a_second(
    browser, orm, start_server, tmp_path
) -> None:
    session_key = orm(_store_posts_and_moderator)
    server = start_server("uvicorn")
    wall = new_page(browser)
    wall.goto(f"{server.url}/topics/modtest/wall/")
    expect(wall.locator("#feed > .tweet")).to_have_count(len(POSTS))

    errors: list[str] = []
    moderate = _moderation_page(browser, server, session_key, errors)
    expect(moderate.locator('[data-list="visible"] > .mod-post')).to_have_count(len(POSTS))

    moderate.keyboard.press("j")  # from the newest post, selected on load, to the one before it
    selected = moderate.locator(".mod-post.is-selected")
    expect(selected.locator(".tweet__text")).to_have_text(POSTS[2][2])
    expect(selected.locator(".mod-post__facts")).to_contain_text("author id 102")
    expect(selected.locator(".mod-post__facts code")).to_have_text("#modtest -is:retweet")
    moderate.keyboard.press("h")
    # The contract is a second; 3 s leaves room for a busy 2-core box.
    expect(wall.locator("#feed .tweet__text", has_text=POSTS[2][2])).to_have_count(0, timeout=3_000)
    expect(wall.locator("#feed > .tweet")).to_have_count(len(POSTS) - 1)
    expect(moderate.locator('[data-count="hidden"]')).to_have_text("1")
    expect(moderate.locator('[data-list="hidden"] .tweet__text')).to_have_text([POSTS[2][2]])

    # The selection moved on to the spam; j then k comes back to it, and b blocks its author.
    moderate.keyboard.press("j")
    expect(moderate.locator(".mod-post.is-selected .tweet__text")).to_have_text(POSTS[0][2])
    moderate.keyboard.press("k")
    expect(moderate.locator(".mod-post.is-selected .tweet__text")).to_have_text(POSTS[1][2])
    moderate.keyboard.press("b")
    expect(moderate.locator("[data-notice]")).to_have_text(
        "@spammer_9000 is blocked: their posts leave every page."
    )
    expect(wall.locator("#feed > .tweet")).to_have_count(len(POSTS) - 2, timeout=3_000)
    _save_screenshot(moderate, tmp_path, "screenshot-moderation.png")

    # On the hidden tab, a hide finds the post hidden already (as when another moderator was first).
    moderate.get_by_role("tab", name="Hidden").click()
    expect(moderate.locator(".mod-post.is-selected .tweet__text")).to_have_text(POSTS[2][2])
    moderate.keyboard.press("h")
    expect(moderate.locator("[data-notice]")).to_contain_text("was hidden already")

    # The server restarts; meanwhile a post is hidden, the hidden one shown again, and newer posts
    # arrive. The page's new snapshot is the database's truth: the hidden post moves to "Hidden" (with
    # the blocked author's post, and its reason), the shown one back to "Shown", in its place.
    status = moderate.locator("#feed-status")
    server.stop()
    expect(status).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
    orm(_decide_while_away, hide=POSTS[3][2], show=POSTS[2][2], newer=5)
    server.start()
    expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    hidden_texts = moderate.locator('[data-list="hidden"] .tweet__text')
    expect(hidden_texts).to_have_text([POSTS[3][2], POSTS[1][2]])
    expect(moderate.locator('[data-count="hidden"]')).to_have_text("2")
    expect(moderate.locator('[data-list="hidden"] .mod-post__reason')).to_have_text(
        ["author @spammer_9000 is blocked"]
    )
    shown_texts = moderate.locator('[data-list="visible"] .tweet__text')
    newer = [f"newer post {i:02d} #modtest" for i in reversed(range(5))]
    expect(shown_texts).to_have_text([*newer, POSTS[2][2], POSTS[0][2]])
    assert errors == [] and moderate.csp_violations == [] and wall.csp_violations == []  # type: ignore[attr-defined]


def test_a_post_approved_with_the_keyboard_reaches_the_wall_and_the_other_moderator_live(
    browser, orm, start_server, servers_layer
) -> None:
    session_key = orm(_store_posts_and_moderator, moderation="approve")
    other_key = orm(_session, "max")
    server = start_server("uvicorn")
    wall = new_page(browser)
    wall.goto(f"{server.url}/topics/modtest/wall/")
    expect(wall.locator("#feed-status")).to_have_attribute("data-state", "live")
    expect(wall.locator("#feed > .tweet")).to_have_count(0)

    errors: list[str] = []
    mia = _moderation_page(browser, server, session_key, errors)
    max_ = _moderation_page(browser, server, other_key, errors)
    for page in (mia, max_):  # an approve topic opens on its queue, oldest first
        expect(page.get_by_role("tab", name="Pending")).to_have_attribute("aria-selected", "true")
        expect(page.locator('[data-list="pending"] .tweet__text')).to_have_text(
            [text for _, _, text in POSTS]
        )

    # A new post waits in both queues at once, at the end.
    orm(
        lambda: publish_batches_sync(
            ingest("Just arrived #modtest", tags=["modtest"], username="zoe", author_id="104")
        )
    )
    for page in (mia, max_):
        expect(page.locator('[data-list="pending"] .tweet__text').last).to_have_text("Just arrived #modtest")

    # Mia approves the oldest with "a": the wall shows it within a second, and Max's queue drops it.
    expect(mia.locator(".mod-post.is-selected .tweet__text")).to_have_text(POSTS[0][2])
    mia.keyboard.press("a")
    # The contract is a second; 3 s leaves room for a busy 2-core box.
    expect(wall.locator("#feed .tweet__text")).to_have_text([POSTS[0][2]], timeout=3_000)
    for page in (mia, max_):
        expect(page.locator('[data-count="pending"]')).to_have_text(str(len(POSTS)), timeout=3_000)
        expect(page.locator('[data-list="visible"] .tweet__text')).to_have_text([POSTS[0][2]])
    expect(mia.locator(".mod-post.is-selected .tweet__text")).to_have_text(POSTS[1][2])
    # Counts by reason: the pending posts of the last hour and day.
    expect(max_.locator("[data-reason-counts] tr")).to_have_text(
        [re.compile(rf"^pending\s*{len(POSTS)}\s*{len(POSTS)}$")]
    )
    assert errors == [] and mia.csp_violations == [] and max_.csp_violations == []  # type: ignore[attr-defined]
