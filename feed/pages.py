"""HTML pages. They render a shell; tweets arrive over the WebSocket and the JSON API."""

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from feed.api import MODERATE_PERMISSION
from feed.budget import budget_warning, topic_pause_notice, topic_spend
from feed.models import Topic
from feed.selectors import topics_active_with_recent_counts
from feed.wall import LOGO_MAX_BYTES, logo_content_type, topic_wall_settings, wall_wire

WALL_THEMES = ("dark", "light")


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "feed/home.html", {"topics": topics_active_with_recent_counts()})


def topic_page(request: HttpRequest, slug: str) -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    return render(request, "feed/topic.html", {"topic": topic, "notice": topic_pause_notice(topic=topic)})


def topic_wall(request: HttpRequest, slug: str, template: str = "feed/wall.html") -> HttpResponse:
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    # `?theme=` picks the first paint; without it the page's script applies the remembered theme.
    theme = request.GET.get("theme") if request.GET.get("theme") in WALL_THEMES else "dark"
    page_url = request.build_absolute_uri(topic.get_absolute_url()).split("://", 1)[-1]
    wall = wall_wire(topic_wall_settings(topic=topic))
    context = {"topic": topic, "theme": theme, "page_url": page_url, "wall": wall}
    return render(request, template, {**context, "notice": topic_pause_notice(topic=topic)})


def topic_embed(request: HttpRequest, slug: str) -> HttpResponse:
    """The wall for an <iframe> on the sites the topic lists (Topic.embed_origins): its CSP's
    frame-ancestors names them (feed/security.py) and it sends no X-Frame-Options; with none listed
    it refuses frames like every other page. Its links open outside the frame."""
    response = topic_wall(request, slug, template="feed/embed.html")
    origins = Topic.objects.values_list("embed_origins", flat=True).get(slug=slug)
    if origins:
        response.frame_ancestors = list(origins)
        response.xframe_options_exempt = True
    return response


def topic_logo(request: HttpRequest, slug: str) -> HttpResponse:
    """The wall's logo, from the storage it was uploaded to, as the image type its bytes say (never
    as the upload claimed: a file that is not a PNG, JPEG or WebP is not served)."""
    settings = topic_wall_settings(topic=get_object_or_404(Topic, slug=slug, is_active=True))
    if not settings.logo:
        raise Http404("this wall has no logo")
    try:
        with settings.logo.open("rb") as logo:
            data = logo.read(LOGO_MAX_BYTES + 1)
    except OSError:  # the file is gone from the storage (a restore without its media)
        raise Http404("this wall's logo file is missing") from None
    content_type = logo_content_type(data)
    if content_type is None or len(data) > LOGO_MAX_BYTES:
        raise Http404("this wall's logo is not an image it may show")
    response = HttpResponse(data, content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"  # the URL changes with the settings
    return response


def topic_moderate(request: HttpRequest, slug: str) -> HttpResponse:
    """The moderators' page: a shell; posts arrive over the moderation socket, decisions go to the API.

    Staff log in through the admin, so that is where an anonymous visitor is sent.
    """
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    if not request.user.has_perm(MODERATE_PERMISSION):
        raise PermissionDenied(f"you need the {MODERATE_PERMISSION} permission")
    topic = get_object_or_404(Topic, slug=slug, is_active=True)
    # As the admin warns: at 80% of a budget, and while the topic is paused on X (read at page load).
    warning = budget_warning(topic_spend(topic=topic))
    return render(request, "feed/moderate.html", {"topic": topic, "budget_warning": warning})
