"""What a post refers to, in one shape for every network (feed/references.py): the post it quotes,
whom it answers, who reposted it; stored with the post and sent in the tweet shape."""

from feed.mastodon import status_post
from feed.models import BlockRule, Topic, TopicPost
from feed.normalize import normalize
from feed.selectors import topic_history_items
from feed.services import tweets_ingest

from payloads import x_message


def _x_quoting(quoted_text: str = "The original") -> dict:
    message = x_message("Worth reading #python", tags=["python"])
    message["data"]["referenced_tweets"] = [{"type": "quoted", "id": "1700"}]
    message["includes"]["tweets"] = [{"id": "1700", "text": quoted_text, "author_id": "99"}]
    message["includes"]["users"].append(
        {"id": "99", "username": "grace", "name": "Grace", "profile_image_url": "javascript:alert(1)"}
    )
    return message


def test_an_x_quote_is_read_from_the_included_tweet_and_its_author():
    assert normalize(_x_quoting()).quote == {
        "id": "1700",
        "source": "x",
        "url": "https://x.com/grace/status/1700",
        "text": "The original",
        "author": {"username": "grace", "name": "Grace", "avatar_url": ""},  # not an https avatar
        "media": [],
    }


def test_a_quote_x_could_not_find_is_a_link_to_it():
    message = _x_quoting()
    message["includes"].pop("tweets")
    quote = normalize(message).quote
    assert (quote["url"], quote["text"], quote["author"]["username"]) == (
        "https://x.com/i/web/status/1700",
        "",
        "",
    )


def test_a_post_that_quotes_nothing_has_no_quote():
    assert normalize(x_message("plain #python", tags=["python"])).quote is None


def _status(quote: dict | None) -> dict:
    return {
        "uri": "https://a.example/users/al/statuses/1",
        "content": "<p>Quoting</p>",
        "account": {"id": "1", "acct": "al", "url": "https://a.example/@al"},
        "quote": quote,
    }


def test_a_mastodon_quote_is_shown_only_once_the_quoted_author_accepted():
    quoted = {
        "uri": "https://b.example/users/bo/statuses/9",
        "url": "https://b.example/@bo/9",
        "content": "<p>Original <b>words</b></p>",
        "account": {"id": "2", "acct": "bo@b.example", "display_name": "Bo", "url": "https://b.example/@bo"},
    }
    card = status_post(_status({"state": "accepted", "quoted_status": quoted})).quote
    assert (card["url"], card["text"], card["author"]["username"]) == (
        "https://b.example/@bo/9",
        "Original words",
        "bo@b.example",
    )
    assert status_post(_status({"state": "pending", "quoted_status": quoted})).quote is None
    assert status_post(_status({"state": "accepted", "quoted_status_id": "9"})).quote is None
    assert status_post(_status(None)).quote is None


def test_the_quote_is_stored_and_sent_with_the_post(db):
    Topic.objects.create(name="Python", slug="python", query="python")
    tweets_ingest(tweets=[normalize(_x_quoting('<script>alert("x")</script>'))])
    _, [(_, item)], _ = topic_history_items(slug="python")
    assert '"quote":{"id":"1700","source":"x"' in item
    assert '"text":"<script>alert(\\"x\\")</script>"' in item  # plain text: the page sets it as text


def _x_repost() -> dict:
    message = x_message("RT @grace: The original, in full, longer than X's cut…", tags=["python"])
    message["data"]["referenced_tweets"] = [{"type": "retweeted", "id": "1700"}]
    original = {
        "id": "1700",
        "text": "The original, in full #python",
        "author_id": "99",
        "entities": {"hashtags": [{"start": 22, "end": 29, "tag": "python"}]},
    }
    message["includes"]["tweets"] = [original]
    message["includes"]["users"].append({"id": "99", "username": "grace", "name": "Grace"})
    return message


def test_an_x_repost_is_shown_as_the_original_with_who_reposted_it():
    post = normalize(_x_repost())
    assert (post.text, post.author_username, post.author_id) == (
        "The original, in full #python",
        "grace",
        "99",
    )
    assert post.entities["hashtags"] == [{"start": 22, "end": 29, "tag": "python"}]
    assert post.reposted_by == {"username": "alice", "name": "Alice", "url": "https://x.com/alice"}


def test_blocking_an_account_blocks_its_reposts_too(db):
    reposter_id = _x_repost()["data"]["author_id"]
    BlockRule.objects.create(kind=BlockRule.Kind.AUTHOR, value=reposter_id)
    Topic.objects.create(name="Python", slug="python", query="python")
    tweets_ingest(tweets=[normalize(_x_repost())])
    assert TopicPost.objects.get().state == "blocked"


def test_an_x_reply_names_whom_it_answers():
    message = x_message("@grace agreed #python", tags=["python"])
    message["data"]["referenced_tweets"] = [{"type": "replied_to", "id": "1700"}]
    message["includes"]["tweets"] = [{"id": "1700", "text": "Thoughts?", "author_id": "99"}]
    message["includes"]["users"].append({"id": "99", "username": "grace", "name": "Grace"})
    assert normalize(message).reply_to == {"username": "grace", "url": "https://x.com/grace/status/1700"}


def test_a_mastodon_boost_and_reply_say_who_boosted_and_whom_it_answers():
    original = _status(None) | {
        "uri": "https://b.example/users/bo/statuses/9",
        "in_reply_to_id": "5",
        "in_reply_to_account_id": "7",
        "mentions": [{"id": "7", "acct": "cy@c.example", "url": "https://c.example/@cy"}],
    }
    boost = {
        "uri": "https://a.example/users/al/statuses/10/activity",
        "content": "",
        "reblog": original,
        "account": {"id": "3", "acct": "dee", "display_name": "Dee", "url": "https://a.example/@dee"},
    }
    post = status_post(boost)
    assert post.reposted_by == {"username": "dee@a.example", "name": "Dee", "url": "https://a.example/@dee"}
    assert post.reply_to == {"username": "cy@c.example", "url": "https://c.example/@cy"}
