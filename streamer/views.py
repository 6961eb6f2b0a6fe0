"""The health endpoint: is this web process up, and how is the worker doing?"""

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from streamer.status import worker_status_get

WORKER_FIELDS = [
    "state", "source", "detail", "last_tweet_at", "reconnect_count", "last_error", "last_error_at",
    "received", "stored", "rejected", "unpublished", "dropped", "started_at", "heartbeat_at",
]  # fmt: skip


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 while this web process serves; `status` is "degraded" when the worker is not streaming.

    Load balancers check the HTTP status; dashboards and alerts read `status` and `worker`.
    """
    try:
        worker = worker_status_get()
    except DatabaseError as error:
        return JsonResponse({"status": "degraded", "worker": {"error": f"database: {error}"[:300]}})
    streaming = worker.is_alive and worker.state in ("connected", "streaming")
    body = {
        "status": "ok" if streaming else "degraded",
        "worker": {"alive": worker.is_alive, **{name: getattr(worker, name) for name in WORKER_FIELDS}},
    }
    return JsonResponse(body)
