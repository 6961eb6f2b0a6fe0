"""The admin in Chromium, as an organiser sees it: a topic's moderation mode, filters and budget on one
page, and the audit of decisions. Set UPDATE_SCREENSHOTS=1 to copy the screenshots to docs/."""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Page, expect

from feed.models import BlockRule, Topic, Tweet
from feed.moderation import block_rule_apply, tweets_set_hidden

from browser_pages import new_page
from payloads import ingest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def _organiser_setup() -> str:
    """A moderated topic with filters, a budget, decisions to audit; a superuser's session key."""
    admin = get_user_model().objects.create_superuser("organiser", password="pw")
    topic = Topic.objects.create(
        name="PyCon Italia",
        slug="pycon-it",
        query="#pyconit -is:retweet",
        moderation="approve",
        exclude_reposts=True,
        languages=["en", "it"],
        min_account_age_days=30,
        profanity_filter=True,
        exclude_hashbombs=True,
        budget_per_hour=500,
        budget_per_day=5000,
    )
    ingest("Great keynote on free-threaded Python #pyconit", tags=["pycon-it"], username="ada")
    ingest("Buy followers now #pyconit", tags=["pycon-it"], username="spam_bot", author_id="666")
    tweets_set_hidden(
        tweets=Tweet.objects.filter(author_id="666"), hidden=True, topic=topic, moderator=admin, via="admin"
    )
    rule = BlockRule.objects.create(kind="word", value="crypto giveaway", created_by=admin, note="scam wave")
    block_rule_apply(rule=rule, moderator=admin)
    client = Client()
    client.force_login(admin)
    return client.cookies["sessionid"].value


def _screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    path = tmp_path / name
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / name)


def test_an_organiser_sets_up_moderation_and_reads_the_audit_in_the_admin(
    browser, orm, start_server, tmp_path
):
    session_key = orm(_organiser_setup)
    server = start_server("uvicorn")
    page = new_page(browser)
    page.context.add_cookies([{"name": "sessionid", "value": session_key, "url": server.url}])
    topic_pk = orm(lambda: Topic.objects.get(slug="pycon-it").pk)

    page.goto(f"{server.url}/admin/feed/topic/{topic_pk}/change/")
    expect(page.get_by_role("heading", name="Moderation")).to_be_visible()
    expect(page.get_by_label("Moderation:")).to_have_value("approve")
    expect(page.get_by_role("heading", name="Filters")).to_be_visible()
    expect(page.get_by_label("Languages:")).to_have_value("en, it")
    _screenshot(page, tmp_path, "screenshot-admin-topic.png")

    page.goto(f"{server.url}/admin/feed/moderationdecision/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)  # the hide; the rule matched nothing stored
    expect(rows.first).to_contain_text("organiser")
    _screenshot(page, tmp_path, "screenshot-admin-audit.png")
    assert page.csp_violations == []  # type: ignore[attr-defined]
