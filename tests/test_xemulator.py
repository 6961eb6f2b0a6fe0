"""The X filtered-stream emulator, driven by the real Tweepy AsyncStreamingClient.

Tweepy is pointed at the emulator only through ``client.session =
make_x_session(emu.base_url)``; nothing in Tweepy is patched.
"""

import asyncio
import json
import re
import subprocess
import sys

import aiohttp
import pytest

from streamer.sources.x import EXPANSIONS, MEDIA_FIELDS, TWEET_FIELDS, USER_FIELDS
from streamer.x_session import make_x_session
from xemulator import XEmulator
from xemulator.payloads import OPERATIONAL_DISCONNECT, TOO_MANY_CONNECTIONS, extract_entities

from xemulator_clients import ALICE, REPO, TOKEN, Recorder, streaming, until


@pytest.mark.asyncio
async def test_matching_tweet_arrives_with_matching_rules_and_includes(emu):
    rule = emu.add_rule("#python", tag="py")
    emu.add_rule("from:bob", tag="bob")
    client = Recorder()
    params = {
        "expansions": "author_id",
        "tweet_fields": ["created_at", "entities"],
        "user_fields": ["profile_image_url"],
    }
    async with streaming(emu, client, **params):
        sent = emu.emit(text="hello #python see https://example.com/x", author=ALICE)
        assert await until(lambda: client.responses)
    [resp] = client.responses
    assert resp.data.id == int(sent["data"]["id"])
    assert resp.data.text == "hello #python see https://example.com/x"
    assert resp.data.edit_history_tweet_ids == [resp.data.id]
    assert resp.data.created_at is not None
    assert resp.data.entities["hashtags"] == [{"start": 6, "end": 13, "tag": "python"}]
    assert resp.data.entities["urls"][0]["expanded_url"] == "https://example.com/x"
    [user] = resp.includes["users"]
    assert (user.id, user.username, user.name) == (42, "alice", "Alice")
    assert user.profile_image_url == ALICE["profile_image_url"]
    assert [(r.id, r.tag) for r in resp.matching_rules] == [(rule["id"], "py")]
    assert emu.last_stream_request["query"] == {
        "expansions": "author_id",
        "tweet.fields": "created_at,entities",
        "user.fields": "profile_image_url",
    }


@pytest.mark.asyncio
async def test_only_requested_fields_are_sent(emu):
    emu.add_rule("#python")
    client = Recorder()
    async with streaming(emu, client):
        message = emu.emit(text="plain #python", author=ALICE)
        assert await until(lambda: client.responses)
    assert set(message) == {"data", "matching_rules"}
    assert set(message["data"]) == {"id", "text", "edit_history_tweet_ids"}
    assert message["matching_rules"][0]["tag"] == ""


@pytest.mark.asyncio
async def test_non_matching_tweet_is_not_delivered(emu):
    emu.add_rule("#python")
    assert emu.emit(text="#python but nobody is connected") is None
    client = Recorder()
    async with streaming(emu, client):
        assert emu.emit(text="all about #rust") is None
        assert emu.emit(text="now #python") is not None
        assert await until(lambda: client.responses)
        await asyncio.sleep(0.05)
    assert [r.data.text for r in client.responses] == ["now #python"]
    assert [e["delivered"] for e in emu.emitted] == [False, False, True]


@pytest.mark.asyncio
async def test_keep_alives_arrive_while_idle(emu):
    client = Recorder()
    async with streaming(emu, client):
        assert await until(lambda: client.keepalives >= 2, within=2)


@pytest.mark.asyncio
async def test_stream_with_wrong_token_gets_401(emu):
    client = Recorder(token="wrong")
    async with streaming(emu, client, wait=False):
        assert await until(lambda: client.request_errors)
    assert client.request_errors == [401]
    assert (emu.connect_count, emu.accepted_count) == (1, 0)


@pytest.mark.asyncio
async def test_second_concurrent_connection_gets_429_too_many_connections(emu):
    first, second = Recorder(), Recorder()
    async with streaming(emu, first):
        async with streaming(emu, second, wait=False):
            assert await until(lambda: second.request_errors)
        assert second.request_errors == [429]
        session = make_x_session(emu.base_url)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with session.get("https://api.twitter.com/2/tweets/search/stream", headers=headers) as resp:
            assert resp.status == 429
            assert await resp.json() == TOO_MANY_CONNECTIONS
        await session.close()
        assert emu.connection_count == 1
    assert first.request_errors == []


