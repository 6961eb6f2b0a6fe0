"""Where tweets come from. Every source delivers messages in the X API v2 stream's payload shape.

- `x`: the real filtered stream, through Tweepy's AsyncStreamingClient.
- `replay`: a recorded NDJSON file, looped with fresh ids and times; topics are assigned by
  evaluating each topic's rule against the text, with the same rule language the admin validates.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from feed.rule_check import RuleOutcome


@dataclass(frozen=True)
class TopicRule:
    """An active topic as the stream sees it: the rule's tag is the topic's slug."""

    slug: str
    query: str


Deliver = Callable[[Any], Awaitable[None]]
# on_state(state, detail): "connecting", "connected", "reconnecting" (detail says why), "streaming".
OnState = Callable[[str, str], None]


class Source(Protocol):
    name: str

    async def sync_rules(self, topics: list[TopicRule]) -> list[RuleOutcome]:
        """Make the source's rules equal to `topics`; say, per topic, whether its rule is live."""

    async def stream(self, deliver: Deliver, on_state: OnState) -> None:
        """Deliver messages (raw bytes or decoded dicts) until cancelled; report state changes."""
