"""A post's images, videos and GIFs, read from each network's own shape into one (feed/media.py),
stored with the post and sent to pages in the tweet shape."""

import pytest

from blueskyemulator import records
from feed.bluesky import BlueskyAuthor, bluesky_post
from feed.mastodon import status_post
from feed.media import MAX_MEDIA, bluesky_media, mastodon_media, x_media
from feed.models import Topic, TopicPost
from feed.normalize import normalize
from feed.selectors import topic_history_items
from feed.services import tweets_ingest
from mastodonemulator.entities import media_attachment

from payloads import x_message

DID = "did:plc:abc123"


def _x(media: list[dict]) -> dict:
    message = x_message("python with pictures", tags=["python"])
    message["data"]["attachments"] = {"media_keys": [m["media_key"] for m in media if isinstance(m, dict)]}
    message["includes"]["media"] = media
    return message


def test_x_photos_videos_and_gifs_come_in_the_order_of_the_posts_keys():
    message = _x(
        [
            {"media_key": "7_2", "type": "video", "preview_image_url": "https://pbs.twimg.com/v.jpg"},
            {
                "media_key": "3_1",
                "type": "photo",
                "url": "https://pbs.twimg.com/p.jpg",
                "width": 1200,
                "height": 800,
                "alt_text": "A full room at PyCon",
            },
            {"media_key": "16_3", "type": "animated_gif", "preview_image_url": "https://pbs.twimg.com/g.jpg"},
        ]
    )
    message["data"]["attachments"]["media_keys"] = ["3_1", "7_2", "16_3"]
    assert x_media(message) == [
        {
            "type": "photo",
            "url": "https://pbs.twimg.com/p.jpg",
            "width": 1200,
            "height": 800,
            "alt": "A full room at PyCon",
        },
        {"type": "video", "url": "https://pbs.twimg.com/v.jpg", "width": None, "height": None, "alt": ""},
        {"type": "gif", "url": "https://pbs.twimg.com/g.jpg", "width": None, "height": None, "alt": ""},
    ]


@pytest.mark.parametrize(
    "hostile",
    [
        {"media_key": "3_1", "type": "photo", "url": "javascript:alert(1)"},
        {"media_key": "3_1", "type": "photo", "url": "data:image/svg+xml,<svg onload=alert(1)>"},
        {"media_key": "3_1", "type": "photo"},  # no url at all
        {"media_key": "3_1", "type": "hologram", "url": "https://pbs.twimg.com/p.jpg"},
        "not an object",
    ],
)
def test_a_medium_without_a_usable_image_is_dropped_and_the_post_stands(hostile):
    message = _x([hostile])
    message["data"]["attachments"] = {"media_keys": ["3_1"]}
    assert x_media(message) == []


def test_sizes_that_are_not_sizes_are_left_out_and_at_most_four_are_kept():
    many = [
        {
            "media_key": f"3_{i}",
            "type": "photo",
            "url": f"https://pbs.twimg.com/{i}.jpg",
            "width": -5,
            "height": True,
        }
        for i in range(6)
    ]
    media = x_media(_x(many))
    assert len(media) == MAX_MEDIA
    assert {(m["width"], m["height"]) for m in media} == {(None, None)}


def test_bluesky_images_are_addressed_by_the_authors_did_and_the_blobs_cid():
    embed = records.images_embed([{"alt": "Slides", "aspectRatio": {"width": 4, "height": 3}}], seed="s")
    cid = embed["images"][0]["image"]["ref"]["$link"]
    assert bluesky_media(DID, {"text": "x", "embed": embed}) == [
        {
            "type": "photo",
            "url": f"https://cdn.bsky.app/img/feed_fullsize/plain/{DID}/{cid}@jpeg",
            "width": 4,
            "height": 3,
            "alt": "Slides",
        }
    ]


def test_a_bluesky_quote_with_media_shows_its_media_and_a_bad_cid_none():
    images = records.images_embed(["A photo"], seed="q")
    quote = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"record": {"uri": "at://x", "cid": "c"}},
        "media": images,
    }
    assert [m["alt"] for m in bluesky_media(DID, {"embed": quote})] == ["A photo"]
    images["images"][0]["image"]["ref"]["$link"] = "../../evil"
    assert bluesky_media(DID, {"embed": quote}) == []


