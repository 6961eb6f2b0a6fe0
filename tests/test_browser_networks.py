"""Posts from several networks on one page, in Chromium: each with its network's badge, and its time
linking to the post on that network; an edit on its network replaces a post on an open wall."""

from dataclasses import replace

import pytest
from playwright.sync_api import expect

from feed.edits import post_edit
from feed.models import Topic
from feed.normalize import normalize
from feed.publishing import publish_batches_sync
from feed.services import tweets_ingest

from browser_pages import new_page
from payloads import x_message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _posts_from_three_networks() -> None:
    Topic.objects.create(
        name="Everywhere", slug="everywhere", query="#pycon", networks=["x", "bluesky", "mastodon"]
    )
    on_x = normalize(x_message("on X #pycon", tags=["everywhere"]))
    on_bluesky = replace(
        normalize(x_message("on Bluesky #pycon", tags=["everywhere"])),
        source="bluesky",
        network_id="at://did:plc:abc123/app.bsky.feed.post/3kq2xyz",
    )
    on_mastodon = replace(
        normalize(x_message("on Mastodon #pycon", tags=["everywhere"])),
        source="mastodon",
        network_id="https://fosstodon.org/users/ada/statuses/1",
        permalink="https://fosstodon.org/@ada/1",
    )
    tweets_ingest(tweets=[on_x, on_bluesky, on_mastodon])


def test_each_post_shows_its_network_and_links_to_it(browser, orm, start_server) -> None:
    orm(_posts_from_three_networks)
    server = start_server("uvicorn")
    page = new_page(browser)
    page.goto(f"{server.url}/topics/everywhere/")
    expect(page.locator("#feed .tweet__network")).to_have_text(["Mastodon", "Bluesky", "X"])
    links = page.locator("#feed .tweet__time")
    expect(links.nth(0)).to_have_attribute("href", "https://fosstodon.org/@ada/1")
    expect(links.nth(1)).to_have_attribute("href", "https://bsky.app/profile/did:plc:abc123/post/3kq2xyz")
    assert page.csp_violations == []  # type: ignore[attr-defined]


def _edit_on_bluesky(text: str, **fields) -> None:
    post = replace(
        normalize(x_message(text, tags=["everywhere"])),
        source="bluesky",
        network_id="at://did:plc:abc123/app.bsky.feed.post/3kq2xyz",
        **fields,
    )
    publish_batches_sync(post_edit(post=post))


def test_an_edited_post_and_its_late_author_replace_it_on_an_open_wall(browser, orm, start_server) -> None:
    orm(_posts_from_three_networks)
    server = start_server("uvicorn")
    wall = new_page(browser)
    wall.goto(f"{server.url}/topics/everywhere/wall/")
    texts = wall.locator("#feed .tweet__text")
    expect(texts).to_have_text(["on Mastodon #pycon", "on Bluesky #pycon", "on X #pycon"])
    orm(_edit_on_bluesky, "on Bluesky, edited #pycon", author_name="Ada on Bluesky")
    expect(texts).to_have_text(  # in its place, within the second
        ["on Mastodon #pycon", "on Bluesky, edited #pycon", "on X #pycon"], timeout=3_000
    )
    expect(wall.locator("#feed .tweet").nth(1)).to_contain_text("Ada on Bluesky")
    assert wall.csp_violations == []  # type: ignore[attr-defined]