@pytest.mark.asyncio
async def test_503_then_tweepy_reconnects_after_its_backoff(emu):
    emu.fail_next_connects(status=503, count=1)
    client = Recorder()
    async with streaming(emu, client, wait=False):
        assert await until(lambda: client.request_errors == [503])
        assert emu.connect_count == 1
        assert await until(lambda: client.connects == 1, within=7)  # Tweepy waits 5 s
    assert (emu.connect_count, emu.accepted_count) == (2, 1)


@pytest.mark.asyncio
async def test_dropped_connection_makes_tweepy_reconnect(emu):
    emu.add_rule("#python")
    client = Recorder()
    async with streaming(emu, client):
        assert emu.drop_connections() == 1
        assert await until(lambda: client.connects == 2)
        emu.emit(text="back #python")
        assert await until(lambda: client.responses)
    assert client.connection_errors == 1
    assert emu.accepted_count == 2


@pytest.mark.asyncio
async def test_operational_disconnect_sends_error_then_closes(emu):
    client = Recorder()
    async with streaming(emu, client):
        assert emu.operational_disconnect() == 1
        assert await until(lambda: client.connects == 2)
    assert client.errors == OPERATIONAL_DISCONNECT["errors"]
    assert client.closes == 1


@pytest.mark.asyncio
async def test_stalled_stream_hits_read_timeout_and_tweepy_reconnects(emu):
    client = Recorder()
    async with streaming(emu, client, session_options={"read_timeout": 0.5}):
        assert await until(lambda: client.keepalives >= 1)
        emu.stall()
        assert await until(lambda: client.connects == 2, within=3)
        assert await until(lambda: client.keepalives >= 3)  # the new stream is not stalled
    assert client.connection_errors == 1


@pytest.mark.asyncio
async def test_raw_lines_are_sent_verbatim(emu):
    client = Recorder()
    async with streaming(emu, client):
        emu.emit_raw(b"garbage\xff")
        emu.emit_raw(b'{"data": {"id": "1", "te')
        emu.emit_raw(json.dumps(OPERATIONAL_DISCONNECT).encode())
        assert await until(lambda: len(client.raw_lines) == 3)
        assert client.connects == 1  # garbage alone does not end the stream
    assert client.bad_lines == [b"garbage\xff", b'{"data": {"id": "1", "te']
    assert client.errors == OPERATIONAL_DISCONNECT["errors"]


def one_megabyte_message():
    text = "x" * 1_000_000
    return json.dumps({"data": {"id": "7", "text": text, "edit_history_tweet_ids": ["7"]}}).encode()


@pytest.mark.asyncio
async def test_one_megabyte_line_survives_with_x_session_read_bufsize(emu):
    emu.add_rule("#python")
    client = Recorder()
    async with streaming(emu, client):
        emu.emit_raw(one_megabyte_message())
        emu.emit(text="after #python")
        assert await until(lambda: len(client.responses) == 2)
    assert len(client.responses[0].data.text) == 1_000_000
    assert client.exceptions == []


@pytest.mark.asyncio
async def test_aiohttp_default_read_bufsize_ends_tweepy_stream_on_one_megabyte_line(emu):
    client = Recorder()
    # 2**18 is aiohttp 3.14's default read_bufsize: lines over 2 x 256 KiB fail.
    async with streaming(emu, client, session_options={"read_bufsize": 2**18}) as task:
        emu.emit_raw(one_megabyte_message())
        assert await until(task.done)
    [exc] = client.exceptions
    assert "Got more than 524288 bytes" in str(exc)
    assert client.connects == 1  # Tweepy does not reconnect after this


# -- plumbing ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_x_session_rewrites_host_and_keeps_path_and_query(emu):
    session = make_x_session(emu.base_url)
    url = "https://api.twitter.com/2/tweets/search/stream/rules?ids=1%2C2"
    async with session.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
    await session.close()
    request = emu.last_request
    assert request["path"] == "/2/tweets/search/stream/rules"
    assert request["query"] == {"ids": "1,2"}
    assert request["headers"]["Host"] == emu.base_url.removeprefix("http://")


