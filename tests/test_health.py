"""/healthz: ok or not for anyone (load balancers, uptime checks); what fails only for staff."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from streamer.models import WorkerStatus
from streamer.status import worker_status_save

pytestmark = pytest.mark.django_db


def worker(**fields) -> None:
    fields = {"state": "connected", "source": "x", "last_error": "database: secret detail", **fields}
    worker_status_save(**fields)


def test_a_streaming_worker_is_ok_and_anyone_sees_only_that(client):
    worker()
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_a_worker_that_cannot_store_is_unhealthy_without_saying_why_in_public(client):
    worker(store_failing_since=timezone.now())
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "unhealthy"})
    assert b"secret detail" not in response.content


def test_staff_see_which_part_fails_and_the_worker_fields(admin_client):
    worker(publish_failing_since=timezone.now(), shedding=True, shed=12)
    body = admin_client.get("/healthz").json()
    assert body["status"] == "unhealthy"
    assert body["failing"] == ["store", "publish"]  # shedding: posts cannot be stored fast enough
    assert (body["worker"]["shed"], body["worker"]["last_error"]) == (12, "database: secret detail")


def test_a_worker_whose_heartbeat_stopped_is_unhealthy_and_staff_see_it_is_the_worker(admin_client):
    worker(store_failing_since=timezone.now())
    WorkerStatus.objects.update(heartbeat_at=timezone.now() - timedelta(minutes=5))  # no heartbeat
    body = admin_client.get("/healthz").json()
    assert (body["status"], body["failing"], body["worker"]["alive"]) == ("unhealthy", ["worker"], False)


def test_a_running_worker_not_connected_to_its_source_is_degraded(client):
    worker(state="reconnecting")
    assert client.get("/healthz").json() == {"status": "degraded"}


def test_a_running_worker_that_cannot_store_is_unhealthy_even_while_reconnecting(client):
    worker(state="reconnecting", store_failing_since=timezone.now())
    assert client.get("/healthz").json() == {"status": "unhealthy"}


def test_a_worker_that_never_ran_is_degraded(admin_client):
    body = admin_client.get("/healthz").json()
    assert (body["status"], body["failing"]) == ("degraded", [])


def test_a_web_process_whose_database_fails_answers_503_without_the_error(client):
    # The database answers every query about the worker with an error (rolled back after the test).
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE streamer_workerstatus")
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (503, {"status": "unhealthy"})
