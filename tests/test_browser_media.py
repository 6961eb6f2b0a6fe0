"""Media and quotes in Chromium: images sized before they load, with their alt text; a broken one
gives way to its alt text; a video shows its preview with a play mark; a quoted post is a card with
its author and text (as text, never markup) linking to it; a repost shows the original and who
reposted it, a reply whom it answers; a custom emoji whose image fails reads as its shortcode."""

from dataclasses import replace

import pytest
from playwright.sync_api import expect

from feed.models import Topic
from feed.normalize import normalize
from feed.services import tweets_ingest

from browser_pages import new_page
from payloads import x_message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _post_with_media_and_a_quote() -> None:
    Topic.objects.create(name="Media", slug="media", query="#media")
    message = x_message("Look at this #media", tags=["media"])
    media = [
        {
            "media_key": "3_1",
            "type": "photo",
            "url": "https://pbs.twimg.com/media/stage.jpg",
            "width": 1600,
            "height": 900,
            "alt_text": "The stage",
        },
        {
            "media_key": "3_2",
            "type": "photo",
            "url": "https://pbs.twimg.com/media/broken.jpg",
            "width": 800,
            "height": 800,
            "alt_text": "The crowd",
        },
        {
            "media_key": "7_3",
            "type": "video",
            "preview_image_url": "https://pbs.twimg.com/media/clip.jpg",
            "width": 1280,
            "height": 720,
        },
    ]
    message["data"]["attachments"] = {"media_keys": [m["media_key"] for m in media]}
    message["data"]["referenced_tweets"] = [{"type": "quoted", "id": "1700"}]
    message["includes"]["media"] = media
    message["includes"]["tweets"] = [{"id": "1700", "text": "<b>not bold</b> quoted", "author_id": "99"}]
    message["includes"]["users"].append({"id": "99", "username": "grace", "name": "Grace"})
    repost = x_message("RT @grace: Old news #media", tags=["media"], tweet_id="1900")
    repost["data"]["referenced_tweets"] = [
        {"type": "retweeted", "id": "1701"},
        {"type": "replied_to", "id": "1700"},
    ]
    repost["includes"]["tweets"] = [{"id": "1701", "text": "Old news, still true #media", "author_id": "99"}]
    repost["includes"]["users"].append({"id": "99", "username": "grace", "name": "Grace"})
    emoji = normalize(x_message("Coffee time :blobcat: #media", tags=["media"]))
    emoji = replace(
        emoji,
        entities={
            "emojis": [
                {
                    "start": 12,
                    "end": 21,
                    "shortcode": "blobcat",
                    "url": "https://pbs.twimg.com/emoji/broken.png",
                }
            ]
        },
    )
    tweets_ingest(tweets=[normalize(message), normalize(repost), emoji])


def test_images_a_broken_one_a_video_and_a_quote_on_the_page(browser, orm, start_server) -> None:
    orm(_post_with_media_and_a_quote)
    server = start_server("uvicorn")
    page = new_page(browser)
    page.goto(f"{server.url}/topics/media/")
    emoji = page.locator("#feed .tweet").first  # its image is unreachable: it reads as its shortcode
    expect(emoji.locator(".tweet__text")).to_have_text("Coffee time :blobcat: #media")
    expect(emoji.locator("img.emoji")).to_have_count(0)
    repost = page.locator("#feed .tweet").nth(1)
    expect(repost.locator(".tweet__reposted")).to_have_text("↻ Reposted by Alice")
    expect(repost.locator(".tweet__name")).to_have_text("Grace")
    expect(repost.locator(".tweet__text")).to_have_text("Old news, still true #media")
    expect(repost.locator(".tweet__reply-to a")).to_have_attribute("href", "https://x.com/i/web/status/1700")
    post = page.locator("#feed .tweet").nth(2)
    stage = post.locator('img.tweet__image[alt="The stage"]')
    expect(stage).to_have_attribute("width", "1600")  # sized from the post, before it loads
    expect(stage).to_have_attribute("loading", "lazy")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=stage.element_handle())
    expect(post.locator(".tweet__image-missing")).to_have_text("Image unavailable: The crowd")
    video = post.locator('.tweet__medium[data-type="video"]')
    expect(video).to_have_attribute("href", f"https://x.com/alice/status/{post.get_attribute('data-id')}")
    expect(video.locator(".tweet__play")).to_be_visible()
    quote = post.locator("a.tweet__quote")
    expect(quote).to_have_attribute("href", "https://x.com/grace/status/1700")
    expect(quote.locator(".tweet__quote-author")).to_contain_text("Grace")
    expect(quote.locator(".tweet__quote-text")).to_have_text("<b>not bold</b> quoted")
    assert page.csp_violations == []  # type: ignore[attr-defined]
