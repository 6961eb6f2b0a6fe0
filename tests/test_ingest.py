"""Storing tweets: what goes out live is what the database serves later."""

import json
import threading

import pytest
from django.db import connection

from feed.models import Topic, Tweet

from payloads import ingest

pytestmark = pytest.mark.django_db


def test_a_tweet_goes_out_live_exactly_as_the_api_serves_it_later(client):
    # Names sort unlike slugs, and a lowercase name sorts differently under a database collation.
    Topic.objects.create(name="Zope", slug="a-zope", query="zope")
    Topic.objects.create(name="Django", slug="b-django", query="django")
    Topic.objects.create(name="asyncio", slug="c-asyncio", query="asyncio")

    batches = ingest("zope, django and asyncio at the sprint", tags=["a-zope", "b-django", "c-asyncio"])

    assert sorted(b.topic_slug for b in batches) == ["a-zope", "b-django", "c-asyncio"]
    served = client.get("/api/topics/a-zope/tweets/").json()["tweets"]
    assert [json.loads(b.items[0]) for b in batches] == served * 3
    assert served[0]["topics"] == ["b-django", "a-zope", "c-asyncio"]


def test_a_tweet_seen_twice_is_stored_and_announced_once():
    Topic.objects.create(name="Python", slug="python", query="python")

    first = ingest("hello", tags=["python"], tweet_id="1862000000000000999")
    again = ingest("hello", tags=["python"], tweet_id="1862000000000000999")

    assert [len(b.seqs) for b in first] == [1]
    assert again == []


@pytest.mark.postgres_only  # SQLite serialises writers: the second one waits instead of racing
@pytest.mark.django_db(transaction=True)
def test_a_tweet_another_writer_stores_first_is_announced_by_that_writer_only():
    Topic.objects.create(name="Python", slug="python", query="python")
    tweet_id = "1862000000000000777"

    def other_writer_first(execute, sql, params, many, context):
        # Just before our INSERT, another connection stores and commits the same tweet.
        if sql.startswith('INSERT INTO "feed_tweet" ') and not raced:
            raced.extend(ingest_in_thread())
        return execute(sql, params, many, context)

    def ingest_in_thread():
        result = []
        thread = threading.Thread(target=lambda: result.extend(_ingest_and_close(tweet_id)))
        thread.start()
        thread.join()
        return result

    raced: list = []
    with connection.execute_wrapper(other_writer_first):
        ours = ingest("hello", tags=["python"], tweet_id=tweet_id)

    assert [len(b.seqs) for b in raced] == [1]
    assert ours == []
    assert Tweet.objects.filter(x_id=tweet_id).count() == 1


def _ingest_and_close(tweet_id: str):
    try:
        return ingest("hello", tags=["python"], tweet_id=tweet_id)
    finally:
        connection.close()
