"""The worker as a real process: X emulator → Tweepy → worker → database → Redis → web → socket."""

import asyncio
import json
import subprocess
import sys

import pytest
import websockets

from feed.models import Topic, TopicPost, Tweet

from conftest import ROOT, SERVERS

pytestmark = pytest.mark.django_db(transaction=True)

AUTHOR = {
    "id": "42",
    "username": "alice",
    "name": "Alice",
    "profile_image_url": "https://pbs.twimg.com/a.jpg",
}


@pytest.fixture
def x_worker(start_worker, x_emulator):
    return start_worker("--source", "x", X_BEARER_TOKEN=x_emulator.token, X_API_BASE_URL=x_emulator.base_url)


def rule_values(emulator) -> dict[str, str]:
    return {rule["tag"]: rule["value"] for rule in emulator.rules}


def test_worker_keeps_x_rules_equal_to_active_topics(x_emulator, x_worker):
    Topic.objects.create(name="Python", slug="python", query="python OR django")
    off = Topic.objects.create(name="Off", slug="off", query="cobol", is_active=False)
    assert x_emulator.wait_until(lambda: rule_values(x_emulator) == {"python": "python OR django"}, 10)

    Topic.objects.filter(slug="python").update(query="#python")
    off.is_active = True
    off.save()
    # An admin's change reaches the running worker within 5 s, without a restart.
    expected = {"python": "#python", "off": "cobol"}
    assert x_emulator.wait_until(lambda: rule_values(x_emulator) == expected, 5)


def test_matching_tweets_are_stored_once_with_their_topics(x_emulator, x_worker):
    Topic.objects.create(name="Python", slug="python", query="python")
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    x_emulator.emit(text="python is fun", author=AUTHOR, tweet_id="1862000000000000042")
    x_emulator.emit(text="python is fun", author=AUTHOR, tweet_id="1862000000000000042")  # redelivery
    x_emulator.emit(text="nothing to see", author=AUTHOR)
    assert x_emulator.wait_until(lambda: Tweet.objects.exists(), 5)
    x_emulator.emit(text="python again", author=AUTHOR)
    assert x_emulator.wait_until(lambda: Tweet.objects.count() == 2, 5)
    tweet = Tweet.objects.get(network_id="1862000000000000042")
    assert (tweet.author_username, tweet.author_name) == ("alice", "Alice")
    assert list(tweet.topics.values_list("slug", flat=True)) == ["python"]


def test_worker_survives_a_line_that_is_not_json(x_emulator, x_worker):
    Topic.objects.create(name="Python", slug="python", query="python")
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    x_emulator.emit_raw(b"\xff\xfe garbage {not json")
    x_emulator.emit(text="python after garbage", author=AUTHOR)
    assert x_emulator.wait_until(lambda: Tweet.objects.filter(text="python after garbage").exists(), 5)
    assert "line is not JSON" in x_worker.output()


@pytest.mark.parametrize("server_kind", SERVERS)
def test_a_tweet_reaches_an_open_socket_through_redis(server_kind, x_emulator, x_worker, start_server):
    Topic.objects.create(name="Python", slug="python", query="python")
    server = start_server(server_kind)
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)

    async def watch() -> list[dict]:
        url = f"{server.ws_url}/ws/topics/python/"
        async with websockets.connect(url, origin=server.url) as socket:
            history = json.loads(await asyncio.wait_for(socket.recv(), 5))
            await asyncio.to_thread(x_emulator.emit, text="python live", author=AUTHOR)
            live = json.loads(await asyncio.wait_for(socket.recv(), 5))
            return [history, live]

    history, live = asyncio.run(watch())
    assert history == {"type": "history", "mod": 0, "pinned": [], "tweets": []}
    assert live["type"] == "tweets"
    assert [t["text"] for t in live["tweets"]] == ["python live"]
    assert live["tweets"][0]["seq"] == TopicPost.objects.get(tweet__text="python live").pk


def test_stream_command_refuses_to_run_without_redis(process_env):
    env = {k: v for k, v in process_env.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "manage.py", "stream"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr


def test_a_topic_x_refuses_is_failed_with_x_reason_and_other_topics_still_get_rules(x_emulator, x_worker):
    Topic.objects.create(name="Python", slug="python", query="python")
    Topic.objects.create(name="Python again", slug="python-again", query="python")
    Topic.objects.create(name="Django", slug="django", query="django")
    expected = {"python": "python", "django": "django"}
    assert x_emulator.wait_until(lambda: rule_values(x_emulator) == expected, 10)
    assert x_emulator.wait_until(lambda: Topic.objects.filter(rule_state="failed").exists(), 5)
    failed = Topic.objects.get(rule_state="failed")
    assert failed.slug == "python-again"
    assert "DuplicateRule" in failed.rule_error and 'tagged "python"' in failed.rule_error
    states = dict(Topic.objects.values_list("slug", "rule_state"))
    assert states == {"python": "active", "python-again": "failed", "django": "active"}


def test_a_rule_deleted_on_x_is_put_back_by_the_worker(start_worker, x_emulator):
    start_worker(
        *("--source", "x"),
        X_BEARER_TOKEN=x_emulator.token,
        X_API_BASE_URL=x_emulator.base_url,
        X_RULES_RECHECK_S="1",
    )
    Topic.objects.create(name="Python", slug="python", query="python")
    assert x_emulator.wait_until(lambda: rule_values(x_emulator) == {"python": "python"}, 10)
    x_emulator.remove_rule(x_emulator.rules[0]["id"])  # as if deleted in X's developer console
    assert rule_values(x_emulator) == {}
    assert x_emulator.wait_until(lambda: rule_values(x_emulator) == {"python": "python"}, 5)


def test_stream_command_refuses_to_replay_in_production_unless_asked(process_env):
    # No X_BEARER_TOKEN and DEBUG off: replaying the sample would look live to everyone.
    result = subprocess.run(
        [sys.executable, "manage.py", "stream"],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "X_BEARER_TOKEN is not set" in result.stderr
    assert "--source replay" in result.stderr
