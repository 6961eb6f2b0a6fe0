"""The home page's and /api/topics/'s counts: one counting query a second per process, however many ask."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from feed.models import Topic
from feed.selectors import TOPIC_COUNTS_MAX_AGE_S, recent_topic_counts

from conftest import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    recent_topic_counts.clear()
    yield
    recent_topic_counts.clear()


def counting_queries(queries: CaptureQueriesContext) -> list[str]:
    """The tweet counts' queries (the sparklines' have a cache of their own: tests/test_audience.py)."""
    return [
        query["sql"]
        for query in queries
        if "COUNT(" in query["sql"].upper() and "tweet_count" in query["sql"]
    ]


def test_many_requests_within_a_second_cost_one_counting_query(client):
    Topic.objects.create(name="Python", slug="python", query="python")
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(25):
            assert client.get("/").status_code == 200
            assert client.get("/api/topics/").json()["topics"][0]["tweet_count"] == 0
    seconds = time.monotonic() - started
    # One count, and one more per TOPIC_COUNTS_MAX_AGE_S gone by (none on a machine that serves 50
    # requests in a second); without the cache, one per request.
    assert 1 <= len(counting_queries(queries)) <= 1 + seconds // TOPIC_COUNTS_MAX_AGE_S


def test_a_new_topic_shows_once_the_counts_are_a_second_old(client):
    assert client.get("/api/topics/").json()["topics"] == []
    Topic.objects.create(name="Python", slug="python", query="python")
    assert wait_until(
        lambda: client.get("/api/topics/").json()["topics"] != [], timeout=3 * TOPIC_COUNTS_MAX_AGE_S
    )
