"""The Mastodon emulator, driven by a real ``websockets`` client and urllib.

Each behaviour checked here is one the public documentation describes (mastodon/documentation,
``content/en/methods/{streaming,timelines,instance}.md``, ``api/rate-limits.md``,
``entities/Status.md``).
"""

import asyncio
import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mastodonemulator import MastodonEmulator

TOKEN = "user-token"
TOKENS = {TOKEN: "read", "write-only": "write", "app-token": {"scopes": "read", "user": False}}


@pytest.fixture
def masto():
    with MastodonEmulator(domain="a.example", tokens=TOKENS) as emu:
        yield emu


def stream(emu: MastodonEmulator, token: str | None = TOKEN, query: str = ""):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return connect(f"{emu.streaming_url}/api/v1/streaming{query}", additional_headers=headers)


async def subscribe(ws, emu: MastodonEmulator, *tags: str) -> None:
    for tag in tags:
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": tag}))
    assert await emu.wait_subscribed_async(len(tags))


async def receive(ws, timeout: float = 2.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing_more(ws, wait: float = 0.2) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


def get(emu: MastodonEmulator, path: str, token: str | None = None):
    """(status, headers, parsed JSON body) of a REST GET."""
    request = urllib.request.Request(emu.base_url + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, json.load(exc)


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (None, "Missing access token"),
        ("wrong", "Invalid access token"),
        ("app-token", "This method requires an authenticated user"),
    ],
)
async def test_streaming_refuses_handshake_without_a_valid_user_token(masto, token, error):
    with pytest.raises(InvalidStatus) as refused:
        async with stream(masto, token):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": error}


async def test_access_token_query_parameter_is_accepted_and_subscribes(masto):
    async with stream(masto, None, f"?access_token={TOKEN}&stream=hashtag&tag=cats") as ws:
        assert await masto.wait_subscribed_async(1)
        masto.emit("#cats")
        assert (await receive(ws))["stream"] == ["hashtag", "cats"]


async def test_token_without_read_scope_gets_an_error_on_subscribe(masto):
    async with stream(masto, "write-only") as ws:
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "cats"}))
        assert await receive(ws) == {"error": "Access token does not have the required scopes", "status": 401}
        await ws.send(json.dumps({"type": "subscribe", "stream": "nonsense"}))
        assert await receive(ws) == {"error": "Unknown stream type", "status": 400}


async def test_two_hashtags_on_one_socket_receive_only_matching_updates(masto):
    async with stream(masto) as ws:
        await subscribe(ws, masto, "cats", "Dogs")
        cat = masto.emit("a #Cat is not a #CATS post", account="alice")
        masto.emit("#birds only")
        masto.emit("unlisted #cats", visibility="unlisted")
        dog = masto.emit("#dogs", account="bob")
        first, second = await receive(ws), await receive(ws)
        assert await nothing_more(ws)
    assert first["stream"] == ["hashtag", "cats"] and first["event"] == "update"
    assert isinstance(first["payload"], str)  # the Status JSON encoded as a string: JSON twice
    assert json.loads(first["payload"])["id"] == cat["id"]
    assert second["stream"] == ["hashtag", "Dogs"]  # the tag as subscribed; matched case-insensitively
    assert json.loads(second["payload"]) == dog


async def test_status_tagged_twice_arrives_once_per_subscribed_stream(masto):
    async with stream(masto) as ws:
        await subscribe(ws, masto, "cats", "dogs")
        status = masto.emit("#cats and #dogs")
        events = [await receive(ws), await receive(ws)]
    assert sorted(e["stream"][1] for e in events) == ["cats", "dogs"]
    assert {json.loads(e["payload"])["id"] for e in events} == {status["id"]}


async def test_edit_sends_status_update_and_delete_sends_the_id(masto):
    async with stream(masto) as ws:
        await subscribe(ws, masto, "cats")
        status = masto.emit("first #cats")
        await receive(ws)
        masto.edit(status["id"], text="edited #cats")
        update = await receive(ws)
        masto.delete(status["id"])
        deleted = await receive(ws)
    edited = json.loads(update["payload"])
    assert update["event"] == "status.update"
    assert (edited["id"], edited["uri"]) == (status["id"], status["uri"])
    assert edited["edited_at"] is not None and "edited" in edited["content"]
    assert deleted == {"stream": ["hashtag", "cats"], "event": "delete", "payload": status["id"]}
    assert get(masto, "/api/v1/timelines/tag/cats")[2] == []


async def test_unsubscribe_stops_events(masto):
    async with stream(masto) as ws:
        await subscribe(ws, masto, "cats")
        await ws.send(json.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "CATS"}))
        assert await masto.wait_until_async(lambda: not masto.subscriptions)
        masto.emit("#cats")
        assert await nothing_more(ws)


