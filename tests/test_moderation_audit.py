"""The moderation audit: every decision kept with who, what, when, how and which posts; read-only."""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from feed.models import ModerationDecision, ModerationEvent, Topic, Tweet
from feed.moderation import tweets_set_hidden

from payloads import ingest

pytestmark = pytest.mark.django_db

AUDIT = reverse("admin:feed_moderationdecision_changelist")


@pytest.fixture
def topics():
    return [Topic.objects.create(name=s.title(), slug=s, query=s) for s in ["python", "django"]]


def hide_in_admin(client, tweets) -> None:
    changelist = reverse("admin:feed_tweet_changelist")
    client.post(changelist, {"action": "hide", "_selected_action": [t.pk for t in tweets]})


def test_hiding_in_the_admin_records_who_what_when_and_which_posts(admin_client, admin_user, topics):
    ingest("spam one", "spam two", tags=["python", "django"])
    ingest("fine", tags=["python"])
    spam = list(Tweet.objects.filter(text__startswith="spam"))
    before = timezone.now()
    hide_in_admin(admin_client, spam)
    decision = ModerationDecision.objects.get()
    assert (decision.action, decision.via) == ("hide", "admin")
    assert (decision.moderator, decision.moderator_name) == (admin_user, admin_user.username)
    assert before <= decision.created_at <= timezone.now()
    assert set(decision.tweets.all()) == set(spam)
    # One decision, and each topic's events (its moderation marks) point at it.
    assert ModerationEvent.objects.filter(decision=decision).count() == 4
    assert not ModerationEvent.objects.filter(decision=None).exists()


def test_the_tweet_page_shows_its_state_on_each_topic_and_edits_none(admin_client, topics):
    ingest("spam", tags=["python", "django"])
    tweet = Tweet.objects.get()
    tweets_set_hidden(tweets=[tweet], hidden=True, topic=topics[0])
    page = admin_client.get(reverse("admin:feed_tweet_change", args=[tweet.pk]))
    states = [
        (post.topic.slug, post.state) for post in page.context["inline_admin_formsets"][0].formset.queryset
    ]
    assert sorted(states) == [("django", "visible"), ("python", "hidden")]
    # Decisions go through the actions, which record and announce them; a form would do neither.
    assert not page.context["adminform"].form.fields


def test_a_decision_outlives_the_moderators_account(admin_client, django_user_model, topics):
    moderator = django_user_model.objects.create_superuser("carol", password="pw")
    ingest("spam", tags=["python"])
    tweets_set_hidden(tweets=Tweet.objects.all(), hidden=True, moderator=moderator, via="admin")
    moderator.delete()
    decision = ModerationDecision.objects.get()
    assert (decision.moderator, decision.moderator_name) == (None, "carol")
    assert "carol" in admin_client.get(AUDIT).content.decode()


def test_the_hide_command_records_a_decision_with_no_moderator(topics):
    ingest("spam", tags=["python"])
    call_command("hide_tweets", Tweet.objects.get().network_id, stdout=None, stderr=None)
    decision = ModerationDecision.objects.get()
    assert (decision.moderator, decision.via, decision.action) == (None, "command", "hide")


def test_showing_a_visible_tweet_again_records_nothing(topics):
    ingest("fine", tags=["python"])
    assert tweets_set_hidden(tweets=Tweet.objects.all(), hidden=False) == []
    assert not ModerationDecision.objects.exists()


def test_the_audit_is_read_only_even_for_superusers(admin_client, admin_user, topics):
    ingest("spam", tags=["python"])
    tweets_set_hidden(tweets=Tweet.objects.all(), hidden=True, moderator=admin_user, via="admin")
    decision = ModerationDecision.objects.get()
    change = reverse("admin:feed_moderationdecision_change", args=[decision.pk])
    assert admin_client.get(change).status_code == 200  # it can be read
    assert admin_client.post(change, {"action": "show", "via": "system"}).status_code == 403
    assert admin_client.get(reverse("admin:feed_moderationdecision_add")).status_code == 403
    delete = reverse("admin:feed_moderationdecision_delete", args=[decision.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    bulk = admin_client.post(AUDIT, {"action": "delete_selected", "_selected_action": [decision.pk]})
    assert bulk.status_code == 200  # no such action: the list is shown again
    decision.refresh_from_db()
    assert (decision.action, decision.via) == ("hide", "admin")


def test_the_audit_filters_by_moderator_and_topic(admin_client, admin_user, django_user_model, topics):
    python, django = topics
    other = django_user_model.objects.create_superuser("dave", password="pw")
    ingest("python spam", tags=["python"])
    ingest("django spam", tags=["django"])
    ingest("both spam", tags=["python", "django"])
    for text, moderator in [("python spam", admin_user), ("django spam", other), ("both spam", other)]:
        tweets_set_hidden(tweets=Tweet.objects.filter(text=text), hidden=True, moderator=moderator)

    def listed(**query) -> list[str]:
        decisions = admin_client.get(AUDIT, query).context["cl"].result_list
        return sorted(d.tweets.get().text for d in decisions)

    assert listed(moderator__id__exact=other.pk) == ["both spam", "django spam"]
    assert listed(events__topic__id__exact=python.pk) == ["both spam", "python spam"]
    assert listed(events__topic__id__exact=django.pk, moderator__id__exact=admin_user.pk) == []
    assert listed(q=Tweet.objects.get(text="django spam").network_id) == ["django spam"]
