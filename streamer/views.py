"""The health endpoint: is this web process up, and can the worker store and publish?

For load balancers: 503 only when this web process cannot read its own database, the one fault
that moving its viewers elsewhere can fix. A worker fault says "unhealthy" (it cannot store or
publish, or its heartbeat stopped) or "degraded" (it runs but is not connected to its source) with
200: every web process shares the one worker, so a 503 would take all of them out of the balancer at
once and serve nobody.

Anyone gets the status word only. Staff also get what fails and the worker's fields, which carry
error text and counters.
"""

import logging

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from streamer.models import WorkerStatus
from streamer.status import worker_status_get

logger = logging.getLogger(__name__)

WORKER_FIELDS = [
    "state", "source", "detail", "last_tweet_at", "reconnect_count", "last_error", "last_error_at",
    "received", "stored", "rejected", "unpublished", "dropped", "quarantined", "shed", "shedding",
    "store_failing_since", "publish_failing_since", "started_at", "heartbeat_at",
]  # fmt: skip


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """{"status": "ok" | "degraded" | "unhealthy"}; details for staff (see the module docstring)."""
    try:
        worker = worker_status_get()
    except DatabaseError:
        logger.exception("healthz: the database is unreachable")
        return JsonResponse({"status": "unhealthy"}, status=503)
    failing = worker_failing(worker)
    streaming = worker.is_alive and worker.state in ("connected", "streaming")
    status = "unhealthy" if failing else "ok" if streaming else "degraded"
    body: dict = {"status": status}
    if _is_staff(request):
        body["failing"] = failing
        body["worker"] = {"alive": worker.is_alive, **{name: getattr(worker, name) for name in WORKER_FIELDS}}
    return JsonResponse(body)


def worker_failing(worker: WorkerStatus) -> list[str]:
    """The parts of the data path that fail: "worker", or "store" (also while shedding), "publish".

    "worker": a worker ran (its row has a heartbeat) and its heartbeat went stale. It is gone, or it
    cannot reach the database, where both its posts and its heartbeat go; from here the two look the
    same, and either way nothing is being stored as far as we can tell. Its other fields are as it
    last saved them, so they are not read as failing now. A worker that never ran is "degraded" only:
    a new installation, not an outage.
    """
    if worker.heartbeat_at is not None and not worker.is_alive:
        return ["worker"]
    failing = []
    if worker.store_failing_since is not None or worker.shedding:
        failing.append("store")
    if worker.publish_failing_since is not None:
        failing.append("publish")
    return failing


def _is_staff(request: HttpRequest) -> bool:
    try:
        return request.user.is_staff
    except DatabaseError:  # the session's database went away since the status was read
        return False
