"""HTML pages. They render a shell; tweets arrive over the WebSocket and the JSON API."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from feed.budget import topic_pause_notice
from feed.models import Topic
from feed.selectors import topics_active_with_recent_counts

WALL_THEMES = ("dark", "light")


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "feed/home.html", {"topics": topics_active_with_recent_counts()})


def topic_page(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    return render(request, "feed/topic.html", {"topic": topic, "notice": topic_pause_notice(topic=topic)})


def topic_wall(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    # `?theme=` picks the first paint; without it the page's script applies the remembered theme.
    theme = request.GET.get("theme") if request.GET.get("theme") in WALL_THEMES else "dark"
    page_url = request.build_absolute_uri(topic.get_absolute_url()).split("://", 1)[-1]
    context = {"topic": topic, "theme": theme, "page_url": page_url}
    return render(request, "feed/wall.html", {**context, "notice": topic_pause_notice(topic=topic)})
