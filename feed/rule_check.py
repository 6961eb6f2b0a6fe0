"""Rules and the stream's source: asking whether it accepts them, and what it said of each.

Imports point tweetsite → streamer → feed, yet the admin (here in feed) must ask X's dry run before
a rule goes live. The settings, in the top layer, name the function that asks
(`TOPIC_RULES_CHECKER`, `streamer.rule_check.check_rules_with_x`), and feed calls it by that name.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class RuleOutcome:
    """What the stream's source said about one active topic's rule after a sync: live, or refused.

    Here, beside the dry run and free of models, so the sources can return it without importing
    the ORM; the worker hands a sync's outcomes to feed.services.topic_rules_record.
    """

    slug: str
    query: str
    error: str = ""  # the source's reason for refusing the rule; empty when the rule is on the stream


class RuleCheckUnavailable(Exception):
    """The source could not be asked (network, auth, rate limit); the message says why."""


def rules_check(*, queries: Sequence[str]) -> dict[str, str]:
    """The source's reason for each query it refuses; empty if it accepts them all.

    Raises RuleCheckUnavailable when the source cannot answer, so the caller refuses with a clear
    error instead of letting an unchecked rule go live.
    """
    if not queries:
        return {}
    checker: Callable[[list[str]], dict[str, str]] = import_string(settings.TOPIC_RULES_CHECKER)
    return checker(list(queries))
