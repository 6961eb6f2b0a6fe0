"""The JSON API: topics with counts, tweet pages for catch-up and paging, and moderators' queue and
decisions (staff only, by session and CSRF token)."""

import json
import logging
import time

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from feed.activity import SPARKLINE_MINUTES, topic_recent_arrivals, topics_posts_per_minute
from feed.budget import topic_pause_notice
from feed.models import Topic
from feed.moderation import DecisionRefused, posts_decide
from feed.publishing import publish_batches_sync
from feed.rendering import encode
from feed.selectors import (
    HISTORY_LIMIT,
    carries_post,
    moderation_wire,
    post_wire,
    topic_moderation_after,
    topic_pending_posts,
    topics_active_with_recent_counts,
    tweets_page,
)
from feed.wall import topic_wall_settings, wall_wire

logger = logging.getLogger(__name__)

MODERATE_PERMISSION = "feed.moderate_topic"

MODERATION_API_PAGE = 200


@require_GET
def topics(request: HttpRequest) -> JsonResponse:
    """Active topics, their tweet counts and their visible posts per minute over the last hour
    (`per_minute`, oldest first, the current minute last: the home page's sparklines)."""
    activity = topics_posts_per_minute()
    rows = [
        {
            "slug": t.slug,
            "name": t.name,
            "tweet_count": t.tweet_count,
            "url": t.get_absolute_url(),
            "per_minute": activity.get(t.pk, [0] * SPARKLINE_MINUTES),
        }
        for t in topics_active_with_recent_counts()
    ]
    return JsonResponse({"topics": rows})


@require_GET
def topic_tweets(request: HttpRequest, slug: str) -> HttpResponse:
    """`?after=<seq>` pages forward from a seq (catch-up); `?before=<seq>` pages back."""
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    try:
        after = _optional_int(request.GET.get("after"))
        before = _optional_int(request.GET.get("before"))
        limit = _optional_int(request.GET.get("limit")) or HISTORY_LIMIT
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    rows, has_more = tweets_page(topic=topic, after=after, before=before, limit=limit)
    body = {
        "tweets": [post_wire(post) for post in rows],
        "has_more": has_more,
    }
    return HttpResponse(encode(body), content_type="application/json")


@require_GET
def topic_moderation(request: HttpRequest, slug: str) -> HttpResponse:
    """`?after=<mark>`: the topic's moderation decisions since then, oldest first.

    A page that was away applies these before it goes live again, so a tweet hidden while it was
    away leaves its screen; a "show", "pin" or "edit" carries the tweet as it is now, so one shown
    again comes back and an edited one is replaced.
    """
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    try:
        after = _optional_int(request.GET.get("after")) or 0
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=400)
    events = topic_moderation_after(topic=topic, after=after, limit=MODERATION_API_PAGE + 1)
    rows = [
        {
            "mod": event.pk,
            "action": event.action,
            "seq": post.pk,
            "id": post.tweet.network_id,
            "tweet": post_wire(post) if carries_post(event, post) else None,
        }
        for event, post in events[:MODERATION_API_PAGE]
    ]
    return HttpResponse(
        encode({"events": rows, "has_more": len(events) > MODERATION_API_PAGE}),
        content_type="application/json",
    )


@require_GET
def topic_status(request: HttpRequest, slug: str) -> JsonResponse:
    """Whether the topic's rule is paused for its budget, and until when, and its wall's settings
    (a wall that missed a live change applies them from here); pages poll it every 30 s (feed.js)."""
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    return JsonResponse(
        {**topic_pause_notice(topic=topic), "wall": wall_wire(topic_wall_settings(topic=topic))}
    )


