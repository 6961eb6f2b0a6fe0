"""One worker follows X, Bluesky and Mastodon at once, from their emulators, for several topics; the
topic's page in Chromium shows each network's post with its badge, its link to the post, and its
image. (The page, not the wall: a projector's wall shows only what fits, and three posts with large
images do not fit one column.)"""

import re

import pytest
from playwright.sync_api import expect

from blueskyemulator import BlueskyEmulator
from feed.models import Topic
from mastodonemulator import MastodonEmulator
from streamer.models import MastodonInstance, mastodon_image_hosts

from browser_pages import new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MASTODON_TOKEN = "wall-token"
# Where each network's #tag links go: the post's own network.
TAG_LINKS = {
    "x": r"^https://x\.com/hashtag/pycon",
    "bluesky": r"^https://bsky\.app/hashtag/pycon",
    "mastodon": r"^https://a\.example/tags/pycon",
}
X_PHOTO = {
    "type": "photo",
    "url": "https://pbs.twimg.com/media/stage.jpg",
    "width": 1200,
    "height": 675,
    "alt_text": "The keynote stage",
}


def _topics_and_instance(mastodon_url: str) -> None:
    everywhere = ["x", "bluesky", "mastodon"]
    Topic.objects.create(name="PyCon", slug="pycon", query="#pycon", networks=everywhere)
    Topic.objects.create(name="Django", slug="django", query="#django", networks=everywhere)
    MastodonInstance.objects.create(base_url=mastodon_url, access_token=MASTODON_TOKEN)


def test_a_page_shows_posts_from_three_networks_with_badges_links_and_images(
    browser, orm, x_emulator, start_worker, start_server
) -> None:
    with (
        BlueskyEmulator() as bsky,
        MastodonEmulator(domain="a.example", tokens={MASTODON_TOKEN: "read"}) as masto,
    ):
        bsky.add_account("ada.bsky.social", display_name="Ada on Bluesky")
        masto.add_account("grace", display_name="Grace on Mastodon")
        orm(_topics_and_instance, masto.base_url)
        start_worker(
            "--source", "x", "--source", "bluesky", "--source", "mastodon",
            X_BEARER_TOKEN=x_emulator.token,
            X_API_BASE_URL=x_emulator.base_url,
            BLUESKY_ENABLED="1",
            BLUESKY_JETSTREAM_URL=bsky.jetstream_url,
            BLUESKY_APPVIEW_URL=bsky.base_url,
        )  # fmt: skip
        assert x_emulator.wait_until(lambda: x_emulator.connected and len(x_emulator.rules) == 2, 15)
        assert masto.wait_until(lambda: len(masto.subscriptions) == 2, 15)  # a hashtag stream per tag
        assert bsky.wait_until(lambda: bsky.connection_count == 1, 15)
        # The worker has told the pages' policy where the instance serves its images.
        hosts = ["https://a.example", "https://files.a.example"]
        assert masto.wait_until(lambda: orm(mastodon_image_hosts) == hosts, 15)
        server = start_server("uvicorn")
        page = new_page(browser)
        page.goto(f"{server.url}/topics/pycon/")
        expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")

        x_emulator.emit("Keynote starting #pycon", author={"id": "7", "username": "xavier"}, media=[X_PHOTO])
        bsky.post(
            "Slides are up #pycon",
            author="ada.bsky.social",
            tags=["pycon"],
            images=[{"alt": "Title slide", "aspectRatio": {"width": 4, "height": 3}}],
        )
        masto.emit("Hallway track #pycon", account="grace", media=[{"description": "A full hallway"}])
        x_emulator.emit("Only for the other topic #django", author={"id": "7", "username": "xavier"})

        posts = page.locator("#feed .tweet")
        expect(posts).to_have_count(3, timeout=15_000)
        badges = sorted(page.locator("#feed .tweet__network").all_inner_texts())
        assert badges == ["Bluesky", "Mastodon", "X"]
        for network, text, alt, link in [
            ("x", "Keynote starting #pycon", "The keynote stage", "https://x.com/xavier/status/"),
            ("bluesky", "Slides are up #pycon", "Title slide", "https://bsky.app/profile/"),
            ("mastodon", "Hallway track #pycon", "A full hallway", "https://a.example/@grace/"),
        ]:
            post = posts.filter(has=page.locator(f'.tweet__network[data-network="{network}"]'))
            expect(post.locator(".tweet__text")).to_have_text(text)
            expect(post.locator(".tweet__time")).to_have_attribute("href", re.compile("^" + re.escape(link)))
            image = post.locator("img.tweet__image")
            expect(image).to_have_attribute("alt", alt)
            page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            # Mentions, tags and links point to the post's network.
            expect(post.locator(".tweet__text a").first).to_have_attribute(
                "href", re.compile(TAG_LINKS[network])
            )
        assert page.csp_violations == []  # type: ignore[attr-defined]
