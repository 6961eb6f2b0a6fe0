"""Admin: topics with rule validation, tweet moderation that reaches open pages."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from post_states import state_of

from feed.models import Topic, Tweet

from payloads import ingest

pytestmark = pytest.mark.django_db


# The wall settings inline's management form: none sent, so the topic alone is saved.
NO_WALL = {"wall-TOTAL_FORMS": "0", "wall-INITIAL_FORMS": "0"}


def add_topic(client, **fields):
    data = {
        **NO_WALL,
        "name": "Python",
        "slug": "python",
        "query": "python",
        "is_active": "on",
        "moderation": "open",
        "networks": ["x"],
        **fields,
    }
    return client.post(reverse("admin:feed_topic_add"), data)


def test_a_valid_topic_is_saved(admin_client):
    response = add_topic(admin_client, query='"async web" OR #django -spam')
    assert response.status_code == 302
    assert Topic.objects.get(slug="python").query == '"async web" OR #django -spam'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "This field is required"),
        ('"async web', "quote"),
        ("(python OR django", "parenthes"),
        ("python OR", "OR"),
        ("-spam", "negat"),
    ],
)
def test_an_invalid_rule_is_refused_with_the_reason(admin_client, query, message):
    response = add_topic(admin_client, query=query)
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["query"])
    assert message.lower() in errors.lower()
    assert not Topic.objects.exists()


def test_a_rule_longer_than_the_access_level_allows_is_refused(admin_client, settings):
    settings.X_MAX_RULE_LENGTH = 20
    response = add_topic(admin_client, query="python OR django OR asyncio")
    assert "limit is 20" in " ".join(response.context["adminform"].form.errors["query"])


def test_activating_past_the_rule_limit_is_refused_before_x_refuses(admin_client, settings):
    settings.X_MAX_RULES = 1
    Topic.objects.create(name="Django", slug="django", query="django")
    response = add_topic(admin_client)
    assert "X_MAX_RULES" in str(response.context["adminform"].form.non_field_errors())


def test_with_a_token_x_dry_run_must_accept_the_rule(admin_client, settings, x_emulator):
    settings.X_BEARER_TOKEN = x_emulator.token
    settings.X_API_BASE_URL = x_emulator.base_url
    assert add_topic(admin_client, query="python").status_code == 302
    assert x_emulator.rules == []  # a dry run adds nothing


def test_an_unreachable_x_is_a_form_error_not_a_crash(admin_client, settings):
    settings.X_BEARER_TOKEN = "token"
    settings.X_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    response = add_topic(admin_client)
    assert "Could not check the rule with X" in " ".join(response.context["adminform"].form.errors["query"])


def test_deactivate_action_turns_topics_off(admin_client):
    topic = Topic.objects.create(name="Python", slug="python", query="python")
    url = reverse("admin:feed_topic_changelist")
    admin_client.post(url, {"action": "deactivate", "_selected_action": [topic.pk]})
    topic.refresh_from_db()
    assert not topic.is_active


def test_tweets_can_be_searched_and_filtered_by_topic(admin_client):
    Topic.objects.create(name="Python", slug="python", query="python")
    ingest("python findme", "python other", tags=["python"])
    url = reverse("admin:feed_tweet_changelist")
    response = admin_client.get(url, {"q": "findme", "topics__id__exact": Topic.objects.get().pk})
    assert [t.text for t in response.context["cl"].result_list] == ["python findme"]


def test_hide_action_hides_tweets(admin_client):
    Topic.objects.create(name="Python", slug="python", query="python")
    ingest("python spam", tags=["python"])
    tweet = Tweet.objects.get()
    url = reverse("admin:feed_tweet_changelist")
    admin_client.post(url, {"action": "hide", "_selected_action": [tweet.pk]})
    assert state_of(tweet) == "hidden"


@pytest.mark.parametrize("url_name", ["admin:feed_tweet_changelist", "admin:feed_topic_changelist"])
def test_moderation_needs_a_staff_login(client, django_user_model, url_name):
    assert client.get(reverse(url_name)).status_code == 302
    user = django_user_model.objects.create_user("viewer", password="pw")
    client.force_login(user)
    assert client.get(reverse(url_name)).status_code == 302


def test_a_rule_x_refuses_in_dry_run_shows_x_reason(admin_client, settings, x_emulator):
    settings.X_BEARER_TOKEN = x_emulator.token
    settings.X_API_BASE_URL = x_emulator.base_url
    settings.X_MAX_RULE_LENGTH = 5000  # more than the emulated account allows
    response = add_topic(admin_client, query=" OR ".join(["python"] * 200))
    assert "X refused this rule" in " ".join(response.context["adminform"].form.errors["query"])


def test_activate_action_keeps_within_the_rule_limit_and_skips_invalid_rules(admin_client, settings):
    settings.X_MAX_RULES = 2
    Topic.objects.create(name="On", slug="on", query="on")
    broken = Topic.objects.create(name="Broken", slug="broken", query='"unbalanced', is_active=False)
    first = Topic.objects.create(name="First", slug="first", query="first", is_active=False)
    second = Topic.objects.create(name="Second", slug="second", query="second", is_active=False)
    url = reverse("admin:feed_topic_changelist")
    response = admin_client.post(
        url, {"action": "activate", "_selected_action": [broken.pk, first.pk, second.pk]}, follow=True
    )
    assert set(Topic.objects.filter(is_active=True).values_list("slug", flat=True)) == {"on", "first"}
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "Broken" in shown and "X_MAX_RULES" in shown


def test_staff_who_may_only_view_cannot_moderate(client, django_user_model):
    Topic.objects.create(name="Python", slug="python", query="python")
    ingest("python spam", tags=["python"])
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_tweet", "view_topic"]))
    client.force_login(viewer)
    tweet = Tweet.objects.get()
    client.post(reverse("admin:feed_tweet_changelist"), {"action": "hide", "_selected_action": [tweet.pk]})
    assert state_of(tweet) == "visible"


def test_a_topics_slug_is_fixed_once_it_exists(admin_client):
    topic = Topic.objects.create(name="Python", slug="python", query="python")
    url = reverse("admin:feed_topic_change", args=[topic.pk])
    admin_client.post(url, {"name": "Python", "slug": "renamed", "query": "python", "is_active": "on"})
    topic.refresh_from_db()
    assert topic.slug == "python"


def test_the_topic_list_and_form_show_the_rule_state_and_x_reason(admin_client):
    refused = "X refused the rule: DuplicateRule (topic Python already has it)"
    topic = Topic.objects.create(
        name="Python again", slug="python-again", query="python", rule_state="failed", rule_error=refused
    )
    listing = admin_client.get(reverse("admin:feed_topic_changelist")).content.decode()
    assert "failed" in listing and "DuplicateRule (topic Python already has it)" in listing
    form = admin_client.get(reverse("admin:feed_topic_change", args=[topic.pk]))
    assert "DuplicateRule (topic Python already has it)" in form.content.decode()
    assert "rule_error" not in form.context["adminform"].form.fields  # X's word, not the admin's


def test_editing_a_topics_rule_marks_it_pending_until_the_worker_reports(admin_client):
    topic = Topic.objects.create(name="Python", slug="python", query="python", rule_state="active")
    url = reverse("admin:feed_topic_change", args=[topic.pk])
    form = {"name": "Python", "query": "#python", "is_active": "on", "moderation": "open", "networks": ["x"]}
    admin_client.post(url, {**form, **NO_WALL})
    topic.refresh_from_db()
    assert (topic.query, topic.rule_state) == ("#python", "pending")


def test_activate_action_asks_x_dry_run_and_shows_x_reason(admin_client, settings, x_emulator):
    settings.X_BEARER_TOKEN = x_emulator.token
    settings.X_API_BASE_URL = x_emulator.base_url
    settings.X_MAX_RULE_LENGTH = 5000  # more than the emulated account allows
    long = Topic.objects.create(
        name="Long", slug="long", query=" OR ".join(["python"] * 200), is_active=False
    )
    fine = Topic.objects.create(name="Fine", slug="fine", query="django", is_active=False)
    url = reverse("admin:feed_topic_changelist")
    response = admin_client.post(
        url, {"action": "activate", "_selected_action": [long.pk, fine.pk]}, follow=True
    )
    assert list(Topic.objects.filter(is_active=True).values_list("slug", flat=True)) == ["fine"]
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "Long: X refused this rule" in shown and "limit is 1,024" in shown
    assert x_emulator.rules == []  # a dry run adds nothing


def test_activate_action_with_x_unreachable_activates_nothing_and_says_why(admin_client, settings):
    settings.X_BEARER_TOKEN = "token"
    settings.X_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    topic = Topic.objects.create(name="Python", slug="python", query="python", is_active=False)
    url = reverse("admin:feed_topic_changelist")
    response = admin_client.post(url, {"action": "activate", "_selected_action": [topic.pk]}, follow=True)
    assert not Topic.objects.get().is_active
    assert "Could not check the rules with X" in " ".join(str(m) for m in response.context["messages"])


def test_a_rule_another_active_topic_has_is_refused_naming_that_topic(admin_client):
    Topic.objects.create(name="Django", slug="django", query="django")
    response = add_topic(admin_client, query=" django ")
    errors = " ".join(response.context["adminform"].form.errors["query"])
    assert "Django already has this rule" in errors
    assert add_topic(admin_client, query="django", is_active="").status_code == 302  # inactive: no rule


def test_activate_action_refuses_a_rule_another_topic_already_has(admin_client):
    Topic.objects.create(name="Django", slug="django", query="django")
    first = Topic.objects.create(name="Py", slug="py", query="python", is_active=False)
    second = Topic.objects.create(name="Py again", slug="py-again", query="python", is_active=False)
    copy = Topic.objects.create(name="Django again", slug="django-again", query="django", is_active=False)
    url = reverse("admin:feed_topic_changelist")
    picked = [first.pk, second.pk, copy.pk]
    response = admin_client.post(url, {"action": "activate", "_selected_action": picked}, follow=True)
    assert set(Topic.objects.filter(is_active=True).values_list("slug", flat=True)) == {"django", "py"}
    shown = " ".join(str(m) for m in response.context["messages"])
    assert "Py again: Py already has this rule" in shown and "Django again: Django already" in shown


def test_a_topics_filters_are_saved_from_the_filters_fieldset(admin_client):
    response = add_topic(
        admin_client,
        exclude_reposts="on",
        languages="EN, de  pt",
        min_followers="50",
        min_account_age_days="7",
        profanity_filter="on",
        profanity_extra_words="Schwurbler\ncrypto scam",
        exclude_hashbombs="on",
    )
    assert response.status_code == 302
    topic = Topic.objects.get(slug="python")
    assert topic.languages == ["en", "de", "pt"]
    assert (topic.exclude_reposts, topic.exclude_replies, topic.exclude_hashbombs) == (True, False, True)
    assert (topic.min_followers, topic.min_account_age_days, topic.profanity_filter) == (50, 7, True)
    form = admin_client.get(reverse("admin:feed_topic_change", args=[topic.pk]))
    [filters] = [fieldset for fieldset in form.context["adminform"] if fieldset.name == "Filters"]
    assert "languages" in filters.fields and 'value="en, de, pt"' in form.content.decode()


def test_a_language_that_is_not_a_code_is_refused_naming_it(admin_client):
    response = add_topic(admin_client, languages="en, english, d3")
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["languages"])
    assert "english, d3" in errors and "two- or three-letter" in errors
    assert not Topic.objects.exists()


def test_a_topic_without_filters_saves_with_none_set(admin_client):
    assert add_topic(admin_client).status_code == 302
    topic = Topic.objects.get(slug="python")
    assert (topic.languages, topic.min_followers, topic.profanity_extra_words) == ([], None, "")


def test_a_topic_follows_the_networks_chosen_and_at_least_one(admin_client):
    assert add_topic(admin_client, networks=["x", "bluesky", "mastodon"]).status_code == 302
    assert Topic.objects.get(slug="python").networks == ["x", "bluesky", "mastodon"]
    refused = add_topic(admin_client, slug="none", networks=[])
    assert refused.context["adminform"].form.errors["networks"] == ["Choose at least one network."]
    unknown = add_topic(admin_client, slug="other", networks=["myspace"])
    assert "networks" in unknown.context["adminform"].form.errors


def test_the_topic_list_says_how_each_network_is_followed(admin_client):
    Topic.objects.create(
        name="Cats",
        slug="cats",
        query="#cats",
        networks=["mastodon", "bluesky"],
        network_status=[  # as the worker records it (streamer/status.py)
            {"source": "mastodon:a.example", "state": "polling", "detail": "no token"},
            {"source": "bluesky", "state": "none", "detail": "not followed: set BLUESKY_ENABLED=1"},
        ],
    )
    page = admin_client.get(reverse("admin:feed_topic_changelist")).content.decode()
    assert "mastodon:a.example: polling" in page
    assert "bluesky: none" in page
