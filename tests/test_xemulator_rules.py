"""The X emulator's rules endpoints, driven by the real Tweepy AsyncStreamingClient."""

import re

import pytest
from tweepy import StreamRule
from tweepy.errors import Unauthorized

from xemulator import XEmulator
from xemulator.payloads import UNAUTHORIZED

from xemulator_clients import TOKEN, rules_client


@pytest.mark.asyncio
async def test_rules_endpoint_rejects_wrong_token_with_x_401_body(emu):
    client = await rules_client(emu, token="wrong")
    with pytest.raises(Unauthorized):
        await client.get_rules()
    async with client.session.get("https://api.twitter.com/2/tweets/search/stream/rules") as resp:
        assert resp.status == 401
        assert await resp.json() == UNAUTHORIZED
    await client.session.close()


@pytest.mark.asyncio
async def test_dry_run_rejects_invalid_rule_with_parser_message(emu):
    client = await rules_client(emu)
    # Tweepy forwards dry_run verbatim and yarl refuses booleans: pass "true".
    resp = await client.add_rules([StreamRule("#ok"), StreamRule("(cats")], dry_run="true")
    await client.session.close()
    [error] = resp.errors
    assert error["value"] == "(cats"
    assert error["title"] == "Invalid Rule"
    assert error["type"] == "https://api.twitter.com/2/problems/invalid-rules"
    assert "Unbalanced parentheses" in error["details"][0]
    assert resp.meta["summary"] == {"created": 0, "not_created": 2, "valid": 1, "invalid": 1}
    assert emu.rules == []


@pytest.mark.asyncio
async def test_dry_run_validates_without_adding(emu):
    client = await rules_client(emu)
    resp = await client.add_rules(StreamRule("#python", tag="py"), dry_run="true")
    await client.session.close()
    assert resp.errors == []
    assert resp.meta["summary"] == {"created": 1, "not_created": 0, "valid": 1, "invalid": 0}
    assert emu.rules == []


@pytest.mark.asyncio
async def test_rules_are_added_listed_filtered_and_deleted(emu):
    client = await rules_client(emu)
    added = await client.add_rules([StreamRule("#python", tag="py"), StreamRule("from:alice")])
    assert [r.value for r in added.data] == ["#python", "from:alice"]
    assert all(re.fullmatch(r"\d{19}", r.id) for r in added.data)
    assert added.data[0].tag == "py"

    listed = await client.get_rules()
    assert listed.data == added.data
    assert listed.meta["result_count"] == 2
    only = await client.get_rules(ids=[added.data[1].id])
    assert [r.value for r in only.data] == ["from:alice"]

    deleted = await client.delete_rules(added.data[0].id)
    assert deleted.meta["summary"] == {"deleted": 1, "not_deleted": 0}
    await client.delete_rules(added.data[1])
    empty = await client.get_rules()
    await client.session.close()
    assert empty.data is None
    assert empty.meta["result_count"] == 0
    assert emu.last_request["query"] == {}


@pytest.mark.asyncio
async def test_duplicate_rule_is_reported_with_existing_id(emu):
    existing = emu.add_rule("#python")
    client = await rules_client(emu)
    resp = await client.add_rules(StreamRule("#python"))
    await client.session.close()
    assert resp.errors == [
        {
            "value": "#python",
            "id": existing["id"],
            "title": "DuplicateRule",
            "type": "https://api.twitter.com/2/problems/duplicate-rules",
        }
    ]
    assert resp.meta["summary"]["not_created"] == 1
    assert len(emu.rules) == 1


@pytest.mark.asyncio
async def test_rule_cap_is_enforced():
    with XEmulator(token=TOKEN, max_rules=2) as capped:
        client = await rules_client(capped)
        resp = await client.add_rules([StreamRule("a"), StreamRule("b"), StreamRule("c")])
        await client.session.close()
        assert resp.errors[0]["type"] == "https://api.twitter.com/2/problems/rule-cap"
        assert resp.meta["summary"]["created"] == 0
        assert capped.rules == []


# -- streaming ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_one_invalid_rule_in_a_request_stops_every_rule_in_it(emu):
    client = await rules_client(emu)
    resp = await client.add_rules([StreamRule("#ok", tag="ok"), StreamRule("(cats", tag="cats")])
    await client.session.close()
    assert resp.data is None
    assert [e["value"] for e in resp.errors] == ["(cats"]
    assert resp.meta["summary"] == {"created": 0, "not_created": 2, "valid": 1, "invalid": 1}
    assert emu.rules == []


@pytest.mark.asyncio
async def test_a_value_twice_in_one_request_is_a_duplicate_and_nothing_is_created(emu):
    client = await rules_client(emu)
    resp = await client.add_rules([StreamRule("#python", tag="a"), StreamRule("#python", tag="b")])
    await client.session.close()
    assert [(e["title"], e["value"]) for e in resp.errors] == [("DuplicateRule", "#python")]
    assert resp.meta["summary"]["created"] == 0
    assert emu.rules == []


@pytest.mark.asyncio
async def test_a_rule_longer_than_the_access_level_allows_is_refused_with_the_limit():
    with XEmulator(token=TOKEN, max_rule_length=20) as short:
        client = await rules_client(short)
        resp = await client.add_rules([StreamRule("python OR django OR asyncio"), StreamRule("#ok")])
        await client.session.close()
        [error] = resp.errors
        assert error["title"] == "Invalid Rule"
        assert "limit is 20" in error["details"][0]
        assert short.rules == []


@pytest.mark.asyncio
async def test_a_rule_removed_outside_the_api_is_gone_from_the_listing(emu):
    kept, removed = emu.add_rule("#kept", "kept"), emu.add_rule("#gone", "gone")
    assert emu.remove_rule(removed["id"]) is True
    client = await rules_client(emu)
    listed = await client.get_rules()
    await client.session.close()
    assert [r.id for r in listed.data] == [kept["id"]]
    assert emu.remove_rule(removed["id"]) is False
