"""The page's connection state machine in Chromium, against a scripted WebSocket (Playwright's
route_web_socket): history, duplicates, hide and show, a 4408 close with catch-up of tweets and
moderation decisions through the API, then 4404. The page never sends a frame."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import WebSocketRoute, expect

from feed.models import Topic, TopicPost, Tweet
from feed.moderation import tweets_set_hidden
from feed.rendering import tweet_wire

from browser_pages import feed_rows, new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
expect.set_options(timeout=10_000)


def test_connection_state_machine(browser, start_server, orm) -> None:
    """A scripted socket: history, hide and unhide, a 4408 close with catch-up, then 4404. The page
    never sends a frame."""
    server = start_server("uvicorn")
    base = datetime.now(UTC) - timedelta(minutes=5)

    def make_tweets() -> list[int]:
        topic = Topic.objects.create(name="Scripted", slug="scripted", query="scripted")
        made = [
            Tweet.objects.create(
                network_id=str(10**17 + i),
                author_id="1",
                author_username="bob",
                author_name="Bob",
                text=f"stored {i}",
                created_at=base + timedelta(seconds=i),
            )
            for i in range(5)
        ]
        return [TopicPost.objects.create(topic=topic, tweet=t, state="visible", shown=True).pk for t in made]

    seqs = orm(make_tweets)

    def wire(i: int) -> dict:
        return {
            "seq": seqs[i],
            "id": str(10**17 + i),
            "text": f"stored {i}",
            "html": f"stored {i}",
            "created_at": (base + timedelta(seconds=i)).isoformat(),
            "url": "javascript:alert(1)",
            "author": {"id": "1", "username": "bob", "name": "Bob", "avatar_url": ""},
            "lang": "en",
            "topics": [],
        }

    connects: list[WebSocketRoute] = []
    sent_by_page: list[str] = []

    def on_socket(ws: WebSocketRoute) -> None:
        connects.append(ws)
        ws.on_message(lambda message: sent_by_page.append(message))
        if len(connects) == 1:  # history holds 0 and 1; then the server gives up on the page
            ws.send(json.dumps({"type": "history", "tweets": [wire(1), wire(0)]}))
            ws.send(json.dumps({"type": "tweets", "tweets": [wire(1)]}))  # a duplicate: ignored
        elif len(connects) == 2:  # history holds only 4: 2 and 3 must come from the API
            ws.send(json.dumps({"type": "history", "mod": 10**6, "tweets": [wire(4)]}))
        else:
            ws.close(code=4404, reason="unknown topic")

    page = new_page(browser)
    page.route_web_socket(re.compile(r"/ws/topics/scripted/$"), on_socket)
    page.goto(f"{server.url}/topics/scripted/")
    status = page.locator("#feed-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(page.locator("#feed > .tweet")).to_have_count(2)
    assert page.locator("#feed a.tweet__time").count() == 0  # only https://x.com/ URLs are linked
    assert page.locator("#feed").get_attribute("data-last-seq") == str(seqs[1])
    connects[0].send(json.dumps({"type": "hide", "ids": [str(10**17)]}))
    expect(page.locator("#feed > .tweet")).to_have_count(1)
    connects[0].send(json.dumps({"type": "show", "mod": 0, "tweets": [wire(0)]}))  # shown again
    expect(page.locator("#feed > .tweet")).to_have_count(2)

    # While the page is away, a moderator hides tweet 1, which the page shows: the next history
    # names a newer moderation mark, and the page reads the decisions it missed from the API.
    orm(lambda: tweets_set_hidden(tweets=[TopicPost.objects.get(pk=seqs[1]).tweet], hidden=True))
    connects[0].close(code=4408, reason="too slow")
    expect(page.locator("#feed > .tweet")).to_have_count(4)
    assert [seq for seq, _ in feed_rows(page)] == [seqs[4], seqs[3], seqs[2], seqs[0]]
    expect(status).to_have_attribute("data-state", "live")
    assert page.locator("#feed").get_attribute("data-last-seq") == str(seqs[4])

    connects[1].close(code=1011, reason="server error")
    expect(status).to_have_attribute("data-state", "not-found", timeout=15_000)
    expect(status).to_contain_text("Topic not found")
    expect(page.locator("#feed > .tweet")).to_have_count(4)  # what was shown stays
    assert len(connects) == 3 and sent_by_page == []
    assert page.csp_violations == []


def test_a_page_away_for_long_fetches_only_what_it_shows(browser, start_server, orm) -> None:
    """500 tweets arrived while the page was away: it shows its 200 newest after one API page, and
    never pages through the backlog it would drop."""
    server = start_server("uvicorn")
    base = datetime.now(UTC) - timedelta(hours=1)

    def make_tweets(count: int) -> list[dict]:
        topic, _ = Topic.objects.get_or_create(name="Busy", slug="busy", query="busy")
        start = Tweet.objects.count()
        made = Tweet.objects.bulk_create(
            Tweet(
                network_id=str(10**17 + start + i),
                author_id="1",
                author_username="bob",
                author_name="Bob",
                text=f"tweet {start + i}",
                created_at=base + timedelta(seconds=start + i),
            )
            for i in range(count)
        )
        posts = TopicPost.objects.bulk_create(TopicPost(topic=topic, tweet=t, state="visible") for t in made)
        return [tweet_wire(post.tweet, ["busy"], seq=post.pk, at=post.created_at) for post in posts]

    first = orm(make_tweets, 1)
    connects: list[WebSocketRoute] = []
    backlog: list[dict] = []

    def on_socket(ws: WebSocketRoute) -> None:
        connects.append(ws)
        tweets = first if len(connects) == 1 else backlog[:50]  # the history: the 50 newest
        ws.send(json.dumps({"type": "history", "mod": 0, "tweets": tweets}))

    page = new_page(browser)
    api_calls: list[str] = []
    page.on("request", lambda r: "/api/topics/busy/tweets/" in r.url and api_calls.append(r.url))
    page.route_web_socket(re.compile(r"/ws/topics/busy/$"), on_socket)
    page.goto(f"{server.url}/topics/busy/")
    expect(page.locator("#feed > .tweet")).to_have_count(1)
    backlog[:] = sorted(orm(make_tweets, 500), key=lambda t: -t["seq"])
    connects[0].close(code=4408, reason="away")
    expect(page.locator("#feed > .tweet")).to_have_count(200)
    expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")
    assert [seq for seq, _ in feed_rows(page)] == [t["seq"] for t in backlog[:200]]
    assert len(api_calls) == 1 and f"before={backlog[49]['seq']}" in api_calls[0]
