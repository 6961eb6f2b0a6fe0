"""`{% audience_panel topic "wall" %}`: the topic's hashtags, its posts-per-minute counter (seeded
from the server) and, on the wall, the QR code of the topic page; `{% topic_sparkline topic %}`: its
posts per minute over the last hour. Markup in templates/feed/_audience.html; script in
static/feed/audience.js."""

from django import template
from django.utils.safestring import SafeString

from feed.activity import SPARKLINE_MINUTES, topic_recent_arrivals, topics_posts_per_minute
from feed.audience import qr_svg, sparkline_svg
from feed.models import Topic
from feed.rules import rule_hashtags

register = template.Library()


@register.inclusion_tag("feed/_audience.html", takes_context=True)
def audience_panel(context, topic: Topic, place: str) -> dict:
    """`place` is "wall" (with the QR code, for the wall and its embed) or "page" (the topic page)."""
    rate = topic_recent_arrivals(topic=topic)
    qr = None
    if place == "wall":
        qr = qr_svg(context["request"].build_absolute_uri(topic.get_absolute_url()))
    return {
        "topic": topic,
        "place": place,
        "hashtags": rule_hashtags(topic.query),
        "rate": rate,
        "rate_seconds": ",".join(map(str, rate.seconds)),
        "qr": qr,
    }


@register.simple_tag
def topic_sparkline(topic: Topic | None = None) -> SafeString:
    """The topic's sparkline; without a topic, an empty one (the home page's card template)."""
    counts = topics_posts_per_minute().get(topic.pk) if topic is not None else None
    return sparkline_svg(counts or [0] * SPARKLINE_MINUTES)
