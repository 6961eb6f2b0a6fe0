"""Bad input and a flaky X: the worker logs each case with its reason and never stops streaming.

Each test injects the fault through the X emulator into a real worker process, then proves the
stream still works by sending a good tweet after it.
"""

import json

import pytest

from feed.models import Topic, Tweet
from streamer.status import worker_status_get

from conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

AUTHOR = {"id": "42", "username": "alice", "name": "Alice"}
STALL_TIMEOUT_S = 2


@pytest.fixture
def worker(x_emulator, start_worker):
    Topic.objects.create(name="Python", slug="python", query="python")
    process = start_worker(
        "--source",
        "x",
        X_BEARER_TOKEN=x_emulator.token,
        X_API_BASE_URL=x_emulator.base_url,
        X_STREAM_STALL_TIMEOUT_S=str(STALL_TIMEOUT_S),
    )
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    return process


def still_streams(emulator, text: str = "python still alive", timeout: float = 10) -> bool:
    assert emulator.wait_until(lambda: emulator.connected, timeout)
    emulator.emit(text=text, author=AUTHOR)
    return wait_until(lambda: Tweet.objects.filter(text=text).exists(), 5)


def good_line(tweet_id: str, text: str, **data) -> dict:
    return {
        "data": {"id": tweet_id, "text": text, "author_id": "42", **data},
        "includes": {"users": [{"id": "42", "username": "alice", "name": "Alice"}]},
        "matching_rules": [{"id": "1", "tag": "python"}],
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\x00\xff\xfe garbage \x80", "line is not JSON"),
        (b'{"data": {"id": "1862000000000000009", "text": "python trunc', "line is not JSON"),
        (json.dumps(good_line("9" * 400, "python huge id")).encode(), "not an X id"),
        (b'["a", "list"]', "not an object"),
    ],
    ids=["garbage-bytes", "truncated-json", "400-digit-id", "not-an-object"],
)
def test_a_bad_line_is_logged_with_its_reason_and_skipped(x_emulator, worker, line, reason):
    x_emulator.emit_raw(line)
    assert still_streams(x_emulator)
    assert reason in worker.output()
    assert Tweet.objects.count() == 1


def test_a_payload_without_includes_is_stored_with_what_it_has(x_emulator, worker):
    message = good_line("1862000000000000077", "python no includes")
    del message["includes"]
    x_emulator.emit_raw(json.dumps(message).encode())
    assert wait_until(lambda: Tweet.objects.filter(network_id="1862000000000000077").exists(), 5)
    tweet = Tweet.objects.get(network_id="1862000000000000077")
    assert (tweet.author_id, tweet.author_username) == ("42", "")
    assert tweet.url == "https://x.com/i/web/status/1862000000000000077"


def test_an_operational_disconnect_is_logged_and_the_stream_reconnects(x_emulator, worker):
    x_emulator.operational_disconnect()
    assert x_emulator.wait_until(lambda: x_emulator.accepted_count == 2, 10)
    assert still_streams(x_emulator)
    assert "errors-only message: operational-disconnect" in worker.output()


def test_a_100_kb_text_is_stored_cut_to_the_longest_real_post(x_emulator, worker):
    x_emulator.emit(text="python " + "x" * 100_000, author=AUTHOR)
    assert wait_until(lambda: Tweet.objects.exists(), 5)
    assert len(Tweet.objects.get().text) == 25_000
    assert still_streams(x_emulator)


def test_a_1_mb_line_does_not_end_the_stream(x_emulator, worker):
    x_emulator.emit_raw(json.dumps(good_line("1862000000000000088", "python " + "y" * 1_000_000)).encode())
    assert wait_until(lambda: Tweet.objects.filter(network_id="1862000000000000088").exists(), 10)
    assert still_streams(x_emulator)
    assert x_emulator.accepted_count == 1  # read in one piece, not by reconnecting


def test_a_stall_without_keep_alives_means_reconnect(x_emulator, worker):
    x_emulator.stall()
    assert x_emulator.wait_until(lambda: x_emulator.accepted_count == 2, STALL_TIMEOUT_S + 8)
    x_emulator.stall(False)
    assert still_streams(x_emulator)


def test_a_dropped_connection_reconnects(x_emulator, worker):
    x_emulator.drop_connections()
    assert x_emulator.wait_until(lambda: x_emulator.accepted_count == 2, 10)
    assert still_streams(x_emulator)


@pytest.mark.parametrize("status", [401, 503])
def test_an_error_on_connect_backs_off_and_reconnects(x_emulator, worker, status):
    x_emulator.fail_next_connects(status=status, count=1)
    x_emulator.drop_connections()
    # Tweepy backs off 5 s after an HTTP error before the next attempt.
    assert x_emulator.wait_until(lambda: x_emulator.accepted_count == 2, 15)
    assert still_streams(x_emulator)
    assert f"HTTP {status}" in worker.output()


def test_a_429_waits_at_least_a_minute_and_says_so(x_emulator, worker):
    x_emulator.fail_next_connects(status=429, count=1)
    x_emulator.drop_connections()
    assert x_emulator.wait_until(lambda: x_emulator.connect_count == 2, 10)
    assert not x_emulator.wait_until(lambda: x_emulator.connect_count > 2, 5)  # no hammering
    assert wait_until(lambda: "429" in worker_status_get().last_error, 5)
    assert "waits at least 60 s" in worker_status_get().last_error


def test_operators_see_the_worker_state(x_emulator, worker, admin_client):
    assert still_streams(x_emulator)
    assert wait_until(lambda: worker_status_get().last_tweet_at is not None, 10)
    x_emulator.drop_connections()
    assert wait_until(lambda: worker_status_get().reconnect_count >= 1, 10)
    health = admin_client.get("/healthz").json()  # details are for staff
    assert health["worker"]["alive"] is True
    assert health["worker"]["source"] == "x"
    assert health["worker"]["reconnect_count"] >= 1
    assert health["worker"]["last_tweet_at"]
