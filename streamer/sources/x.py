"""The X source: the v2 filtered stream through Tweepy's AsyncStreamingClient.

Tweepy writes https://api.twitter.com into its URLs but sends every request through the client's
`session`; `make_x_session` gives it one aimed at X_API_BASE_URL. Tweepy closes that session when a
stream ends, so every stream and every rules call gets a fresh one.
"""

import asyncio
import logging
import random
import time

from tweepy import StreamRule
from tweepy.asynchronous import AsyncStreamingClient

from feed.rule_check import RuleOutcome
from streamer.sources import Deliver, OnState, TopicRule
from streamer.x_session import make_x_session

logger = logging.getLogger(__name__)

# referenced_tweets and the authors' public_metrics and created_at feed the topic filters
# (feed/filters.py: reposts, replies, followers, account age); the referenced posts' text, expanded
# into includes.tweets, is what block rules and the profanity filter read of a quote or repost.
TWEET_FIELDS = [
    "created_at",
    "author_id",
    "entities",
    "lang",
    "attachments",
    "referenced_tweets",
    "possibly_sensitive",
]
EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id", "attachments.media_keys"]
USER_FIELDS = ["name", "username", "profile_image_url", "public_metrics", "created_at"]
# Images on the page and wall (feed/media.py): sized before they load, with their alt text.
MEDIA_FIELDS = ["url", "preview_image_url", "type", "width", "height", "alt_text"]
# X sends a keep-alive CRLF every 20 s; silence for longer than this means a stalled connection,
# and aiohttp's read timeout makes Tweepy reconnect.
STALL_TIMEOUT_S = 21.0
# If Tweepy's own retry loop gives up (an unexpected exception ends it), start a new stream after
# this backoff, doubled up to the cap, with jitter so restarts don't synchronise.
RESTART_INITIAL_S = 1.0
RESTART_MAX_S = 60.0


class _Stream(AsyncStreamingClient):
    """Tweepy's client with its documented handlers overridden; no Tweepy internals touched.

    `on_data` is replaced rather than extended because Tweepy's parses JSON with no guard, and any
    exception in a handler ends the stream. Here every line goes to `deliver`, which never raises.
    """

    def __init__(self, bearer_token: str, *, deliver: Deliver | None, on_state: OnState) -> None:
        super().__init__(bearer_token, wait_on_rate_limit=False)
        self._deliver = deliver
        self._on_state = on_state

    async def on_data(self, raw_data: bytes) -> None:
        if self._deliver is not None:
            await self._deliver(raw_data)

    async def on_connect(self) -> None:
        self._on_state("connected", "")

    async def on_keep_alive(self) -> None:
        logger.debug("x: keep-alive")

    async def on_request_error(self, status_code: int) -> None:
        reasons = {
            401: "HTTP 401: X refused the bearer token (check X_BEARER_TOKEN)",
            429: "HTTP 429: too many connections or requests; Tweepy waits at least 60 s, as X requires",
            503: "HTTP 503: X is overloaded or down; backing off",
        }
        self._on_state("reconnecting", reasons.get(status_code, f"HTTP {status_code} on connect"))

    async def on_connection_error(self) -> None:
        self._on_state("reconnecting", "connection error or stall")

    async def on_closed(self, resp) -> None:
        self._on_state("reconnecting", "stream closed by X")

    async def on_exception(self, exception: Exception) -> None:
        logger.error("x: stream ended by %r", exception)
        self._on_state("reconnecting", f"stream ended: {exception!r}"[:300])