def test_tag_timeline_pages_newest_first_with_link_headers_and_min_id(masto):
    ids = [masto.emit(f"post {n} #cats")["id"] for n in range(5)]
    status, headers, page = get(masto, "/api/v1/timelines/tag/Cats?limit=2")
    assert status == 200 and [s["id"] for s in page] == ids[:2:-1]
    links = {rel: url for url, rel in _links(headers["Link"])}
    assert urlsplit(links["next"]).query == f"limit=2&max_id={ids[3]}"
    assert urlsplit(links["prev"]).query == f"limit=2&min_id={ids[4]}"
    older = get(masto, urlsplit(links["next"]).path + "?" + urlsplit(links["next"]).query)[2]
    assert [s["id"] for s in older] == [ids[2], ids[1]]
    # min_id: the statuses immediately after the cursor; since_id: the newest after it
    assert [s["id"] for s in get(masto, f"/api/v1/timelines/tag/cats?min_id={ids[0]}&limit=2")[2]] == [
        ids[2],
        ids[1],
    ]
    assert [s["id"] for s in get(masto, f"/api/v1/timelines/tag/cats?since_id={ids[0]}&limit=2")[2]] == [
        ids[4],
        ids[3],
    ]
    assert get(masto, "/api/v1/timelines/tag/nevertagged")[:3:2] == (404, {"error": "Record not found"})


def _links(header: str) -> list[tuple[str, str]]:
    parts = [p.strip().split(";") for p in header.split(",")]
    return [(url.strip("<> "), rel.split("=")[1].strip('"')) for url, rel in parts]