def test_mastodon_images_use_the_original_and_videos_their_preview():
    image = media_attachment(
        {"description": "Keynote", "width": 1600, "height": 900}, media_id="1", domain="a.example", local=True
    )
    video = media_attachment({"type": "video"}, media_id="2", domain="a.example", local=True)
    audio = media_attachment({"type": "audio"}, media_id="3", domain="a.example", local=True)
    media = mastodon_media({"media_attachments": [image, video, audio]})
    assert [(m["type"], m["url"], m["width"], m["alt"]) for m in media] == [
        ("photo", image["url"], 1600, "Keynote"),
        ("video", video["preview_url"], 400, ""),
    ]


def test_media_are_stored_with_the_post_and_sent_in_the_tweet_shape(db):
    Topic.objects.create(name="Python", slug="python", query="python")
    photo = {
        "media_key": "3_1",
        "type": "photo",
        "url": "https://pbs.twimg.com/p.jpg",
        "width": 640,
        "height": 480,
        "alt_text": "Stage",
    }
    message = _x([photo])
    tweets_ingest(tweets=[normalize(message)])
    _, items, _ = topic_history_items(slug="python")
    [(_, item)] = items
    assert '"media":[{"type":"photo","url":"https://pbs.twimg.com/p.jpg","width":640,"height":480,' in item


def test_each_network_conversion_fills_media():
    embed = records.images_embed(["alt"], seed="n")
    event = {
        "did": DID,
        "time_us": 1,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": "3kabc",
            "record": {"text": "hi", "createdAt": "2026-01-01T00:00:00Z", "embed": embed},
        },
    }
    assert len(bluesky_post(event, author=BlueskyAuthor(did=DID)).media) == 1
    image = media_attachment({}, media_id="1", domain="a.example", local=True)
    status = {
        "uri": "https://a.example/users/al/statuses/1",
        "content": "<p>hi</p>",
        "account": {"id": "1", "acct": "al", "url": "https://a.example/@al"},
        "media_attachments": [image],
    }
    assert len(status_post(status).media) == 1


def _stored_state(post) -> tuple[str, str]:
    tweets_ingest(tweets=[post])
    topic_post = TopicPost.objects.get(tweet__network_id=post.network_id)
    return topic_post.state, topic_post.reason


def test_media_marked_sensitive_wait_for_a_moderator_on_every_network(db):
    Topic.objects.create(name="Python", slug="python", query="python")  # open: no approval asked
    photo = {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/p.jpg"}
    on_x = _x([photo])
    on_x["data"]["possibly_sensitive"] = True
    assert _stored_state(normalize(on_x)) == ("pending", "sensitive media")
    text_only = x_message("python, nothing to see", tags=["python"])
    text_only["data"]["possibly_sensitive"] = True  # X marks it, but there is no media to hide
    assert _stored_state(normalize(text_only)) == ("visible", "")
    embed = records.images_embed(["alt"], seed="l")
    labelled = {
        "text": "python",
        "createdAt": "2026-01-01T00:00:00Z",
        "embed": embed,
        "labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "graphic-media"}]},
    }
    event = {
        "did": DID,
        "time_us": 1,
        "kind": "commit",
        "commit": {
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": "3klab",
            "record": labelled,
        },
    }
    on_bluesky = bluesky_post(event, author=BlueskyAuthor(did=DID), topic_slugs=("python",))
    assert _stored_state(on_bluesky) == ("pending", "sensitive media")
    image = media_attachment({}, media_id="1", domain="a.example", local=True)
    status = {
        "uri": "https://a.example/users/al/statuses/2",
        "content": "<p>python</p>",
        "sensitive": True,
        "account": {"id": "1", "acct": "al", "url": "https://a.example/@al"},
        "media_attachments": [image],
    }
    assert _stored_state(status_post(status, topic_slugs=("python",))) == ("pending", "sensitive media")
