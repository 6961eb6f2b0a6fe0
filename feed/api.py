"""The JSON API: topics with counts, and tweet pages for catch-up and paging."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from feed.models import Topic
from feed.rendering import encode, tweet_wire
from feed.selectors import (
    HISTORY_LIMIT,
    topic_moderation_after,
    topic_slugs,
    topics_active_with_recent_counts,
    tweets_page,
)

MODERATION_API_PAGE = 200


@require_GET
def topics(request: HttpRequest) -> JsonResponse:
    rows = [
        {"slug": t.slug, "name": t.name, "tweet_count": t.tweet_count, "url": t.get_absolute_url()}
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
        "tweets": [tweet_wire(t, topic_slugs(t.topics.all())) for t in rows],
        "has_more": has_more,
    }
    return HttpResponse(encode(body), content_type="application/json")


@require_GET
def topic_moderation(request: HttpRequest, slug: str) -> HttpResponse:
    """`?after=<mark>`: the topic's moderation decisions since then, oldest first.

    A page that was away applies these before it goes live again, so a tweet hidden while it was
    away leaves its screen; a "show" carries the tweet, so one shown again comes back.
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
            "seq": event.tweet_id,
            "id": event.tweet.x_id,
            "tweet": tweet_wire(event.tweet, topic_slugs(event.tweet.topics.all()))
            if event.action == "show"
            else None,
        }
        for event in events[:MODERATION_API_PAGE]
    ]
    return HttpResponse(
        encode({"events": rows, "has_more": len(events) > MODERATION_API_PAGE}),
        content_type="application/json",
    )


def _optional_int(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 18:
        raise ValueError(f"expected a non-negative integer, got {value[:30]!r}")
    return int(value)
