"""Asking the stream's source whether it accepts rules, without feed importing streamer.

Imports point tweetsite → streamer → feed, yet the admin (here in feed) must ask X's dry run before
a rule goes live. The settings, in the top layer, name the function that asks
(`TOPIC_RULES_CHECKER`, `streamer.rule_check.check_rules_with_x`), and feed calls it by that name.
"""

from collections.abc import Callable, Sequence

from django.conf import settings
from django.utils.module_loading import import_string


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
