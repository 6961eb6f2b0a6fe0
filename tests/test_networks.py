"""Posts from any network are stored once per network: the pair (source, id there) is unique."""

from dataclasses import replace

import pytest

from feed.models import Topic, Tweet
from feed.normalize import normalize
from feed.services import tweets_ingest

from payloads import x_message

pytestmark = pytest.mark.django_db


def test_the_same_id_on_two_networks_is_two_posts_and_each_is_stored_once():
    Topic.objects.create(name="Python", slug="python", query="python")
    on_x = normalize(x_message("python on x", tags=["python"], tweet_id="1862000000000000123"))
    elsewhere = replace(
        on_x, source="mastodon", text="python elsewhere", permalink="https://mastodon.example/@a/1"
    )
    assert [len(b.seqs) for b in tweets_ingest(tweets=[on_x, elsewhere]) if b.kind == "tweets"] == [2]
    assert tweets_ingest(tweets=[on_x, elsewhere]) == []  # seen before, on each network
    assert sorted(Tweet.objects.values_list("source", "network_id")) == [
        ("mastodon", "1862000000000000123"),
        ("x", "1862000000000000123"),
    ]


def test_a_post_links_to_its_own_network():
    x = Tweet(source="x", network_id="1862000000000000123", author_username="ada")
    bluesky = Tweet(source="bluesky", network_id="at://did:plc:abc123/app.bsky.feed.post/3kq2xyz")
    mastodon = Tweet(
        source="mastodon",
        network_id="https://fosstodon.org/users/ada/statuses/1",
        permalink="https://fosstodon.org/@ada/1",
    )
    assert x.url == "https://x.com/ada/status/1862000000000000123"
    assert bluesky.url == "https://bsky.app/profile/did:plc:abc123/post/3kq2xyz"
    assert mastodon.url == "https://fosstodon.org/@ada/1"