class XSource:
    name = "x"
    network = "x"

    def __init__(
        self,
        *,
        bearer_token: str,
        base_url: str,
        stall_timeout_s: float = STALL_TIMEOUT_S,
    ) -> None:
        self.bearer_token = bearer_token
        self.base_url = base_url
        self.stall_timeout_s = stall_timeout_s

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        """Make X's rules equal to the topics: keep matching rules, delete stale, add missing.

        Returns each topic's outcome: on the stream, or X's reason for refusing its rule. A refused
        rule never keeps another topic's rule off the stream.
        """
        client = _Stream(self.bearer_token, deliver=None, on_state=_log_state)
        async with make_x_session(self.base_url) as session:
            client.session = session
            current = (await client.get_rules()).data or []
            wanted = {topic.slug: topic.query for topic in topics}
            kept: dict[str, str] = {}  # tag -> the one rule id kept for it; any other is stale
            for rule in current:
                if wanted.get(rule.tag) == rule.value and rule.tag not in kept:
                    kept[rule.tag] = rule.id
            stale = [rule.id for rule in current if rule.id not in kept.values()]
            missing = [StreamRule(value=q, tag=slug) for slug, q in wanted.items() if slug not in kept]
            if stale:
                await client.delete_rules(stale)
            tags = {rule.id: rule.tag for rule in current if rule.id in kept.values()}
            refused = await _add(client, missing, tags) if missing else {}
        for slug, reason in refused.items():
            logger.error("x: rule for topic %s refused: %s", slug, reason)
        logger.info(
            "x: rules synced: kept %d, deleted %d, added %d, refused %d",
            *(len(kept), len(stale), len(missing) - len(refused), len(refused)),
        )
        return [RuleOutcome(slug=t.slug, query=t.query, error=refused.get(t.slug, "")) for t in topics]

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        delay = RESTART_INITIAL_S
        while True:
            client = _Stream(self.bearer_token, deliver=deliver, on_state=on_state)
            client.session = make_x_session(self.base_url, read_timeout=self.stall_timeout_s)
            started = time.monotonic()
            on_state("connecting", self.base_url)
            try:
                await client.filter(
                    tweet_fields=TWEET_FIELDS,
                    expansions=EXPANSIONS,
                    user_fields=USER_FIELDS,
                    media_fields=MEDIA_FIELDS,
                )
            finally:
                if not client.session.closed:
                    await client.session.close()
            # Tweepy's stream task swallows CancelledError and returns normally, so a cancel of
            # this task would otherwise be lost here.
            if asyncio.current_task().cancelling():
                raise asyncio.CancelledError
            if time.monotonic() - started > RESTART_MAX_S:
                delay = RESTART_INITIAL_S  # it ran a good while: this is a fresh failure
            wait = delay * random.uniform(0.5, 1.5)
            logger.warning("x: stream task ended; starting a new one in %.1f s", wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, RESTART_MAX_S)


async def _add(client: _Stream, rules: list[StreamRule], tags: dict[str, str]) -> dict[str, str]:
    """Add `rules` (tag = slug); returns X's reason for each one refused, by tag.

    X creates a request's rules all or none (see xemulator/rulebook.py for what its docs say), so one
    refused rule would keep every other topic off the stream. One request first: it is one of the 450
    rule requests X allows per 15 minutes, however many rules it holds, so a first sync of hundreds of
    topics stays within the limit. If X refused any, the rules it named are sent one per request, each
    for its own answer, and the others together again; a refusal that names no rule (the rule cap)
    sends them all one by one. `tags` (rule id -> tag) names the holder of a duplicate.
    """
    response = await client.add_rules(rules)
    for rule in response.data or []:
        tags[rule.id] = rule.tag
    created = {rule.tag for rule in response.data or []}
    left = [rule for rule in rules if rule.tag not in created]
    if not left:
        return {}
    errors = response.errors or [{"title": "NotCreated", "detail": "X created no rule and said not why"}]
    if len(rules) == 1:
        return {rules[0].tag: _reason(errors[0], tags)}
    named_values = {error.get("value") for error in errors}
    named = [rule for rule in left if rule.value in named_values]
    others = [rule for rule in left if rule.value not in named_values]
    if not named:
        named, others = left, []
    refused: dict[str, str] = {}
    for rule in named:
        refused |= await _add(client, [rule], tags)
    if others:
        refused |= await _add(client, others, tags)
    return refused


def _reason(error: dict, tags: dict[str, str]) -> str:
    """X's error for one rule as the admin reads it."""
    title = error.get("title", "Refused")
    if title == "DuplicateRule":
        holder = tags.get(error.get("id", ""))
        where = f'rule {error.get("id")}, tagged "{holder}"' if holder else f"rule {error.get('id', '?')}"
        return f"DuplicateRule: X already has this rule value ({where}); X refuses a second copy"
    details = error.get("details") or [error.get("detail") or ""]
    return f"{title}: {'; '.join(str(d) for d in details if d)}".rstrip(": ")


def _log_state(state: str, detail: str) -> None:
    logger.info("x: %s %s", state, detail)
