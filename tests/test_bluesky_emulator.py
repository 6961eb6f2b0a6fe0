"""The Bluesky emulator (Jetstream /subscribe and the AppView's getProfiles), driven by the real
``websockets`` client and plain HTTP, as a consumer would reach the real services."""

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from blueskyemulator import BlueskyEmulator

POSTS = "wantedCollections=app.bsky.feed.post"


@pytest.fixture
def bsky() -> Iterator[BlueskyEmulator]:
    with BlueskyEmulator() as emulator:
        emulator.add_account("alice.test", display_name="Alice", avatar="https://cdn.example/alice.jpg")
        emulator.add_account("bob.test", display_name="Bob")
        yield emulator


async def recv(ws, timeout: float = 3) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_all(ws, count: int, timeout: float = 5) -> list[dict]:
    return [await recv(ws, timeout) for _ in range(count)]


async def silent(ws, wait: float = 0.2) -> bool:
    """True if nothing arrives within ``wait`` seconds."""
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


async def subscribe(emu: BlueskyEmulator, query: str = "", connected: int = 1):
    ws = await connect(f"{emu.jetstream_url}?{query}")
    assert await emu.wait_connected_async(connected)
    return ws


def http_get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def get_profiles(emu: BlueskyEmulator, actors: list[str]) -> tuple[int, dict]:
    query = "&".join(f"actors={a}" for a in actors)
    return http_get(f"{emu.base_url}/xrpc/app.bsky.actor.getProfiles?{query}")


# -- Jetstream filters -----------------------------------------------------------------------------


