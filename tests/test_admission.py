"""What state a new post takes on each topic it matches: shown, held for approval, or blocked, and why."""

from dataclasses import replace

import pytest

from feed.models import BlockRule, Topic, TopicPost, Tweet
from feed.normalize import normalize
from feed.services import tweets_ingest

from payloads import for_viewers, ingest, x_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def topics() -> dict[str, Topic]:
    return {
        slug: Topic.objects.create(name=slug.title(), slug=slug, query=slug) for slug in ["python", "django"]
    }


def placements() -> dict[tuple[str, str], tuple[str, str]]:
    """(text, topic slug) -> (state, reason) of every stored post."""
    rows = TopicPost.objects.values_list("tweet__text", "topic__slug", "state", "reason")
    return {(text, slug): (state, reason) for text, slug, state, reason in rows}


def test_an_approve_topic_holds_new_posts_and_announces_nothing(topics):
    Topic.objects.filter(slug="python").update(moderation="approve")
    batches = for_viewers(ingest("waits on python, shows on django", tags=["python", "django"]))
    assert [(b.topic_slug, len(b.seqs)) for b in batches] == [("django", 1)]
    assert placements() == {
        ("waits on python, shows on django", "python"): ("pending", ""),
        ("waits on python, shows on django", "django"): ("visible", ""),
    }


def test_a_trusted_account_skips_the_approval_queue(topics):
    Topic.objects.filter(slug="python").update(moderation="approve")
    BlockRule.objects.create(kind="trusted", value="8")
    batches = for_viewers(ingest("from a friend", tags=["python"], author_id="8"))
    assert [b.topic_slug for b in batches] == ["python"]


def test_a_trusted_only_topic_blocks_everyone_else_with_a_reason(topics):
    Topic.objects.filter(slug="python").update(trusted_only=True)
    BlockRule.objects.create(kind="trusted", value="8", topic=topics["python"])
    ingest("from a friend", tags=["python"], author_id="8")
    ingest("from a stranger", tags=["python"], author_id="9")
    assert placements() == {
        ("from a friend", "python"): ("visible", ""),
        ("from a stranger", "python"): ("blocked", "untrusted"),
    }


def test_a_filtered_post_is_stored_blocked_with_the_filters_name_on_that_topic_only(topics):
    Topic.objects.filter(slug="python").update(exclude_reposts=True)
    original = x_message("the original", tags=[])
    repost = x_message("RT @alice: the original", tags=["python", "django"])
    repost["data"]["referenced_tweets"] = [{"type": "retweeted", "id": original["data"]["id"]}]
    batches = for_viewers(tweets_ingest(tweets=[normalize(repost)]))
    assert [b.topic_slug for b in batches] == ["django"]
    assert placements() == {
        ("RT @alice: the original", "python"): ("blocked", "repost"),
        ("RT @alice: the original", "django"): ("visible", ""),
    }


def test_a_trusted_account_skips_filters_but_not_block_rules(topics):
    Topic.objects.filter(slug="python").update(exclude_hashbombs=True, profanity_filter=True)
    BlockRule.objects.create(kind="trusted", value="8")
    BlockRule.objects.create(kind="word", value="spam")
    tweets_ingest(tweets=[normalize(hashbomb("#python #django", author_id="8"))])
    tweets_ingest(tweets=[normalize(hashbomb("#django #python", author_id="9"))])
    ingest("spam from a friend", tags=["python"], author_id="8")
    assert placements() == {
        ("#python #django", "python"): ("visible", ""),
        ("#django #python", "python"): ("blocked", "hashbomb"),
        ("spam from a friend", "python"): ("blocked", 'contains "spam"'),
    }


def hashbomb(text: str, *, author_id: str) -> dict:
    message = x_message(text, tags=["python"], author_id=author_id)
    first, second = text.split()
    message["data"]["entities"] = {
        "hashtags": [{"start": 0, "end": 7, "tag": first[1:]}, {"start": 8, "end": 15, "tag": second[1:]}]
    }
    return message


def test_every_post_is_billed_whatever_its_state(topics):
    Topic.objects.filter(slug="python").update(moderation="approve", exclude_replies=True)
    reply = x_message("a reply", tags=["python"])
    reply["data"]["referenced_tweets"] = [{"type": "replied_to", "id": "1"}]
    tweets_ingest(tweets=[normalize(reply)])
    ingest("waiting", tags=["python"])
    assert Tweet.objects.count() == 2
    assert topics["python"].spend.get(period="hour").posts == 2


def test_a_post_behind_a_content_warning_waits_for_a_moderator_even_on_an_open_topic(topics):
    post = normalize(x_message("the ending of the film", tags=["python"]))
    behind = replace(post, source="mastodon", entities={"spoiler_text": "film spoilers"})
    assert [b for b in tweets_ingest(tweets=[behind]) if b.kind == "tweets"] == []
    assert placements() == {("the ending of the film", "python"): ("pending", "content warning")}
