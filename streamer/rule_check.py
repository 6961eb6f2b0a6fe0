"""Asks X whether it accepts a rule (POST rules with dry_run), for the admin form."""

import asyncio

import aiohttp
from asgiref.sync import async_to_sync
from django.conf import settings
from tweepy import StreamRule, TweepyException
from tweepy.asynchronous import AsyncStreamingClient

from streamer.x_session import make_x_session

# The admin form waits this long for X; past it, the admin gets a clear error, not a hung page.
DRY_RUN_TIMEOUT_S = 10.0


class RuleCheckUnavailable(Exception):
    """X could not be asked (network, auth, rate limit); the message says why."""


def check_rule_with_x(query: str) -> str | None:
    """X's reason for refusing `query`, or None if X would accept it."""
    return async_to_sync(_dry_run)(query)


async def _dry_run(query: str) -> str | None:
    client = AsyncStreamingClient(settings.X_BEARER_TOKEN)
    try:
        async with make_x_session(settings.X_API_BASE_URL) as session:
            client.session = session
            response = await asyncio.wait_for(
                client.add_rules(StreamRule(value=query, tag="dry-run"), dry_run="true"), DRY_RUN_TIMEOUT_S
            )
    except (TweepyException, aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:
        raise RuleCheckUnavailable(str(error) or type(error).__name__) from error
    for error in response.errors or []:
        if error.get("title") == "DuplicateRule":
            continue  # the rule is already on the stream (an unchanged topic): X accepts it
        details = error.get("details") or [error.get("title", "invalid rule")]
        return "; ".join(str(d) for d in details)
    return None
