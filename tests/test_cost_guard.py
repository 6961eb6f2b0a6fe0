"""The cost guard: budgets per topic, counted per window; over budget, the rule leaves X until it ends."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from feed.budget import budget_window, topic_spend, topics_over_budget
from feed.models import Topic, TopicSpend
from feed.rule_check import RuleOutcome
from feed.services import topic_rules_record

from browser_pages import new_page
from payloads import ingest

AUTHOR = {"id": "42", "username": "alice", "name": "Alice"}


def test_windows_are_the_utc_calendar_hour_and_day():
    now = datetime(2026, 11, 30, 13, 59, 59, tzinfo=UTC)
    assert budget_window(now=now, length_s=3600) == (
        datetime(2026, 11, 30, 13, tzinfo=UTC),
        datetime(2026, 11, 30, 14, tzinfo=UTC),
    )
    assert budget_window(now=now, length_s=86_400) == (
        datetime(2026, 11, 30, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    on_the_hour = datetime(2026, 11, 30, 14, tzinfo=UTC)
    assert budget_window(now=on_the_hour, length_s=3600)[0] == on_the_hour


@pytest.mark.django_db
def test_a_post_on_two_topics_counts_against_each(settings):
    python = Topic.objects.create(name="Python", slug="python", query="python")
    django = Topic.objects.create(name="Django", slug="django", query="django")
    ingest("python and django", tags=["python", "django"])
    ingest("python alone", tags=["python"])
    assert (topic_spend(topic=python).hour, topic_spend(topic=python).day) == (2, 2)
    assert (topic_spend(topic=django).hour, topic_spend(topic=django).day) == (1, 1)
    assert TopicSpend.objects.count() == 4  # one row per topic and window


@pytest.mark.django_db
def test_the_pause_reason_names_the_budget_and_the_resume_time():
    Topic.objects.create(name="Python", slug="python", query="python", budget_per_hour=2)
    Topic.objects.create(name="Other", slug="other", query="other", budget_per_hour=5)
    ingest("python 1", tags=["python", "other"])
    ingest("python 2", tags=["python"])
    now = datetime.now(UTC)
    over = topics_over_budget(now=now)
    assert list(over) == ["python"]
    resumes = budget_window(now=now, length_s=3600)[1]
    expected = f"hourly budget of 2 posts reached; resumes at {resumes:%H:%M} UTC"
    assert over["python"].pause_reason.startswith(expected)  # " on <date>" only across midnight
    assert over["python"].paused_until == resumes


@pytest.mark.django_db
def test_the_daily_budget_names_midnight():
    Topic.objects.create(name="Python", slug="python", query="python", budget_per_day=1, budget_per_hour=1)
    ingest("python 1", tags=["python"])
    spend = topics_over_budget()["python"]
    assert spend.pause_reason.startswith("daily budget of 1 posts reached; resumes at 00:00 UTC on ")
    assert spend.paused_until == budget_window(now=datetime.now(UTC), length_s=86_400)[1]


@pytest.mark.django_db
def test_the_admin_shows_spend_and_warns_at_80_percent(admin_client, settings):
    settings.X_COST_PER_POST_USD = 0.5
    topic = Topic.objects.create(name="Python", slug="python", query="python", budget_per_hour=5)
    Topic.objects.create(name="Quiet", slug="quiet", query="quiet", budget_per_hour=5)
    for n in range(4):
        ingest(f"python {n}", tags=["python"])
    listing = admin_client.get(reverse("admin:feed_topic_changelist")).content.decode()
    assert "4/5 · 4 ($2.00 today)" in listing
    assert "0/5 · 0 ($0.00 today)" in listing
    assert listing.count("budget--warn") == 1 and ">80%<" in listing
    page = admin_client.get(reverse("admin:feed_topic_change", args=[topic.pk])).content.decode()
    assert "80% of a budget spent; at 100% the rule leaves X until the window ends." in page


@pytest.mark.django_db
def test_the_admin_says_why_a_topic_is_paused(admin_client):
    topic = Topic.objects.create(name="Python", slug="python", query="python", budget_per_hour=1)
    ingest("python", tags=["python"])
    listing = admin_client.get(reverse("admin:feed_topic_changelist")).content.decode()
    assert "budget--spent" in listing
    page = admin_client.get(reverse("admin:feed_topic_change", args=[topic.pk])).content.decode()
    assert "Paused: hourly budget of 1 posts reached; resumes at " in page


@pytest.mark.django_db
def test_a_paused_topic_records_its_reason_and_resume_time():
    Topic.objects.create(name="Python", slug="python", query="python", budget_per_hour=1)
    ingest("python", tags=["python"])
    paused = topics_over_budget()
    topic_rules_record(outcomes=[], paused=paused)
    topic = Topic.objects.get(slug="python")
    assert topic.rule_state == "paused"
    assert topic.rule_error == paused["python"].pause_reason
    assert topic.paused_until == paused["python"].paused_until


@pytest.mark.django_db
def test_the_topic_page_and_wall_show_the_pause_and_the_api_says_until_when(client):
    Topic.objects.create(name="Python", slug="python", query="python", budget_per_hour=1)
    ingest("python", tags=["python"])
    topic_rules_record(outcomes=[], paused=topics_over_budget())
    until = Topic.objects.get(slug="python").paused_until
    for name in ["topic-page", "topic-wall"]:
        page = client.get(reverse(name, args=["python"])).content.decode()
        assert f'data-paused-until="{until.isoformat()}"' in page
        assert 'data-rule-state="paused"' in page and ">Paused: hourly budget of 1 posts reached;" in page
    status = client.get(reverse("api-topic-status", args=["python"])).json()
    assert status["paused"] and status["paused_until"] == until.isoformat()
    assert status["reason"].startswith("hourly budget of 1 posts reached; resumes at ")


@pytest.mark.django_db
def test_an_unpaused_topic_page_has_a_hidden_empty_notice(client):
    Topic.objects.create(name="Python", slug="python", query="python", rule_state="active")
    page = client.get(reverse("topic-page", args=["python"])).content.decode()
    assert 'data-rule-state="active" data-paused-until=""' in page
    assert 'role="status" hidden></p>' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_open_page_drops_the_notice_when_the_topic_resumes(browser, orm, start_server):
    orm(Topic.objects.create, name="Python", slug="python", query="python")
    until = datetime.now(UTC) + timedelta(seconds=2)
    paused = {"rule_state": "paused", "rule_error": "hourly budget of 1 posts reached", "paused_until": until}
    orm(Topic.objects.filter(slug="python").update, **paused)
    server = start_server("uvicorn")
    page = new_page(browser)
    page.goto(f"{server.url}/topics/python/")
    notice = page.locator("[data-budget-notice]")
    expect(notice).to_have_text("Paused: hourly budget of 1 posts reached")

    orm(topic_rules_record, outcomes=[RuleOutcome("python", "python")])  # the worker, after `until`
    # Asked just after the resume time (here the 5 s floor), not at the 30 s poll.
    expect(notice).to_be_hidden(timeout=8_000)
    expect(notice).to_have_attribute("data-rule-state", "active")
    assert page.csp_violations == []


# --- Through X: the emulator, Tweepy and the worker process ----------------------------------------
WINDOW_S = 10  # X_BUDGET_HOUR_S for the worker: an "hour" of 10 s, so the test sees it reset


def rule_ids(emulator) -> dict[str, str]:
    return {rule["tag"]: rule["id"] for rule in emulator.rules}


def wait_for_window_start(length_s: int, within_s: float = 1.0) -> datetime:
    """Sleep until a fresh window (epoch-aligned, as the worker counts) has just begun; its end."""
    while time.time() % length_s > within_s:
        time.sleep(0.05)
    return budget_window(now=datetime.now(UTC), length_s=length_s)[1]


@pytest.mark.django_db(transaction=True)
def test_a_topic_over_its_hourly_budget_leaves_x_until_the_window_resets(start_worker, x_emulator):
    Topic.objects.create(name="Python", slug="python", query="python", budget_per_hour=2)
    Topic.objects.create(name="Django", slug="django", query="django")
    start_worker(
        *("--source", "x"),
        X_BEARER_TOKEN=x_emulator.token,
        X_API_BASE_URL=x_emulator.base_url,
        X_BUDGET_HOUR_S=str(WINDOW_S),
    )
    assert x_emulator.wait_until(lambda: x_emulator.connected and len(x_emulator.rules) == 2, 10)
    django_rule = rule_ids(x_emulator)["django"]
    window_ends = wait_for_window_start(WINDOW_S)
    x_emulator.emit(text="python one", author=AUTHOR)
    x_emulator.emit(text="python two", author=AUTHOR)

    assert x_emulator.wait_until(lambda: rule_ids(x_emulator) == {"django": django_rule}, 5)
    # Recorded just after X's rules change.
    assert x_emulator.wait_until(lambda: Topic.objects.get(slug="python").rule_state == "paused", 2)
    topic = Topic.objects.get(slug="python")
    resumes = window_ends.strftime("%H:%M" if window_ends.second == 0 else "%H:%M:%S")
    assert topic.rule_state == "paused" and topic.paused_until == window_ends
    assert topic.rule_error.startswith(f"hourly budget of 2 posts reached; resumes at {resumes} UTC")

    assert x_emulator.wait_until(lambda: "python" in rule_ids(x_emulator), WINDOW_S + 5)
    assert datetime.now(UTC) >= window_ends
    assert rule_ids(x_emulator)["django"] == django_rule  # never touched
    assert x_emulator.wait_until(lambda: Topic.objects.get(slug="python").rule_state == "active", 5)
    assert Topic.objects.get(slug="python").paused_until is None
