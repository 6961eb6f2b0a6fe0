"""The moderation page: staff with the moderate permission only, and what it opens with."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from feed.budget import topic_spend_add
from feed.models import BlockRule, Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.selectors import ReasonCount, topic_reason_counts

from payloads import ingest

pytestmark = pytest.mark.django_db

PAGE = reverse("topic-moderate", kwargs={"slug": "python"})


@pytest.fixture
def topic(db):
    return Topic.objects.create(name="Python", slug="python", query="python OR django")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_the_admin_login(topic):
    response = Client().get(PAGE)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={PAGE}"


def test_staff_without_the_moderate_permission_are_refused(django_user_model, topic):
    staff = django_user_model.objects.create_user("sam", password="pw", is_staff=True)
    assert logged_in(staff).get(PAGE).status_code == 403


def test_a_moderator_with_the_permission_gets_the_page(django_user_model, topic):
    mia = django_user_model.objects.create_user("mia", password="pw", is_staff=True)
    mia.user_permissions.add(Permission.objects.get(codename="moderate_topic"))
    assert logged_in(mia).get(PAGE).status_code == 200


def test_superusers_get_the_page_with_its_own_module_and_no_inline_script(admin_user, topic):
    response = logged_in(admin_user).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="/static/feed/moderate.js"' in html and "feed/feed.js" not in html
    assert 'data-ws-path="/ws/topics/python/moderate/"' in html
    assert "python OR django" in html  # the rule that matched: the topic's, today
    assert "csrfmiddlewaretoken" not in html and 'data-csrf-token="' in html


def test_the_page_lists_every_tab_and_shortcut_and_opens_an_approve_topic_on_its_queue(admin_user, topic):
    topic.moderation = "approve"
    topic.save()
    html = logged_in(admin_user).get(PAGE).content.decode()
    for tab in ["pending", "visible", "hidden", "blocked", "pinned"]:
        assert f'data-tab="{tab}"' in html and f'data-list="{tab}"' in html
    for key in "jkahupbt":
        assert f"<kbd>{key}</kbd>" in html
    assert 'data-default-tab="pending"' in html


def test_an_unknown_topic_is_404_for_a_moderator(admin_user, topic):
    assert logged_in(admin_user).get(reverse("topic-moderate", kwargs={"slug": "nope"})).status_code == 404


def test_the_page_embeds_no_posts_they_come_over_the_moderation_socket(admin_user, topic):
    ingest("spam 1", tags=["python"])
    tweets_set_hidden(tweets=Tweet.objects.all(), hidden=True)
    html = logged_in(admin_user).get(PAGE).content.decode()
    assert "spam 1" not in html and "application/json" not in html


def test_the_page_warns_at_80_percent_of_a_budget_and_says_when_paused(admin_user, topic):
    topic.budget_per_hour = 5
    topic.save()
    topic_spend_add(counts={topic.pk: 4})
    assert "80% of a budget spent" in logged_in(admin_user).get(PAGE).content.decode()
    topic_spend_add(counts={topic.pk: 1})
    assert "Paused: hourly budget of 5 posts reached" in logged_in(admin_user).get(PAGE).content.decode()


def test_a_topic_within_its_budget_shows_no_warning(admin_user, topic):
    assert b"data-budget-warning" not in logged_in(admin_user).get(PAGE).content


def _counts_fixture(topic):
    """Posts blocked by a word rule and pending ones, some over an hour old, one over a day old."""
    BlockRule.objects.create(kind="word", value="spam")
    ingest("spam now", "spam again", tags=["python"])
    topic.moderation = "approve"
    topic.save()
    ingest("waiting", tags=["python"])
    ingest("old spam", "ancient spam", "old waiting", tags=["python"])
    now = timezone.now()
    TopicPost.objects.filter(tweet__text__in=["old spam", "old waiting"]).update(
        created_at=now - timedelta(hours=3)
    )
    TopicPost.objects.filter(tweet__text="ancient spam").update(created_at=now - timedelta(days=2))
    return now


def test_reason_counts_group_blocked_posts_by_reason_and_count_pending_for_the_hour_and_day(topic):
    now = _counts_fixture(topic)
    BlockRule.objects.create(kind="author", value="666", author_username="spammer")
    ingest("hello", tags=["python"], username="spammer", author_id="666")
    (spam_reason,) = set(TopicPost.objects.filter(tweet__text="spam now").values_list("reason", flat=True))
    assert topic_reason_counts(topic=topic, now=now) == [
        ReasonCount("blocked", spam_reason, 2, 3),
        ReasonCount("pending", "", 1, 2),
        ReasonCount("blocked", "author @spammer is blocked", 1, 1),
    ]


def test_the_topic_admin_shows_the_reason_counts(admin_client, topic):
    _counts_fixture(topic)
    html = admin_client.get(reverse("admin:feed_topic_change", args=[topic.pk])).content.decode()
    assert "Blocked and pending (hour · day)" in html
    assert "<td>pending</td><td>1</td><td>2</td>" in html
