"""Storing tweets: what goes out live is what the database serves later."""

import json
import threading

import pytest
from django.db import connection, connections

from feed.models import Topic, Tweet

from conftest import wait_until
from payloads import for_viewers, ingest

pytestmark = pytest.mark.django_db


def test_a_tweet_goes_out_live_exactly_as_the_api_serves_it_later(client):
    # Names sort unlike slugs, and a lowercase name sorts differently under a database collation.
    Topic.objects.create(name="Zope", slug="a-zope", query="zope")
    Topic.objects.create(name="Django", slug="b-django", query="django")
    Topic.objects.create(name="asyncio", slug="c-asyncio", query="asyncio")

    batches = for_viewers(
        ingest("zope, django and asyncio at the sprint", tags=["a-zope", "b-django", "c-asyncio"])
    )

    assert sorted(b.topic_slug for b in batches) == ["a-zope", "b-django", "c-asyncio"]
    for batch in batches:  # each topic gives the tweet its own place (seq) there
        served = client.get(f"/api/topics/{batch.topic_slug}/tweets/").json()["tweets"]
        assert [json.loads(item) for item in batch.items] == served
        assert served[0]["topics"] == ["b-django", "a-zope", "c-asyncio"]
    assert len({b.seqs[0] for b in batches}) == 3


def test_a_tweet_seen_twice_is_stored_and_announced_once():
    Topic.objects.create(name="Python", slug="python", query="python")

    first = for_viewers(ingest("hello", tags=["python"], tweet_id="1862000000000000999"))
    again = ingest("hello", tags=["python"], tweet_id="1862000000000000999")

    assert [len(b.seqs) for b in first] == [1]
    assert again == []


@pytest.mark.postgres_only  # SQLite serialises writers by itself
@pytest.mark.django_db(transaction=True)
def test_a_second_writer_of_the_same_tweet_waits_for_the_first_and_announces_nothing():
    """Ingest locks its topics, as moderators' approvals do, so a topic's seqs commit in order; a
    second writer of the same tweet waits on that lock, then finds the tweet stored."""
    Topic.objects.create(name="Python", slug="python", query="python")
    tweet_id = "1862000000000000777"
    theirs: list = []
    other = threading.Thread(target=lambda: theirs.extend(_ingest_and_close(tweet_id)))

    def other_writer_arrives(execute, sql, params, many, context):
        # Just before our INSERT, with the topic locked, another connection tries the same tweet.
        if sql.startswith('INSERT INTO "feed_tweet" ') and not other.is_alive():
            other.start()
            assert wait_until(_one_connection_waits_for_a_lock, timeout=10)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(other_writer_arrives):
        ours = ingest("hello", tags=["python"], tweet_id=tweet_id)
    other.join(10)

    assert [len(b.seqs) for b in for_viewers(ours)] == [1]
    assert theirs == []
    assert Tweet.objects.filter(network_id=tweet_id).count() == 1


def _one_connection_waits_for_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        # Asked from inside our transaction, which would otherwise see its first snapshot of the view.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] == 1


def _ingest_and_close(tweet_id: str):
    try:
        return ingest("hello", tags=["python"], tweet_id=tweet_id)
    finally:
        connection.close()
