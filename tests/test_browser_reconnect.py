"""The page's connection state machine in Chromium, against a scripted WebSocket (Playwright's
route_web_socket): history, duplicates, hide and unhide, a 4408 close with catch-up through the API,
then 4404. The page never sends a frame."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import WebSocketRoute, expect

from feed.models import Topic, Tweet

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
                x_id=str(10**17 + i),
                author_id="1",
                author_username="bob",
                author_name="Bob",
                text=f"stored {i}",
                created_at=base + timedelta(seconds=i),
            )
            for i in range(5)
        ]
        topic.tweets.add(*made)
        return [t.pk for t in made]

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
            ws.send(json.dumps({"type": "history", "tweets": [wire(4)]}))
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
    connects[0].send(json.dumps({"type": "tweets", "tweets": [wire(0)]}))  # shown again
    expect(page.locator("#feed > .tweet")).to_have_count(2)

    connects[0].close(code=4408, reason="too slow")
    expect(page.locator("#feed > .tweet")).to_have_count(5)
    assert [seq for seq, _ in feed_rows(page)] == sorted(seqs, reverse=True)
    expect(status).to_have_attribute("data-state", "live")
    assert page.locator("#feed").get_attribute("data-last-seq") == str(seqs[4])

    connects[1].close(code=1011, reason="server error")
    expect(status).to_have_attribute("data-state", "not-found", timeout=15_000)
    expect(status).to_contain_text("Topic not found")
    expect(page.locator("#feed > .tweet")).to_have_count(5)  # what was shown stays
    assert len(connects) == 3 and sent_by_page == []
    assert page.csp_violations == []
