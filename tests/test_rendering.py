"""Rendering a post as HTML: escaped text, and hashtags, mentions and links to the post's own network."""

from feed.rendering import tweet_html


def test_tags_and_mentions_link_to_the_posts_own_network():
    entities = {
        "hashtags": [{"start": 0, "end": 7, "tag": "python"}],
        "mentions": [{"start": 8, "end": 12, "username": "ada"}],
    }
    on_bluesky = tweet_html("#python @ada", entities, "bluesky")
    assert 'href="https://bsky.app/hashtag/python"' in on_bluesky
    assert 'href="https://bsky.app/profile/ada"' in on_bluesky
    # A mention that carries its own page (a Mastodon account on its server) links there, http(s) only.
    own = {"mentions": [{"start": 0, "end": 4, "username": "ada", "url": "https://fosstodon.org/@ada"}]}
    assert 'href="https://fosstodon.org/@ada"' in tweet_html("@ada", own, "mastodon")
    hostile = {"mentions": [{"start": 0, "end": 4, "username": "ada", "url": "javascript:alert(1)"}]}
    assert "javascript" not in tweet_html("@ada", hostile, "mastodon")


def test_a_posts_own_custom_emoji_show_as_images_https_only():
    emojis = [
        {"start": 6, "end": 13, "shortcode": "blobcat", "url": "https://files.example/blobcat.png"},
        {"start": 14, "end": 18, "shortcode": "bad", "url": "javascript:alert(1)"},
    ]
    html = tweet_html("hello :blobcat: :bad:", {"emojis": emojis}, "mastodon")
    assert '<img class="emoji" src="https://files.example/blobcat.png" alt=":blobcat:"' in html
    assert "javascript" not in html and ":bad:" in html


def test_a_post_behind_a_content_warning_is_folded_behind_it():
    html = tweet_html("the plot twist <b>", {"spoiler_text": "Spoilers <3"}, "mastodon")
    assert (
        html
        == '<details class="tweet__cw"><summary>Spoilers &lt;3</summary>the plot twist &lt;b&gt;</details>'
    )
