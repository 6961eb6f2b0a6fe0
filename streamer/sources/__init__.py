"""Where posts come from. The worker runs one source per network that some active topic follows.

- `x`: the real filtered stream, through Tweepy's AsyncStreamingClient.
- `replay`: a recorded NDJSON file, looped with fresh ids and times; topics are assigned by
  evaluating each topic's rule against the text, with the same rule language the admin validates.

A source delivers either messages in the X API v2 stream's payload shape (raw or decoded; the worker
normalises them with feed.normalize) or posts it normalised itself (`NormalizedTweet`, with its
`source` and the topics it matched), as a network without X's payloads does.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from feed.normalize import NormalizedTweet
from feed.rule_check import RuleOutcome


@dataclass(frozen=True)
class TopicRule:
    """An active topic as the stream sees it: the rule's tag is the topic's slug."""

    slug: str
    query: str
    networks: tuple[str, ...] = ("x",)  # the networks it follows (Topic.networks)


@dataclass(frozen=True)
class PostRemoved:
    """Delivered when a post is deleted on its network: it leaves every topic (hidden, stored)."""

    source: str
    network_id: str


@dataclass(frozen=True)
class PostEdited:
    """Delivered when a post is edited on its network: `post` is the new version (normalised)."""

    post: NormalizedTweet


Deliver = Callable[[Any], Awaitable[None]]
# on_state(state, detail): "connecting", "connected", "reconnecting" (detail says why), "streaming".
OnState = Callable[[str, str], None]


class Source(Protocol):
    name: str
    network: str  # the network its posts come from (Tweet.Source): topics that follow it are its own

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        """Make the source's rules equal to `topics`; say, per topic, whether its rule is live."""

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        """Deliver messages (raw bytes or decoded dicts) until cancelled; report state changes."""