def test_rate_limit_headers_count_down_then_429():
    with MastodonEmulator(tokens=TOKENS, rate_limit=2, rate_period=300) as emu:
        emu.emit("#cats")
        first, second, third = (get(emu, "/api/v1/timelines/tag/cats") for _ in range(3))
        by_token = get(emu, "/api/v1/timelines/tag/cats", TOKEN)  # counted per token, not per IP
    assert [r[0] for r in (first, second, third, by_token)] == [200, 200, 429, 200]
    assert [r[1]["X-RateLimit-Remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert third[1]["X-RateLimit-Limit"] == "2" and third[2] == {"error": "Too many requests"}
    assert third[1]["X-RateLimit-Reset"].endswith("Z")  # ISO 8601


def test_instance_advertises_its_streaming_url(masto):
    body = get(masto, "/api/v2/instance")[2]
    assert body["domain"] == "a.example"
    assert (
        body["configuration"]["urls"]["streaming"]
        == masto.streaming_url
        == masto.base_url.replace("http", "ws")
    )
    assert get(masto, "/api/v1/instance")[2]["urls"]["streaming_api"] == masto.streaming_url


async def test_separate_streaming_host_is_advertised_and_the_rest_host_redirects():
    with MastodonEmulator(tokens=TOKENS, separate_streaming=True) as emu:
        advertised = get(emu, "/api/v2/instance")[2]["configuration"]["urls"]["streaming"]
        assert advertised == emu.streaming_url != emu.base_url.replace("http", "ws")
        rest = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
        rest.request("GET", "/api/v1/streaming?stream=public")
        redirect = rest.getresponse()
        assert redirect.status == 301
        assert redirect.getheader("Location") == f"{advertised}/api/v1/streaming?stream=public"
        async with stream(emu) as ws:
            await subscribe(ws, emu, "cats")
            emu.emit("#cats")
            assert (await receive(ws))["event"] == "update"


async def test_refused_streaming_answers_503_and_drop_closes_sockets(masto):
    async with stream(masto) as ws:
        await subscribe(ws, masto, "cats")
        assert masto.drop_streaming(code=1001) == 1
        with pytest.raises(ConnectionClosed):
            await receive(ws)
    masto.refuse_streaming(503)
    with pytest.raises(InvalidStatus) as refused:
        async with stream(masto):
            pass
    assert refused.value.response.status_code == 503
    masto.refuse_streaming(None)
    async with stream(masto):
        pass


async def test_a_revoked_token_closes_its_streams_and_is_refused_from_then_on(masto):
    async with stream(masto) as ws, stream(masto, "write-only"):
        await subscribe(ws, masto, "cats")
        assert masto.revoke_token(TOKEN) == 1
        with pytest.raises(ConnectionClosed):
            await receive(ws)
        assert masto.connection_count == 1  # the other token's socket stays
    assert get(masto, "/api/v1/timelines/tag/cats", TOKEN)[0] == 401
    with pytest.raises(InvalidStatus) as refused:
        async with stream(masto):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": "Invalid access token"}


async def test_a_raw_frame_reaches_every_socket_exactly_as_sent(masto):
    async with stream(masto) as one, stream(masto) as two:
        await subscribe(one, masto, "cats")
        assert masto.send_raw('{"event": "update", "payload": "not json') == 2
        for ws in (one, two):
            assert await asyncio.wait_for(ws.recv(), 2) == '{"event": "update", "payload": "not json'
        masto.emit("#cats")
        assert (await receive(one))["event"] == "update"  # the socket goes on


def test_fault_controls_answer_over_http(masto):
    def post(control: str, body: dict) -> dict:
        request = urllib.request.Request(
            f"{masto.base_url}/_emulator/{control}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    assert post("streaming/raw", {"text": "not json"}) == {"sent": 0}
    assert post("tokens/revoke", {"token": TOKEN}) == {"closed": 0}
    assert post("ratelimit/exhaust", {"seconds": 0})["until"] > 0
    assert get(masto, "/api/v1/timelines/tag/cats", TOKEN)[0] == 401


def test_an_exhausted_rate_limit_answers_429_until_its_reset():
    with MastodonEmulator(tokens=TOKENS) as emu:
        until = emu.exhaust_rate_limit(0.5)
        status, headers, body = get(emu, "/api/v1/timelines/tag/cats", TOKEN)
        assert (status, body) == (429, {"error": "Too many requests"})
        assert headers["X-RateLimit-Remaining"] == "0"
        reset = datetime.fromisoformat(headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
        assert abs(reset.timestamp() - until) < 0.01
        time.sleep(until - time.time() + 0.05)
        assert get(emu, "/api/v1/timelines/tag/cats", TOKEN)[0] in (200, 404)  # not 429 any more


def test_same_uri_on_two_instances_with_different_local_ids():
    with MastodonEmulator(domain="a.example") as a, MastodonEmulator(domain="b.example") as b:
        original = a.emit("hello #fedi", account={"username": "alice", "display_name": "Alice"})
        copy = b.federate(original)
        seen_on_b = get(b, "/api/v1/timelines/tag/fedi")[2]
    assert [s["id"] for s in seen_on_b] == [copy["id"]] and copy["id"] != original["id"]
    assert (copy["uri"], copy["url"]) == (original["uri"], original["url"])
    assert original["uri"] == f"https://a.example/users/alice/statuses/{original['id']}"
    assert (original["account"]["acct"], copy["account"]["acct"]) == ("alice", "alice@a.example")
    assert copy["content"] == original["content"] and copy["tags"][0]["url"] == "https://b.example/tags/fedi"


async def test_boost_carries_the_original_in_reblog_and_stays_off_hashtag_streams(masto):
    async with stream(masto) as ws:
        await subscribe(ws, masto, "cats")
        original = masto.emit("look #cats", account="alice")
        await receive(ws)
        boost = masto.emit(account="bob", reblog_of=original["id"])
        assert await nothing_more(ws)  # a boost has no tags of its own
    assert boost["reblog"]["id"] == original["id"] and boost["reblog"]["account"]["acct"] == "alice"
    assert (boost["content"], boost["tags"], boost["account"]["acct"]) == ("", [], "bob")
    assert get(masto, f"/api/v1/statuses/{boost['id']}")[2]["reblog"]["uri"] == original["uri"]


def test_text_becomes_mastodon_html_with_emoji_media_and_spoiler(masto):
    masto.add_account("bob")
    masto.add_emoji("blobcat")
    status = masto.emit(
        "hi @bob :blobcat: #Cats https://www.example.com/a/rather/long/path/here",
        spoiler_text="cw",
        media=[{"type": "gifv", "description": "a cat", "width": 600, "height": 332}],
    )
    assert '<span class="invisible">https://www.</span><span class="ellipsis">' in status["content"]
    assert 'class="mention hashtag" rel="tag">#<span>Cats</span></a>' in status["content"]
    assert 'class="u-url mention">@<span>bob</span>' in status["content"]
    assert [e["shortcode"] for e in status["emojis"]] == ["blobcat"] and status["sensitive"] is True
    assert status["mentions"][0]["acct"] == "bob" and status["tags"][0]["name"] == "cats"
    [media] = status["media_attachments"]
    assert (media["type"], media["description"], media["meta"]["original"]["width"]) == ("gifv", "a cat", 600)


def test_hostile_content_is_passed_through_raw(masto):
    hostile = (
        '<p style="x"><script>alert(1)</script><a href="javascript:alert(2)">#cats</a>'
        "<span><span>n</span></span></p>"
    )
    status = masto.emit(content=hostile)
    assert status["content"] == hostile
    assert get(masto, "/api/v1/timelines/tag/cats")[2][0]["content"] == hostile


def test_command_line_serves_the_instance_endpoint():
    command = [sys.executable, "-m", "mastodonemulator", "--port", "0", "--domain", "cli.example"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            url = line.split(" on ")[1].split()[0]
            with urllib.request.urlopen(url + "/api/v2/instance", timeout=5) as response:
                assert json.load(response)["domain"] == "cli.example"
        finally:
            proc.terminate()