async def test_wanted_collections_delivers_posts_and_identity_but_not_likes_or_follows(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        post = bsky.post("first", author="alice.test")
        bsky.like(post["uri"], author="bob.test")
        bsky.follow("alice.test", author="bob.test")
        bsky.identity("bob.test", "bobby.test")  # identity and account events ignore the filter
        bsky.post("second", author="bob.test")
        events = await recv_all(ws, 3)
        assert await silent(ws)
    assert [e["kind"] for e in events] == ["commit", "identity", "commit"]
    assert [e["commit"]["record"]["text"] for e in events if e["kind"] == "commit"] == ["first", "second"]
    assert events[0] == {
        "did": post["did"],
        "time_us": post["time_us"],
        "kind": "commit",
        "commit": post["commit"],
    }
    assert set(events[0]["commit"]) == {"rev", "operation", "collection", "rkey", "record", "cid"}


async def test_wanted_collections_prefix_wildcard_matches_the_namespace(bsky):
    async with await subscribe(bsky, "wantedCollections=app.bsky.graph.*") as ws:
        post = bsky.post("not a graph record", author="alice.test")
        bsky.like(post["uri"], author="bob.test")
        bsky.follow("alice.test", author="bob.test")
        [event] = await recv_all(ws, 1)
        assert await silent(ws)
    assert event["commit"]["collection"] == "app.bsky.graph.follow"
    assert event["commit"]["record"]["subject"] == bsky.account("alice.test")["did"]


async def test_incomplete_collection_prefix_is_refused_before_the_upgrade(bsky):
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{bsky.jetstream_url}?wantedCollections=app.bsky.graph.fo*")
    assert refused.value.response.status_code == 400
    assert b"invalid collection" in refused.value.response.body


async def test_compress_is_refused_with_a_reason(bsky):
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{bsky.jetstream_url}?compress=true")
    assert refused.value.response.status_code == 400
    assert b"not emulated" in refused.value.response.body


async def test_wanted_dids_filters_every_kind_of_event(bsky):
    alice = bsky.account("alice.test")["did"]
    async with await subscribe(bsky, f"wantedDids={alice}") as ws:
        bsky.post("from bob", author="bob.test")
        bsky.identity("bob.test", "bobby.test")
        bsky.post("from alice", author="alice.test")
        bsky.account_status("alice.test", active=False, status="deactivated")
        events = await recv_all(ws, 2)
        assert await silent(ws)
    assert [e["did"] for e in events] == [alice, alice]
    assert events[1]["account"] | {"seq": 0, "time": ""} == {
        "active": False,
        "did": alice,
        "status": "deactivated",
        "seq": 0,
        "time": "",
    }


async def test_max_message_size_skips_larger_events(bsky):
    async with await subscribe(bsky, f"{POSTS}&maxMessageSizeBytes=700") as ws:
        bsky.post("x" * 800, author="alice.test")
        bsky.post("short", author="alice.test")
        [event] = await recv_all(ws, 1)
    assert event["commit"]["record"]["text"] == "short"


async def test_options_update_replaces_the_filter(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        update = {"wantedCollections": ["app.bsky.feed.like"], "wantedDids": [], "maxMessageSizeBytes": 0}
        await ws.send(json.dumps({"type": "options_update", "payload": update}))
        await asyncio.sleep(0.1)
        post = bsky.post("a post", author="alice.test")
        bsky.like(post["uri"], author="bob.test")
        [event] = await recv_all(ws, 1)
    assert event["commit"]["collection"] == "app.bsky.feed.like"


async def test_invalid_options_update_closes_the_socket(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        await ws.send("not json")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd.code == 1000
    assert "unmarshal" in closed.value.rcvd.reason


async def test_require_hello_sends_nothing_until_the_first_options_update(bsky):
    async with await subscribe(bsky, "requireHello=true") as ws:
        bsky.post("before hello", author="alice.test")
        assert await silent(ws)
        await ws.send(
            json.dumps({"type": "options_update", "payload": {"wantedCollections": ["app.bsky.feed.post"]}})
        )
        await asyncio.sleep(0.1)
        bsky.post("after hello", author="alice.test")
        [event] = await recv_all(ws, 1)
    assert event["commit"]["record"]["text"] == "after hello"


# -- cursor ----------------------------------------------------------------------------------------


async def test_cursor_replays_events_at_or_after_it_then_continues_live(bsky):
    sent = [bsky.post(f"post {i}", author="alice.test") for i in range(5)]
    async with await subscribe(bsky, f"{POSTS}&cursor={sent[2]['time_us']}") as ws:
        replayed = await recv_all(ws, 3)
        bsky.post("live", author="alice.test")
        [live] = await recv_all(ws, 1)
        assert await silent(ws)
    assert [e["commit"]["record"]["text"] for e in replayed] == ["post 2", "post 3", "post 4"]
    assert live["commit"]["record"]["text"] == "live"
    times = [e["time_us"] for e in [*replayed, live]]
    assert times == sorted(set(times))


async def test_cursor_in_the_future_is_live_tail(bsky):
    bsky.post("already out", author="alice.test")
    future = (time.time_ns() // 1000) + 3_600_000_000
    async with await subscribe(bsky, f"{POSTS}&cursor={future}") as ws:
        assert await silent(ws)
        bsky.post("live", author="alice.test")
        [event] = await recv_all(ws, 1)
    assert event["commit"]["record"]["text"] == "live"


async def test_cursor_older_than_the_buffer_starts_at_the_oldest_event_kept():
    with BlueskyEmulator(buffer_size=3) as emu:
        sent = [emu.post(f"post {i}") for i in range(5)]
        async with await subscribe(emu, f"{POSTS}&cursor={sent[0]['time_us']}") as ws:
            replayed = await recv_all(ws, 3)
            assert await silent(ws)
        assert emu.state()["forgotten_count"] == 2
    assert [e["commit"]["record"]["text"] for e in replayed] == ["post 2", "post 3", "post 4"]


async def test_malformed_cursor_is_refused(bsky):
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{bsky.jetstream_url}?cursor=yesterday")
    assert refused.value.response.status_code == 400


# -- records ---------------------------------------------------------------------------------------


async def test_facet_byte_offsets_count_utf8_bytes_after_emoji_and_non_latin_text(bsky):
    alice = bsky.account("alice.test")["did"]
    text = "東京で 🎉🎉 привет @alice.test #café_2024 see https://example.com/a?b=1. #東京"
    async with await subscribe(bsky, POSTS) as ws:
        bsky.post(text, author="bob.test")
        [event] = await recv_all(ws, 1)
    record = event["commit"]["record"]
    raw = record["text"].encode("utf-8")
    spans = [
        (raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode("utf-8"), f["features"][0])
        for f in record["facets"]
    ]
    assert spans == [
        ("@alice.test", {"$type": "app.bsky.richtext.facet#mention", "did": alice}),
        ("#café_2024", {"$type": "app.bsky.richtext.facet#tag", "tag": "café_2024"}),
        (
            "https://example.com/a?b=1",
            {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a?b=1"},
        ),
        ("#東京", {"$type": "app.bsky.richtext.facet#tag", "tag": "東京"}),
    ]


def test_mention_of_an_unknown_handle_gets_no_facet(bsky):
    post = bsky.post("hi @nobody.test and #only", author="alice.test")
    assert [f["features"][0]["$type"] for f in post["commit"]["record"]["facets"]] == [
        "app.bsky.richtext.facet#tag"
    ]


def test_post_carries_tags_langs_reply_and_embeds(bsky):
    root = bsky.post("root", author="alice.test")
    parent = bsky.post("parent", author="bob.test", reply_to=root["uri"])
    reply = bsky.post(
        "reply", author="alice.test", reply_to=parent["uri"], tags=["extra"], langs=["en", "fr"]
    )
    images = [{"alt": "a cat", "aspectRatio": {"width": 4, "height": 3}}, {"alt": "a dog"}]
    quote = bsky.post("look", author="bob.test", quote=root["uri"], images=images)
    rec = reply["commit"]["record"]
    assert rec["reply"] == {
        "root": {"uri": root["uri"], "cid": root["commit"]["cid"]},
        "parent": {"uri": parent["uri"], "cid": parent["commit"]["cid"]},
    }
    assert (rec["tags"], rec["langs"]) == (["extra"], ["en", "fr"])
    embed = quote["commit"]["record"]["embed"]
    assert embed["$type"] == "app.bsky.embed.recordWithMedia"
    assert embed["record"] == {
        "$type": "app.bsky.embed.record",
        "record": {"uri": root["uri"], "cid": root["commit"]["cid"]},
    }
    assert [(i["alt"], i.get("aspectRatio")) for i in embed["media"]["images"]] == [
        ("a cat", {"width": 4, "height": 3}),
        ("a dog", None),
    ]
    assert embed["media"]["images"][0]["image"]["ref"]["$link"].startswith("bafkrei")
    assert bsky.post("q", quote=root["uri"])["commit"]["record"]["embed"]["$type"] == "app.bsky.embed.record"


async def test_update_and_delete_events_name_the_same_record(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        post = bsky.post("typo", author="alice.test")
        bsky.update_post(post["uri"], "fixed")
        bsky.delete(post["uri"])
        created, updated, deleted = await recv_all(ws, 3)
    assert [e["commit"]["operation"] for e in (created, updated, deleted)] == ["create", "update", "delete"]
    assert created["commit"]["rkey"] == updated["commit"]["rkey"] == deleted["commit"]["rkey"]
    assert updated["commit"]["record"]["text"] == "fixed"
    assert updated["commit"]["cid"] != created["commit"]["cid"]
    assert set(deleted["commit"]) == {"rev", "operation", "collection", "rkey"}
    assert created["commit"]["rev"] < updated["commit"]["rev"] < deleted["commit"]["rev"]


async def test_identity_event_carries_the_new_handle_and_the_appview_follows(bsky):
    async with await subscribe(bsky) as ws:
        bsky.identity("bob.test", "robert.test")
        [event] = await recv_all(ws, 1)
    assert event["kind"] == "identity"
    assert event["identity"]["handle"] == "robert.test"
    assert event["identity"]["did"] == event["did"]
    assert get_profiles(bsky, ["bob.test"]) == (200, {"profiles": []})
    assert get_profiles(bsky, ["robert.test"])[1]["profiles"][0]["did"] == event["did"]


# -- AppView ---------------------------------------------------------------------------------------


def test_get_profiles_answers_known_actors_by_did_or_handle_and_omits_unknown_ones(bsky):
    alice = bsky.add_account("alice.test", display_name="Alice", avatar="https://cdn.example/alice.jpg")
    status, body = get_profiles(
        bsky, [alice["did"], "did:plc:unknownunknownunknown", "bob.test", "ghost.test"]
    )
    assert status == 200
    assert [(p["handle"], p["displayName"]) for p in body["profiles"]] == [
        ("alice.test", "Alice"),
        ("bob.test", "Bob"),
    ]
    assert body["profiles"][0]["avatar"] == "https://cdn.example/alice.jpg"
    assert body["profiles"][0]["did"] == alice["did"]


def test_get_profiles_refuses_more_than_25_actors_and_counts_calls(bsky):
    status, body = get_profiles(bsky, [f"user{i}.test" for i in range(26)])
    assert status == 400
    assert body["error"] == "InvalidRequest"
    assert "25" in body["message"]
    assert get_profiles(bsky, [f"user{i}.test" for i in range(25)]) == (200, {"profiles": []})
    assert bsky.profile_calls == 2
    assert [len(actors) for actors in bsky.profile_requests] == [26, 25]


def test_get_profiles_waits_the_configured_latency(bsky):
    bsky.profile_latency = 0.3
    started = time.monotonic()
    assert get_profiles(bsky, ["alice.test"])[0] == 200
    assert time.monotonic() - started >= 0.3


# -- delivery faults and load ----------------------------------------------------------------------


async def test_reconnect_after_resend_receives_recent_events_again(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        for i in range(4):
            bsky.post(f"post {i}", author="alice.test")
        first = await recv_all(ws, 4)
    bsky.resend_on_reconnect(2)
    async with await subscribe(bsky, f"{POSTS}&cursor={first[-1]['time_us'] + 1}") as ws:
        again = await recv_all(ws, 2)
        bsky.post("post 4", author="alice.test")
        [live] = await recv_all(ws, 1)
    assert again == first[2:]
    assert live["commit"]["record"]["text"] == "post 4"


async def test_drop_connections_cuts_every_subscriber(bsky):
    async with await subscribe(bsky) as one, await subscribe(bsky, connected=2) as two:
        assert bsky.drop_connections() == 2
        for ws in (one, two):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3)
    assert await bsky.wait_until_async(lambda: bsky.connection_count == 0)


async def test_a_refused_subscribe_answers_the_status_and_the_cursor_replays_the_outage(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        bsky.post("before", author="alice.test")
        [before] = await recv_all(ws, 1)
    bsky.refuse(503)
    missed = bsky.post("during the outage", author="alice.test")
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{bsky.jetstream_url}?{POSTS}")
    assert refused.value.response.status_code == 503
    bsky.refuse(None)
    async with await subscribe(bsky, f"{POSTS}&cursor={before['time_us'] + 1}") as ws:
        [replayed] = await recv_all(ws, 1)
    assert replayed["time_us"] == missed["time_us"]
    assert bsky.state()["refused_count"] == 1


async def test_an_event_of_an_unknown_kind_is_sent_and_replayed_like_any_other(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        event = bsky.event("sync", {"rev": "3l", "blocks": ""}, did="alice.test")
        received = await recv(ws)
    assert received == {k: event[k] for k in ("did", "time_us", "kind", "sync")}
    assert received["did"] == bsky.account("alice.test")["did"]
    async with await subscribe(bsky, f"{POSTS}&cursor={event['time_us']}") as ws:
        assert (await recv(ws))["kind"] == "sync"


async def test_a_raw_frame_reaches_every_subscriber_as_sent_and_is_not_replayed(bsky):
    async with await subscribe(bsky, POSTS) as one, await subscribe(bsky, POSTS, connected=2) as two:
        assert bsky.send_raw("not json {") == 2
        for ws in (one, two):
            assert await asyncio.wait_for(ws.recv(), 3) == "not json {"
        post = bsky.post("after the raw frame", author="alice.test")
        assert (await recv(one))["time_us"] == post["time_us"]
    async with await subscribe(bsky, f"{POSTS}&cursor=1") as ws:
        assert (await recv(ws))["time_us"] == post["time_us"]  # the raw frame was not kept


async def test_rate_generator_delivers_a_burst_of_posts_with_the_asked_share_matching(bsky):
    async with await subscribe(bsky, POSTS) as ws:
        bsky.start_rate(rate=2000, count=2000, word="#bench", match_ratio=0.25, seed=1)
        events = await recv_all(ws, 2000, timeout=10)
    texts = [e["commit"]["record"]["text"] for e in events]
    assert sum("#bench" in t for t in texts) == 500
    assert bsky.rate_status["matched"] == 500


def test_control_endpoints_emit_over_http(bsky):
    request = urllib.request.Request(
        f"{bsky.base_url}/_emulator/post",
        data=json.dumps({"text": "over http", "author": "alice.test", "langs": ["en"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        event = json.load(resp)
    assert event["commit"]["record"]["text"] == "over http"
    assert http_get(f"{bsky.base_url}/_emulator/state")[1]["emitted_count"] == 1
    assert http_post(bsky, "event", {"kind": "sync", "body": {"rev": "1"}})["kind"] == "sync"
    assert http_post(bsky, "raw", {"text": "not json"}) == {"sent": 0}
    assert http_post(bsky, "refuse", {"status": 503}) == {"refusal": 503}
    assert http_post(bsky, "refuse", {"status": None}) == {"refusal": None}
    big = http_post(
        bsky, "post", {"text": "x" * 2_000_000, "author": "alice.test"}
    )  # over aiohttp's 1 MB default
    assert len(big["commit"]["record"]["text"]) == 2_000_000


def http_post(emu: BlueskyEmulator, control: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{emu.base_url}/_emulator/{control}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.load(resp)


def test_cli_serves_on_the_port_it_prints():
    proc = subprocess.Popen(
        [sys.executable, "-m", "blueskyemulator", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("blueskyemulator listening on http://127.0.0.1:")
        assert http_get(line.split()[-1] + "/_emulator/state")[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_get_posts_answers_post_views_in_the_order_asked_and_leaves_out_the_unknown():
    async with BlueskyEmulator() as emu:
        emu.add_account("bob.test", display_name="Bob")
        a = emu.post("first", author="bob.test")
        b = emu.post("second", author="bob.test")
        uris = [b["uri"], "at://did:plc:nobody/app.bsky.feed.post/3kxyz", a["uri"]]
        async with aiohttp.ClientSession() as session:
            url = f"{emu.base_url}/xrpc/app.bsky.feed.getPosts"
            async with session.get(url, params=[("uris", u) for u in uris]) as response:
                body = await response.json()
            async with session.get(url, params=[("uris", a["uri"])] * 26) as too_many:
                assert too_many.status == 400
    assert [(p["uri"], p["record"]["text"], p["author"]["handle"]) for p in body["posts"]] == [
        (b["uri"], "second", "bob.test"),
        (a["uri"], "first", "bob.test"),
    ]