def test_entities_use_code_point_offsets():
    text = "😀 #py @bob https://a.co/x."
    entities = extract_entities(text)
    assert entities["hashtags"] == [{"start": 2, "end": 5, "tag": "py"}]
    assert entities["mentions"] == [{"start": 6, "end": 10, "username": "bob"}]
    url = entities["urls"][0]
    assert text[url["start"] : url["end"]] == "https://a.co/x"


@pytest.mark.asyncio
async def test_emulator_also_runs_on_the_current_loop():
    async with XEmulator(token=TOKEN, keepalive_interval=0.2) as local:
        local.add_rule("#python")
        client = Recorder()
        async with streaming(local, client):
            assert await local.wait_connected_async()
            with pytest.raises(RuntimeError):
                local.wait_connected()  # would block the loop Tweepy runs on
            local.emit(text="same loop #python")
            assert await until(lambda: client.responses)


@pytest.mark.asyncio
async def test_control_endpoints_drive_a_rate_run_over_http(emu):
    client = Recorder()
    async with aiohttp.ClientSession(emu.base_url) as http:
        async with http.post("/_emulator/rules", json={"value": "#bench", "tag": "bench"}) as resp:
            assert resp.status == 201
        async with streaming(emu, client):
            run = {"rate": 200, "count": 5, "text": "bench {n}"}
            async with http.post("/_emulator/rate", json=run) as resp:
                assert (await resp.json())["running"] is True
            assert await until(lambda: len(client.responses) == 5)
            async with http.get("/_emulator/state") as resp:
                state = await resp.json()
        async with http.post("/_emulator/fail", json={"status": 503, "count": 2}) as resp:
            assert (await resp.json())["pending_failures"] == [503, 503]
    texts = [r.data.text for r in client.responses]
    numbers = [int(re.fullmatch(r"bench (\d+) t=(\d{13}) #bench", t).group(1)) for t in texts]
    assert numbers == [1, 2, 3, 4, 5]
    assert state["rate"]["emitted"] == 5
    assert state["rate"]["delivered"] == 5
    assert state["connected"] is True


