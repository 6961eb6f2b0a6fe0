"""Pins in Chromium against a real uvicorn: a pinned post goes on top of an open wall within a second
and out of the stream below, stays there through a reconnect during which it was unpinned elsewhere
and another pinned, and comes back to its place when unpinned."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from feed.models import Topic, Tweet
from feed.moderation import posts_decide
from feed.publishing import publish_batches_sync

from browser_pages import new_page
from payloads import ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXTS = ["first post #pins", "second post #pins", "third post #pins"]


def _store() -> None:
    Topic.objects.create(name="Pins", slug="pins", query="#pins")
    ingest(*TEXTS, tags=["pins"])


def _decide(action: str, text: str) -> None:
    moderator, _ = get_user_model().objects.get_or_create(username="mia", is_superuser=True)
    topic = Topic.objects.get(slug="pins")
    decided = posts_decide(
        topic=topic, action=action, post_ids=[Tweet.objects.get(text=text).pk], moderator=moderator
    )
    publish_batches_sync(decided.batches)  # if this misses, the hub's 2 s poll finds the decision


def test_a_pin_goes_on_top_of_an_open_wall_and_survives_a_reconnect(browser, orm, start_server) -> None:
    orm(_store)
    server = start_server("uvicorn")
    wall = new_page(browser)
    wall.goto(f"{server.url}/topics/pins/wall/")
    pinned = wall.locator("[data-pinned] .tweet__text")
    stream = wall.locator("#feed .tweet__text")
    expect(stream).to_have_text(list(reversed(TEXTS)))

    orm(_decide, "pin", TEXTS[0])
    expect(pinned).to_have_text([TEXTS[0]], timeout=3_000)  # the contract is a second
    expect(stream).to_have_text([TEXTS[2], TEXTS[1]])
    expect(wall.locator("[data-pinned] .tweet__pin")).to_have_text(["Pinned"])

    # While the page is away, that pin goes and another comes: the history says what is pinned now.
    status = wall.locator("#feed-status")
    server.stop()
    expect(status).to_have_attribute("data-state", re.compile("reconnecting|connecting"))
    orm(_decide, "unpin", TEXTS[0])
    orm(_decide, "pin", TEXTS[1])
    server.start()
    expect(status).to_have_attribute("data-state", "live", timeout=30_000)
    expect(pinned).to_have_text([TEXTS[1]])
    expect(stream).to_have_text([TEXTS[2], TEXTS[0]])

    orm(_decide, "unpin", TEXTS[1])
    expect(pinned).to_have_count(0, timeout=3_000)
    expect(stream).to_have_text(list(reversed(TEXTS)))  # back in its place
    assert wall.csp_violations == []  # type: ignore[attr-defined]
