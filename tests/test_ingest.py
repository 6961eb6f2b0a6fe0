"""Storing tweets: what goes out live is what the database serves later."""

import json

import pytest

from feed.models import Topic

from payloads import ingest

pytestmark = pytest.mark.django_db


def test_a_tweet_goes_out_live_exactly_as_the_api_serves_it_later(client):
    # Names sort the other way round from slugs: the topics list follows the names, as on read-back.
    Topic.objects.create(name="Zope", slug="a-zope", query="zope")
    Topic.objects.create(name="Django", slug="b-django", query="django")

    batches = ingest("zope and django at the sprint", tags=["a-zope", "b-django"])

    assert sorted(b.topic_slug for b in batches) == ["a-zope", "b-django"]
    served = client.get("/api/topics/a-zope/tweets/").json()["tweets"]
    assert [json.loads(b.items[0]) for b in batches] == served * 2
    assert served[0]["topics"] == ["b-django", "a-zope"]


def test_a_tweet_seen_twice_is_stored_and_announced_once():
    Topic.objects.create(name="Python", slug="python", query="python")

    first = ingest("hello", tags=["python"], tweet_id="1862000000000000999")
    again = ingest("hello", tags=["python"], tweet_id="1862000000000000999")

    assert [len(b.seqs) for b in first] == [1]
    assert again == []
