"""A web process holds a bounded number of PostgreSQL connections, however many requests it serves."""

import urllib.request

import pytest
from django.db import connection

from feed.models import Topic

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


def connections_to_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_many_requests_share_the_pool_instead_of_leaving_a_connection_each(start_server):
    Topic.objects.create(name="Python", slug="python", query="python")
    before = connections_to_test_database()
    server = start_server("uvicorn", DATABASE_POOL_MAX_SIZE="3")

    for _ in range(40):  # each request runs in a thread of its own under ASGI
        for path in ("/healthz", "/api/topics/", "/api/topics/python/tweets/"):
            with urllib.request.urlopen(server.url + path, timeout=10) as response:
                assert response.status == 200

    assert connections_to_test_database() - before <= 3
