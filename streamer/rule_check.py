"""Asks X whether it accepts rules (POST rules with dry_run), for the admin's form and actions.

feed calls `check_rules_with_x` through settings.TOPIC_RULES_CHECKER (see feed/rule_check.py).
"""

import asyncio

import aiohttp
from asgiref.sync import async_to_sync
from django.conf import settings
from tweepy import StreamRule, TweepyException
from tweepy.asynchronous import AsyncStreamingClient

from feed.rule_check import RuleCheckUnavailable
from streamer.x_session import make_x_session

__all__ = ["RuleCheckUnavailable", "check_rules_with_x"]

# The admin waits this long for X; past it, the admin gets a clear error, not a hung page.
DRY_RUN_TIMEOUT_S = 10.0


def check_rules_with_x(queries: list[str]) -> dict[str, str]:
    """X's reason for each query it would refuse; empty if it accepts them all.

    Without a bearer token the worker streams the replay file, not X, so there is no X to ask.
    """
    if not settings.X_BEARER_TOKEN:
        return {}
    return async_to_sync(_dry_run)(list(dict.fromkeys(queries)))  # a repeat would be a DuplicateRule


async def _dry_run(queries: list[str]) -> dict[str, str]:
    # One request for all: a dry run creates nothing, and X names each refused rule by its value.
    client = AsyncStreamingClient(settings.X_BEARER_TOKEN)
    rules = [StreamRule(value=query, tag="dry-run") for query in queries]
    try:
        async with make_x_session(settings.X_API_BASE_URL) as session:
            client.session = session
            response = await asyncio.wait_for(client.add_rules(rules, dry_run="true"), DRY_RUN_TIMEOUT_S)
    except (TweepyException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
        raise RuleCheckUnavailable(str(error) or type(error).__name__) from error
    problems: dict[str, str] = {}
    for error in response.errors or []:
        if error.get("title") == "DuplicateRule":
            continue  # the rule is already on the stream (an unchanged topic): X accepts it
        details = error.get("details") or [error.get("detail") or error.get("title", "invalid rule")]
        reason = "; ".join(str(d) for d in details)
        if error.get("value") in queries:
            problems[error["value"]] = reason
        else:  # refused for the request as a whole (the rule cap): every rule in it
            problems |= {query: reason for query in queries if query not in problems}
    return problems
