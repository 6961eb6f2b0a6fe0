"""XSource.sync_rules against the X emulator: a rule X refuses never keeps the others off the stream."""

import pytest

from feed.rule_check import RuleOutcome
from streamer.sources import TopicRule
from streamer.sources.x import XSource
from xemulator import XEmulator

from xemulator_clients import TOKEN


def source(emulator: XEmulator) -> XSource:
    return XSource(bearer_token=TOKEN, base_url=emulator.base_url)


@pytest.mark.asyncio
async def test_a_rule_x_refuses_is_reported_and_the_others_are_added():
    with XEmulator(token=TOKEN, max_rule_length=20) as emulator:
        topics = [
            TopicRule("django", "django"),
            TopicRule("long", "python OR django OR asyncio"),
            TopicRule("python", "python"),
        ]
        outcomes = await source(emulator).sync_rules(topics)
        assert {r["tag"]: r["value"] for r in emulator.rules} == {"django": "django", "python": "python"}
    assert outcomes[0] == RuleOutcome("django", "django")
    assert outcomes[1].error.startswith("Invalid Rule:") and "limit is 20" in outcomes[1].error
    assert outcomes[2] == RuleOutcome("python", "python")


@pytest.mark.asyncio
async def test_past_the_rule_cap_the_rules_that_fit_are_added_and_the_rest_say_why():
    with XEmulator(token=TOKEN, max_rules=2) as emulator:
        topics = [TopicRule("a", "alpha"), TopicRule("b", "beta"), TopicRule("c", "gamma")]
        outcomes = await source(emulator).sync_rules(topics)
        assert sorted(r["tag"] for r in emulator.rules) == ["a", "b"]
    assert [o.error.split(":")[0] for o in outcomes] == ["", "", "RulesCapExceeded"]


@pytest.mark.asyncio
async def test_a_rule_already_on_x_under_another_topic_is_a_duplicate_naming_that_topic():
    with XEmulator(token=TOKEN) as emulator:
        outcomes = await source(emulator).sync_rules([TopicRule("a", "python"), TopicRule("b", "python")])
        assert [r["tag"] for r in emulator.rules] == ["a"]
        again = await source(emulator).sync_rules([TopicRule("a", "python"), TopicRule("b", "python")])
    assert outcomes[0].error == "" and again[0].error == ""
    assert "DuplicateRule: X already has this rule value (rule " in again[1].error
    assert 'tagged "a"' in outcomes[1].error and 'tagged "a"' in again[1].error
