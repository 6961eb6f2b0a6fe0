"""The audience's way in, on the server: the rule's hashtags and a QR code on the wall, the
posts-per-minute counter's seed, and the sparklines of the home page and the admin (one grouped
query for every topic, cached)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import segno
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from feed.activity import (
    SPARKLINE_MINUTES,
    recent_arrivals,
    topic_recent_arrivals,
    topics_activity,
    topics_posts_per_minute,
)
from feed.audience import qr_svg, sparkline_points, sparkline_svg
from feed.models import Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.rules import rule_hashtags

from payloads import ingest

NOW = datetime(2026, 12, 8, 14, 30, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_activity():
    topics_activity.clear()
    recent_arrivals.clear()
    yield
    topics_activity.clear()
    recent_arrivals.clear()


def _aged(texts: list[str], slug: str, *, seconds: float, now: datetime | None = None) -> None:
    """Store posts on topic `slug` and date their arrival `seconds` before `now` (default: now)."""
    ingest(*texts, tags=[slug])
    arrived = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    TopicPost.objects.filter(topic__slug=slug, tweet__text__in=texts).update(created_at=arrived)


# --- The rule's hashtags -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "tags"),
    [
        ("#PyCon", ["#PyCon"]),
        ('#PyCon OR (#Django -#spam) "#not a tag" python', ["#PyCon", "#Django"]),
        ("python -(#ads OR #spam) #ok", ["#ok"]),
        ("#PyCon #pycon #PYCON", ["#PyCon"]),  # one tag, as first written
        ("＃PyCon2026 lang:en", ["#PyCon2026"]),  # a full-width hash is a hashtag on X too
        ("python OR django", []),
        ("(#unclosed", []),  # an invalid rule has no hashtags to show
    ],
)
def test_a_rules_hashtags_are_its_positive_ones_as_written(rule, tags):
    assert rule_hashtags(rule) == tags


# --- The wall: name, hashtags, QR code -----------------------------------------------------------
@pytest.mark.django_db
def test_the_wall_shows_the_topics_name_hashtags_and_a_qr_code_of_the_topic_page(client):
    Topic.objects.create(name="PyCon Live", slug="pycon", query="#PyCon OR #PyConUS -#spam")
    html = client.get("/topics/pycon/wall/").content.decode()
    assert "PyCon Live" in html
    tags = re.findall(r'<li class="audience__tag">([^<]*)</li>', html)
    assert tags == ["#PyCon", "#PyConUS"]
    qr = re.search(r'<figure class="audience__qr"[^>]*>(.*?)</figure>', html, re.S)
    assert qr is not None
    assert qr.group(1).count("<svg") == 1
    assert qr_svg("http://testserver/topics/pycon/") in html  # the page's absolute URL


@pytest.mark.django_db
def test_the_topic_page_shows_the_hashtags_and_counter_but_no_qr_code(client):
    Topic.objects.create(name="PyCon Live", slug="pycon", query="#PyCon")
    html = client.get("/topics/pycon/").content.decode()
    assert '<li class="audience__tag">#PyCon</li>' in html
    assert "data-rate " in html or "data-rate>" in html
    assert "audience__qr" not in html


def test_the_qr_code_is_inline_svg_of_the_url_and_nothing_else():
    url = "https://wall.example.org/topics/pycon/"
    svg = qr_svg(url)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<script" not in svg and "style=" not in svg
    assert 'viewBox="0 0 ' in svg
    assert f'aria-label="QR code: {url}"' in svg
    # The modules drawn are segno's QR code of exactly this URL, with its quiet zone (the browser
    # test decodes the picture on the wall).
    size = len(segno.make(url, error="m", micro=False).matrix) + 2 * 4
    assert f'viewBox="0 0 {size} {size}"' in svg


def test_the_qr_code_escapes_the_url_in_its_label():
    assert 'aria-label="QR code: https://a.example/?a=1&amp;b=&lt;x&gt;"' in qr_svg(
        "https://a.example/?a=1&b=<x>"
    )


# --- The posts-per-minute counter's seed ---------------------------------------------------------
@pytest.mark.django_db
def test_the_counter_seed_counts_the_topics_visible_posts_of_the_last_minute_by_second():
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    Topic.objects.create(name="Other", slug="other", query="other")
    _aged(["old one"], "pycon", seconds=90)
    _aged(["half a minute ago"], "pycon", seconds=30.5)
    _aged(["just now 1", "just now 2"], "pycon", seconds=0.2)
    _aged(["elsewhere"], "other", seconds=1)
    _aged(["hidden"], "pycon", seconds=2)
    tweets_set_hidden(tweets=Tweet.objects.filter(text="hidden"), hidden=True)
    pycon = Topic.objects.get(slug="pycon")
    recent = topic_recent_arrivals(topic=pycon)
    newest_visible = TopicPost.objects.filter(topic=pycon, state="visible").order_by("-pk").first()
    assert recent.seq == newest_visible.pk
    assert len(recent.seconds) == 60
    assert sum(recent.seconds) == 3
    assert recent.seconds[0] == 2 and recent.seconds[30] == 1


@pytest.mark.django_db
def test_the_topic_page_and_wall_carry_the_seed_and_show_the_count(client):
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    _aged(["a", "b", "c"], "pycon", seconds=5)
    _aged(["gone"], "pycon", seconds=61)
    seq = TopicPost.objects.filter(topic__slug="pycon").order_by("-pk").first().pk
    for url in ["/topics/pycon/", "/topics/pycon/wall/"]:
        html = client.get(url).content.decode()
        node = re.search(r"<p [^>]*data-rate[ >][^>]*>", html).group()
        assert f'data-rate-seq="{seq}"' in node
        seconds = re.search(r'data-rate-seconds="([^"]*)"', node).group(1).split(",")
        assert len(seconds) == 60 and sum(map(int, seconds)) == 3
        assert f'data-rate-url="{reverse("api-topic-rate", args=["pycon"])}"' in node
        assert re.search(r"<span [^>]*data-rate-value[^>]*>3</span>", html)


@pytest.mark.django_db
def test_the_rate_api_gives_a_reconnecting_page_a_fresh_seed(client):
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    _aged(["a", "b"], "pycon", seconds=10)
    body = client.get("/api/topics/pycon/rate/").json()
    assert body["seq"] == TopicPost.objects.filter(topic__slug="pycon").order_by("-pk").first().pk
    assert len(body["seconds"]) == 60 and body["seconds"][10] == 2
    assert body["per_minute"] == 2
    assert client.get("/api/topics/nope/rate/").status_code == 404


@pytest.mark.django_db
def test_a_topic_with_no_posts_has_a_zero_seed():
    topic = Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    recent = topic_recent_arrivals(topic=topic)
    assert recent.seq == 0 and recent.seconds == [0] * 60


@pytest.mark.django_db
def test_the_seed_is_counted_at_most_once_a_second_per_topic(client):
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            client.get("/api/topics/pycon/rate/")
    post_queries = [q["sql"] for q in queries if "feed_topicpost" in q["sql"]]
    assert 1 <= len(post_queries) <= 4  # two per count (the mark, then the arrivals); 10 requests


# --- Sparklines: posts per minute over the last hour ---------------------------------------------
@pytest.mark.django_db
def test_posts_per_minute_over_the_hour_for_every_topic_in_one_grouped_query():
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    Topic.objects.create(name="Django", slug="django", query="django")
    Topic.objects.create(name="Quiet", slug="quiet", query="quiet")
    _aged(["this minute"], "pycon", seconds=10, now=NOW)  # 14:30:10, the current minute
    _aged(["last minute 1", "last minute 2"], "pycon", seconds=30, now=NOW)  # 14:29:50
    _aged(["59 minutes ago"], "pycon", seconds=59 * 60, now=NOW)  # 13:31:20, the oldest bucket
    _aged(["an hour ago"], "pycon", seconds=60 * 60, now=NOW)  # 13:30:20: out
    _aged(["django 5 minutes ago"], "django", seconds=5 * 60, now=NOW)
    with CaptureQueriesContext(connection) as queries:
        counts = topics_posts_per_minute(now=NOW)
    assert len([q for q in queries if "feed_topicpost" in q["sql"]]) == 2  # closed minutes, this one
    pycon, django = Topic.objects.get(slug="pycon").pk, Topic.objects.get(slug="django").pk
    assert len(counts[pycon]) == SPARKLINE_MINUTES == 60
    assert counts[pycon][-1] == 1 and counts[pycon][-2] == 2 and counts[pycon][0] == 1
    assert sum(counts[pycon]) == 4
    assert counts[django][-6] == 1 and sum(counts[django]) == 1
    assert Topic.objects.get(slug="quiet").pk not in counts  # no posts: no row; callers use zeros


@pytest.mark.django_db
def test_closed_minutes_are_counted_once_a_minute_and_the_current_one_once_a_second():
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    topics_posts_per_minute(now=NOW)
    with CaptureQueriesContext(connection) as queries:
        topics_posts_per_minute(now=NOW + timedelta(seconds=0.5))
    assert queries.captured_queries == []
    with CaptureQueriesContext(connection) as queries:
        topics_posts_per_minute(now=NOW + timedelta(seconds=2))  # the same minute
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        topics_posts_per_minute(now=NOW + timedelta(seconds=45))  # 14:31:05, a new minute
    assert len(queries) == 2


def test_a_sparkline_is_an_svg_polyline_scaled_to_its_peak():
    counts = [0] * 58 + [4, 2]
    points = sparkline_points(counts)
    pairs = [tuple(map(float, p.split(","))) for p in points.split()]
    assert len(pairs) == 60
    xs, ys = zip(*pairs, strict=True)
    assert xs == tuple(sorted(xs)) and xs[0] == 2.0 and xs[-1] == 118.0
    assert ys[0] == 30.0 and ys[-2] == 2.0 and ys[-1] == 16.0  # zero at the bottom, the peak on top
    svg = sparkline_svg(counts)
    assert svg.startswith("<svg") and f'points="{points}"' in svg and "style=" not in svg
    assert 'aria-label="6 posts in the last hour; 2 this minute"' in svg
    assert sparkline_points([0] * 60).split()[0] == "2.0,30.0"  # nothing: a flat line at the bottom


@pytest.mark.django_db
def test_the_home_page_and_topics_api_carry_each_topics_sparkline(client):
    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    Topic.objects.create(name="Quiet", slug="quiet", query="quiet")
    _aged(["now", "and now"], "pycon", seconds=0)
    html = client.get("/").content.decode()
    assert html.count('class="sparkline"') == 3  # each card's, and the template's for new cards
    assert 'aria-label="2 posts in the last hour; 2 this minute"' in html
    assert 'aria-label="0 posts in the last hour; 0 this minute"' in html
    rows = {row["slug"]: row for row in client.get("/api/topics/").json()["topics"]}
    assert rows["pycon"]["per_minute"][-1] == 2 and len(rows["pycon"]["per_minute"]) == 60
    assert rows["quiet"]["per_minute"] == [0] * 60


@pytest.mark.django_db
def test_the_admins_topic_list_shows_sparklines_at_one_count_for_all_topics(admin_client):
    def post_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(reverse("admin:feed_topic_changelist")).status_code == 200
        topics_activity.clear()
        return len([q for q in queries if "feed_topicpost" in q["sql"]])

    Topic.objects.create(name="PyCon", slug="pycon", query="pycon")
    _aged(["now"], "pycon", seconds=0)
    one = post_queries()
    for name in ["Django", "Flask", "Rust"]:
        Topic.objects.create(name=name, slug=name.lower(), query=name.lower())
    assert post_queries() == one
    html = admin_client.get(reverse("admin:feed_topic_changelist")).content.decode()
    assert html.count('class="sparkline"') == 4
    assert "1 post in the last hour; 1 this minute" in html