@require_GET
def server_time(request: HttpRequest) -> JsonResponse:
    """The server's clock in ms since the epoch: walls time their spotlight by it, so every screen
    shows the same post at the same moment whatever its own clock says."""
    return JsonResponse({"now": time.time_ns() // 1_000_000})


@require_GET
def topic_rate(request: HttpRequest, slug: str) -> JsonResponse:
    """The seed of a page's posts-per-minute counter: `{"seq", "seconds", "per_minute"}`, the topic's
    visible posts of the last minute by second (`seconds[i]`: i to i+1 s ago), up to seq `seq`. A
    page reads it again after a reconnect (static/feed/audience.js)."""
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    recent = topic_recent_arrivals(topic=topic)
    return JsonResponse({"seq": recent.seq, "seconds": recent.seconds, "per_minute": recent.per_minute})


@require_GET
def topic_queue(request: HttpRequest, slug: str) -> JsonResponse:
    """The topic's posts waiting for approval, oldest first, with their `post_id`s."""
    topic, refusal = _moderated_topic(request, slug)
    if refusal is not None:
        return refusal
    rows = [moderation_wire(post) for post in topic_pending_posts(topic=topic)]
    return HttpResponse(encode({"tweets": rows}), content_type="application/json")


@csrf_exempt  # only from the middleware's check: the view runs Django's own, so a refusal is JSON too
@require_POST
def topic_decisions(request: HttpRequest, slug: str) -> JsonResponse:
    """`{"action", "post_ids"}`: decide about posts of the topic; each post's state comes back."""
    topic, refusal = _moderated_topic(request, slug)
    if refusal is None:
        refusal = _JsonCsrfCheck(_no_response).process_view(request, None, (), {})
    if refusal is not None:
        return refusal
    try:
        action, post_ids = _decision_body(request.body)
        decided = posts_decide(topic=topic, action=action, post_ids=post_ids, moderator=request.user)
    except DecisionRefused as error:
        return JsonResponse({"error": str(error)}, status=400)
    body: dict = {"results": [vars(result) for result in decided.results]}
    try:
        publish_batches_sync(decided.batches)
    except Exception as error:
        # Stored already: web processes poll for decisions every 2 s, so pages still catch up.
        logger.warning("decisions on %s stored but not published: %r", slug, error)
        body["warning"] = f"saved, but open pages were not told at once ({error!r}); they catch up in seconds"
    return JsonResponse(body)


def _moderated_topic(request: HttpRequest, slug: str) -> tuple[Topic | None, JsonResponse | None]:
    """The topic, or the JSON refusal: 403 before 404, and never a redirect to a login page."""
    if not request.user.is_authenticated:
        return None, JsonResponse({"error": "log in first: this API uses the staff session"}, status=403)
    if not request.user.has_perm(MODERATE_PERMISSION):
        return None, JsonResponse({"error": f"you need the {MODERATE_PERMISSION} permission"}, status=403)
    topic = Topic.objects.filter(slug=slug).first()
    if topic is None:
        return None, JsonResponse({"error": f"no topic {slug!r}"}, status=404)
    return topic, None


class _JsonCsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check (token, Origin, Referer), refusing with a JSON 403 instead of a page."""

    def _reject(self, request: HttpRequest, reason: str) -> JsonResponse:
        logger.warning("CSRF refused on %s: %s", request.path, reason)
        return JsonResponse({"error": f"CSRF check failed: {reason}"}, status=403)


def _no_response(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the CSRF check is only asked about a request, never to answer it")


def _decision_body(raw: bytes) -> tuple[str, list[int]]:
    """The action and post ids of a decision request; DecisionRefused says what is wrong."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DecisionRefused(f"the body is not JSON: {error}") from None
    if not isinstance(body, dict) or not isinstance(body.get("action"), str):
        raise DecisionRefused('expected {"action": "...", "post_ids": [...]}')
    post_ids = body.get("post_ids")
    # bool is an int in Python, and true is not a post; past a bigint PostgreSQL would refuse the query.
    if not isinstance(post_ids, list) or not all(type(pk) is int and 0 < pk < 2**63 for pk in post_ids):
        raise DecisionRefused("post_ids must be a list of positive integers (the posts' post_id)")
    return body["action"], post_ids


def _optional_int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValueError(f"expected a non-negative integer, got {value[:30]!r}")
    return int(value)