def test_cli_serves_in_the_foreground():
    proc = subprocess.Popen(
        [sys.executable, "-m", "xemulator", "--port", "0", "--token", "secret", "--keepalive", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        base_url = re.fullmatch(r"xemulator listening on (http://127\.0\.0\.1:\d+)\n", line).group(1)

        async def probe():
            async with aiohttp.ClientSession(base_url) as http:
                async with http.get("/2/tweets/search/stream/rules") as resp:
                    assert resp.status == 401
                headers = {"Authorization": "Bearer secret"}
                async with http.get("/2/tweets/search/stream/rules", headers=headers) as resp:
                    assert (await resp.json())["meta"]["result_count"] == 0
                async with http.get("/_emulator/state") as resp:
                    assert (await resp.json())["keepalive_interval"] == 1

        asyncio.run(probe())
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert "stopped" in stderr


WORKER_FIELDS = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS}
BOB = {"id": "7", "username": "bob", "name": "Bob"}


@pytest.mark.asyncio
async def test_with_the_workers_fields_replies_quotes_and_reposts_come_with_what_they_reference(emu):
    emu.add_rule("from:alice")
    original = emu.emit(text="Slides from my #python talk", author=BOB, created_at="2026-11-25T09:00:00.000Z")
    assert original is None  # no rule matches bob: X never sends it, but it can be referenced
    bob_post = emu.emitted[-1]["tweet"]["id"]
    alice = {**ALICE, "created_at": "2026-11-20T10:00:00.000Z", "public_metrics": {"followers_count": 3}}
    client = Recorder()
    async with streaming(emu, client, **WORKER_FIELDS):
        emu.emit(text="@bob thanks!", author=alice, reply_to=bob_post)
        emu.emit(text="Worth reading", author=alice, quote_of=bob_post)
        emu.emit(text="", author=alice, retweet_of=bob_post)
        assert await until(lambda: len(client.raw_lines) == 3)
    reply, quote, repost = (json.loads(line) for line in client.raw_lines)
    assert reply["data"]["referenced_tweets"] == [{"type": "replied_to", "id": bob_post}]
    stored_reply = emu.emitted[-3]["tweet"]  # fields the worker does not ask for, kept for who does
    assert (stored_reply["in_reply_to_user_id"], stored_reply["conversation_id"]) == ("7", bob_post)
    assert quote["data"]["referenced_tweets"] == [{"type": "quoted", "id": bob_post}]
    assert repost["data"]["referenced_tweets"] == [{"type": "retweeted", "id": bob_post}]
    assert repost["data"]["text"] == "RT @bob: Slides from my #python talk"
    for message in (reply, quote, repost):
        [included] = message["includes"]["tweets"]
        assert (included["id"], included["author_id"]) == (bob_post, "7")
        assert included["text"] == "Slides from my #python talk"
        author, referenced_author = message["includes"]["users"]
        assert author["id"] == "42" and referenced_author["username"] == "bob"
        assert author["created_at"] == "2026-11-20T10:00:00.000Z"
        assert author["public_metrics"] == {
            "followers_count": 3,
            "following_count": 100,
            "tweet_count": 5000,
            "listed_count": 10,
            "like_count": 2000,
        }
        assert set(referenced_author["public_metrics"]) >= {"followers_count", "following_count"}
        assert message["data"]["possibly_sensitive"] is False


@pytest.mark.asyncio
async def test_references_and_account_details_are_sent_only_when_asked(emu):
    emu.add_rule("from:alice")
    emu.emit(text="original", author=BOB)
    client = Recorder()
    async with streaming(emu, client, expansions="author_id"):
        emu.emit(text="Worth reading", author=ALICE, quote_of=emu.emitted[-1]["tweet"]["id"])
        assert await until(lambda: client.raw_lines)
    message = json.loads(client.raw_lines[0])
    assert "referenced_tweets" not in message["data"] and "tweets" not in message["includes"]
    assert set(message["includes"]["users"][0]) == {"id", "name", "username"}


@pytest.mark.asyncio
async def test_a_reference_to_a_post_x_cannot_find_is_reported_in_errors(emu):
    emu.add_rule("from:alice")
    client = Recorder()
    async with aiohttp.ClientSession(emu.base_url) as http:
        async with streaming(emu, client, **WORKER_FIELDS):
            body = {"text": "@ghost replying", "author": ALICE, "reply_to": "1234567890"}
            async with http.post("/_emulator/emit", json=body) as resp:
                assert (await resp.json())["delivered"] is True
            assert await until(lambda: client.raw_lines)
    message = json.loads(client.raw_lines[0])
    assert message["data"]["referenced_tweets"] == [{"type": "replied_to", "id": "1234567890"}]
    assert "tweets" not in message["includes"] and "in_reply_to_user_id" not in message["data"]
    [error] = message["errors"]
    assert (error["title"], error["resource_id"], error["parameter"]) == (
        "Not Found Error",
        "1234567890",
        "referenced_tweets.id",
    )


@pytest.mark.asyncio
async def test_media_are_sent_in_includes_media_with_the_fields_asked_for(emu):
    emu.add_rule("from:alice")
    client = Recorder()
    photo = {
        "type": "photo",
        "url": "https://pbs.twimg.com/media/a.jpg",
        "width": 800,
        "height": 600,
        "alt_text": "The stage",
    }
    video = {"type": "video", "preview_image_url": "https://pbs.twimg.com/v.jpg", "duration_ms": 4000}
    async with streaming(
        emu, client, expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS, media_fields=MEDIA_FIELDS
    ):
        emu.emit(text="Look", author=ALICE, media=[photo, video], possibly_sensitive=True)
        assert await until(lambda: client.raw_lines)
    message = json.loads(client.raw_lines[0])
    keys = message["data"]["attachments"]["media_keys"]
    assert [key.split("_")[0] for key in keys] == ["3", "7"]  # X's type numbers
    assert message["includes"]["media"] == [
        {"media_key": keys[0], **photo},
        {"media_key": keys[1], "type": "video", "preview_image_url": "https://pbs.twimg.com/v.jpg"},
    ]  # duration_ms was not asked for
    assert message["data"]["possibly_sensitive"] is True
