"""HTML pages. They render a shell; tweets arrive over the WebSocket and the JSON API."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from feed.models import Topic
from feed.selectors import topics_active_with_counts


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "feed/home.html", {"topics": topics_active_with_counts()})


def topic_page(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    return render(request, "feed/topic.html", {"topic": topic})


def topic_wall(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    return render(request, "feed/wall.html", {"topic": topic})
