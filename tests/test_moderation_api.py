"""The staff moderation API: a topic's queue and moderators' decisions, by session and CSRF token."""

import json
import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from post_states import is_visible, off_texts, state_of

from feed import api, moderation
from feed.models import BlockRule, ModerationDecision, ModerationEvent, Topic, Tweet
from feed.moderation import posts_decide

from conftest import wait_until
from payloads import for_viewers, ingest

pytestmark = pytest.mark.django_db

QUEUE = reverse("api-topic-queue", kwargs={"slug": "python"})
DECISIONS = reverse("api-topic-decisions", kwargs={"slug": "python"})


@pytest.fixture
def topics(db):
    return [Topic.objects.create(name=s.title(), slug=s, query=s) for s in ["python", "django"]]


@pytest.fixture
def moderator(django_user_model, topics):
    user = django_user_model.objects.create_user("mia", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="moderate_topic"))
    return user


@pytest.fixture
def published(monkeypatch) -> list:
    batches: list = []
    monkeypatch.setattr(api, "publish_batches_sync", lambda decided: batches.extend(decided))
    return batches


def session(user) -> Client:
    """A logged-in client that passes CSRF as a browser does: the csrftoken cookie, sent back as a header."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("admin:index"))  # a page with a form sets the csrftoken cookie
    return client


def pks(tweets) -> list[int]:
    return [t.pk for t in tweets]


def decide(client: Client, action: str, post_ids: list[int], *, csrf: bool = True, url: str = DECISIONS):
    headers = {"X-CSRFToken": client.cookies["csrftoken"].value} if csrf else {}
    body = json.dumps({"action": action, "post_ids": post_ids})
    return client.post(url, body, content_type="application/json", headers=headers)


def test_a_moderator_hides_posts_on_their_topic_and_is_told_each_ones_state(moderator, published, topics):
    python, django = topics
    ingest("spam one", "spam two", tags=["python", "django"])
    spam = list(Tweet.objects.order_by("pk"))
    response = decide(session(moderator), "hide", pks(spam))
    assert response.status_code == 200
    assert response.json() == {
        "results": [{"post_id": t.pk, "state": "hidden", "applied": True, "pinned": False} for t in spam]
    }
    assert off_texts(python) == {"spam one", "spam two"}
    assert off_texts(django) == set()  # moderation is per topic: the django wall keeps them
    decision = ModerationDecision.objects.get()
    assert (decision.action, decision.via, decision.moderator) == ("hide", "api", moderator)
    assert ModerationEvent.objects.filter(decision=decision, topic=python).count() == 2
    # Pages are nudged after commit, as from the admin, up to the topic's newest mark.
    assert [(b.topic_slug, b.kind) for b in published] == [("python", "moderation"), ("python", "review")]


def test_a_second_hide_is_answered_with_the_state_and_not_applied_again(moderator, published):
    ingest("spam", tags=["python"])
    spam = pks(Tweet.objects.all())
    decide(session(moderator), "hide", spam)
    second = decide(session(moderator), "hide", spam)
    assert second.json() == {
        "results": [{"post_id": spam[0], "state": "hidden", "applied": False, "pinned": False}]
    }
    assert (ModerationDecision.objects.count(), ModerationEvent.objects.count()) == (1, 1)


def test_unhide_shows_a_hidden_post_again(moderator, published):
    ingest("fine", tags=["python"])
    post = Tweet.objects.get()
    client = session(moderator)
    decide(client, "hide", [post.pk])
    response = decide(client, "unhide", [post.pk])
    assert response.json()["results"] == [
        {"post_id": post.pk, "state": "visible", "applied": True, "pinned": False}
    ]
    assert is_visible(post)
    assert list(ModerationEvent.objects.order_by("pk").values_list("action", flat=True)) == ["hide", "show"]


def test_a_failed_publish_is_a_warning_and_the_decision_stands(moderator, monkeypatch):
    def redis_away(batches) -> None:
        raise ConnectionError("redis is away")

    monkeypatch.setattr(api, "publish_batches_sync", redis_away)
    ingest("spam", tags=["python"])
    response = decide(session(moderator), "hide", pks(Tweet.objects.all()))
    assert response.status_code == 200
    assert "redis is away" in response.json()["warning"]
    assert state_of(Tweet.objects.get()) == "hidden"


def test_pin_and_unpin_answer_whether_the_post_is_pinned(moderator, published):
    ingest("pin me", tags=["python"])
    post = pks(Tweet.objects.all())
    client = session(moderator)
    pinned = decide(client, "pin", post).json()["results"]
    unpinned = decide(client, "unpin", post).json()["results"]
    assert pinned == [{"post_id": post[0], "state": "visible", "applied": True, "pinned": True}]
    assert unpinned == [{"post_id": post[0], "state": "visible", "applied": True, "pinned": False}]


def test_block_author_blocks_each_author_once_and_hides_their_other_posts(moderator, published):
    ingest("spam 1", "spam 2", tags=["python"], username="spammer", author_id="666")
    ingest("spam elsewhere", tags=["django"], username="spammer", author_id="666")
    ingest("fine", tags=["python"], username="bob", author_id="7")
    spam = list(Tweet.objects.filter(author_id="666", topics__slug="python").order_by("pk"))
    response = decide(session(moderator), "block_author", pks(spam))
    assert response.json()["results"] == [
        {"post_id": t.pk, "state": "hidden", "applied": True, "pinned": False} for t in spam
    ]
    rule = BlockRule.objects.get()
    assert (rule.kind, rule.value, rule.author_username, rule.topic, rule.created_by) == (
        "author",
        "666",
        "spammer",
        None,
        moderator,
    )
    assert off_texts() == {"spam 1", "spam 2", "spam elsewhere"}
    assert {b.topic_slug for b in published} == {"python", "django"}  # both topics' pages drop them


def test_block_author_is_in_the_audit_as_the_moderators_decision_naming_the_rule(moderator, published):
    ingest("spam", tags=["python"], username="spammer", author_id="666")
    decide(session(moderator), "block_author", pks(Tweet.objects.all()))
    decision = ModerationDecision.objects.get()
    assert (decision.action, decision.via, decision.moderator, decision.rule) == (
        "hide",
        "api",
        moderator,
        BlockRule.objects.get(),
    )
    assert decision.reason == "author @spammer is blocked"


def test_blocking_a_blocked_author_again_reuses_the_rule(moderator, published):
    ingest("spam", tags=["python"], username="spammer", author_id="666")
    spam = pks(Tweet.objects.all())
    client = session(moderator)
    decide(client, "block_author", spam)
    again = decide(client, "block_author", spam)
    assert again.json()["results"] == [
        {"post_id": spam[0], "state": "hidden", "applied": False, "pinned": False}
    ]
    assert BlockRule.objects.count() == 1


def test_a_blocked_authors_new_posts_are_stored_blocked(moderator, published):
    ingest("spam", tags=["python"], username="spammer", author_id="666")
    decide(session(moderator), "block_author", pks(Tweet.objects.all()))
    assert for_viewers(ingest("more spam", tags=["python"], username="spammer", author_id="666")) == []
    assert state_of(Tweet.objects.get(text="more spam")) == "blocked"


def test_approving_a_post_another_moderator_hid_meanwhile_leaves_it_hidden(moderator, published, topics):
    Topic.objects.filter(slug="python").update(moderation="approve")
    ingest("rejected by the first moderator", tags=["python"])
    post = pks(Tweet.objects.all())
    client = session(moderator)
    decide(client, "hide", post)
    stale = decide(client, "approve", post)
    assert stale.json()["results"] == [
        {"post_id": post[0], "state": "hidden", "applied": False, "pinned": False}
    ]


def test_trust_author_stores_a_trusted_rule_and_hides_nothing(moderator, published):
    ingest("good 1", "good 2", tags=["python"], username="friend", author_id="8")
    posts = pks(Tweet.objects.order_by("pk"))
    response = decide(session(moderator), "trust_author", posts)
    # `applied`: whether the post's state changed; on an open topic they were visible already.
    assert response.json()["results"] == [
        {"post_id": posts[0], "state": "visible", "applied": False, "pinned": False},
        {"post_id": posts[1], "state": "visible", "applied": False, "pinned": False},
    ]
    rule = BlockRule.objects.get()
    assert (rule.kind, rule.value, rule.author_username, rule.created_by) == (
        "trusted",
        "8",
        "friend",
        moderator,
    )
    assert off_texts() == set()
    assert not ModerationDecision.objects.exists() and published == []


def test_trusting_an_author_approves_their_posts_waiting_on_every_topic(moderator, published, topics):
    Topic.objects.update(moderation="approve")
    ingest("good here", tags=["python"], username="friend", author_id="8")
    ingest("good there", tags=["django"], username="friend", author_id="8")
    ingest("someone else", tags=["python"], username="bob", author_id="7")
    asked = Tweet.objects.get(text="good here")
    response = decide(session(moderator), "trust_author", [asked.pk])
    assert response.json()["results"] == [
        {"post_id": asked.pk, "state": "visible", "applied": True, "pinned": False}
    ]
    assert off_texts() == {"someone else"}
    assert ingest("new and trusted", tags=["python"], username="friend", author_id="8") != []


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"post_ids": [1]}',
        '{"action": "delete", "post_ids": [1]}',
        '{"action": "hide", "post_ids": 1}',
        '{"action": "hide", "post_ids": ["1"]}',
        '{"action": "hide", "post_ids": [true]}',
        '{"action": "hide", "post_ids": [100000000000000000000000000000]}',
        '{"action": "hide", "post_ids": []}',
    ],
)
def test_malformed_decisions_are_refused_with_a_reason(moderator, published, body):
    client = session(moderator)
    headers = {"X-CSRFToken": client.cookies["csrftoken"].value}
    response = client.post(DECISIONS, body, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]


def test_posts_of_another_topic_are_refused_and_nothing_is_decided(moderator, published):
    ingest("python post", tags=["python"])
    ingest("django post", tags=["django"])
    posts = list(Tweet.objects.order_by("pk"))
    response = decide(session(moderator), "hide", [*pks(posts), 999999])
    assert response.status_code == 400
    assert response.json() == {"error": f"not posts of topic python: {posts[1].pk}, 999999"}
    assert off_texts() == set()


@pytest.mark.parametrize("url", [QUEUE, DECISIONS])
def test_anonymous_and_unpermitted_users_get_json_403_not_a_login_page(django_user_model, topics, url):
    staff = django_user_model.objects.create_user("sam", password="pw", is_staff=True)
    for client in [Client(enforce_csrf_checks=True), session(staff)]:
        response = (
            client.get(url) if url == QUEUE else client.post(url, "{}", content_type="application/json")
        )
        assert (response.status_code, response["Content-Type"]) == (403, "application/json")
        assert "error" in response.json()


def test_a_decision_without_the_csrf_token_is_refused(moderator, published):
    ingest("spam", tags=["python"])
    response = decide(session(moderator), "hide", pks(Tweet.objects.all()), csrf=False)
    assert response.status_code == 403
    assert response.json()["error"].startswith("CSRF check failed")
    assert is_visible(Tweet.objects.get())


def test_an_unknown_topic_answers_404_json(moderator):
    client = session(moderator)
    assert client.get(reverse("api-topic-queue", kwargs={"slug": "nope"})).status_code == 404
    response = decide(client, "hide", [1], url=reverse("api-topic-decisions", kwargs={"slug": "nope"}))
    assert (response.status_code, response.json()) == (404, {"error": "no topic 'nope'"})


def test_superusers_moderate_without_being_given_the_permission(admin_user, topics, published):
    ingest("spam", tags=["python"])
    assert decide(session(admin_user), "hide", pks(Tweet.objects.all())).status_code == 200
    assert session(admin_user).get(QUEUE).status_code == 200


def test_an_open_topic_has_an_empty_queue(moderator):
    ingest("shown at once", tags=["python"])
    response = session(moderator).get(QUEUE)
    assert (response.status_code, response.json()) == (200, {"tweets": []})


def test_queued_posts_come_oldest_first_in_the_tweet_shape_with_their_post_id(moderator, topics):
    Topic.objects.filter(slug="python").update(moderation="approve")
    assert (
        for_viewers(ingest("older", "newer", tags=["python"])) == []
    )  # nothing announced: nothing shows yet
    pending = list(Tweet.objects.order_by("pk"))
    rows = session(moderator).get(QUEUE).json()["tweets"]
    assert [(r["post_id"], r["text"], r["topics"], r["state"]) for r in rows] == [
        (t.pk, t.text, ["python"], "pending") for t in pending
    ]
    assert {"id", "seq", "html", "created_at", "url", "author", "lang"} <= rows[0].keys()


def test_an_approved_post_takes_the_top_of_the_wall_and_pages_are_told(moderator, published, topics, client):
    Topic.objects.filter(slug="python").update(moderation="approve")
    ingest("waited", tags=["python"], username="bob", author_id="7")
    BlockRule.objects.create(kind="trusted", value="8")
    ingest("trusted and shown at once", tags=["python"], username="friend", author_id="8")
    waited = Tweet.objects.get(text="waited")
    response = decide(session(moderator), "approve", [waited.pk])
    assert response.json()["results"] == [
        {"post_id": waited.pk, "state": "visible", "applied": True, "pinned": False}
    ]
    shown = client.get("/api/topics/python/tweets/").json()["tweets"]
    assert [t["text"] for t in shown] == ["waited", "trusted and shown at once"]  # newest seq first
    assert shown[0]["seq"] > shown[1]["seq"]
    event = ModerationEvent.objects.get()
    assert (event.action, event.decision.action) == ("show", "approve")
    moderation = client.get("/api/topics/python/moderation/?after=0").json()["events"]
    assert [(e["action"], e["seq"], e["tweet"]["text"]) for e in moderation] == [
        ("show", shown[0]["seq"], "waited")
    ]
    assert [(b.topic_slug, b.kind) for b in published] == [("python", "moderation"), ("python", "review")]
    again = decide(session(moderator), "approve", [waited.pk])
    assert again.json()["results"] == [
        {"post_id": waited.pk, "state": "visible", "applied": False, "pinned": False}
    ]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_moderators_hiding_a_post_at_once_make_one_decision(django_user_model, monkeypatch):
    """The first hide holds the post's lock while the second arrives; the second waits for it, then
    finds the post hidden: one event per topic, and the second is answered "hidden", not applied."""
    python, _ = [Topic.objects.create(name=s.title(), slug=s, query=s) for s in ["python", "django"]]
    ingest("spam", tags=["python", "django"])
    post = Tweet.objects.get()
    first_holds_lock, release = threading.Event(), threading.Event()
    record = moderation.decision_record

    def slow_first_record(**kwargs):
        if not first_holds_lock.is_set():
            first_holds_lock.set()
            release.wait(10)
        return record(**kwargs)

    monkeypatch.setattr(moderation, "decision_record", slow_first_record)
    results: dict[str, list] = {}

    def moderate(name: str) -> None:
        try:
            user = django_user_model.objects.create_superuser(name, password="pw")
            results[name] = posts_decide(
                topic=python, action="hide", post_ids=[post.pk], moderator=user
            ).results
        finally:
            connections.close_all()  # this thread's connection, or the test database cannot be dropped

    first = threading.Thread(target=moderate, args=["first"])
    first.start()
    assert first_holds_lock.wait(10)
    second = threading.Thread(target=moderate, args=["second"])
    second.start()

    def second_waits_for_the_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0] == 1

    assert wait_until(second_waits_for_the_lock, timeout=10)
    release.set()
    first.join(10)
    second.join(10)
    assert [(r.state, r.applied) for r in results["first"]] == [("hidden", True)]
    assert [(r.state, r.applied) for r in results["second"]] == [("hidden", False)]
    assert ModerationEvent.objects.count() == 1  # on the python topic only
    assert ModerationDecision.objects.get().moderator_name == "first"
