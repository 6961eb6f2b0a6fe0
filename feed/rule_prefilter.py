"""A cheap first test for sources that match rules locally against a whole network's posts.

Almost every post on Bluesky's firehose matches no topic, so testing each rule on each post would
spend the worker's time on nothing. `TopicMatcher` first searches the post's folded text once for
any of the rules' anchors: strings at least one of which is in the folded text of every post the
rule matches (a keyword's longest token, a phrase's longest word, a hashtag's or a mention's name).
Only a post that passes is analysed and tested with each rule that could match it.

It reads the compiled rule's tree (feed/rules.py), so it lives beside it in `feed`: a rule that
validates matches the same posts with or without the prefilter.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from feed.rules import _IGNORABLE, Rule, _Bool, _Entity, _fold, _Keyword, _Node, _Not, _Phrase

_DROP_IGNORABLE = str.maketrans(dict.fromkeys(map(ord, _IGNORABLE)))


def folded(text: str) -> str:
    """What anchors are searched in: the rules' folding (NFC, casefold), variation selectors out."""
    return _fold(text).translate(_DROP_IGNORABLE)


def anchors(rule: Rule) -> frozenset[str]:
    """Strings one of which is in `folded(text)` whenever the rule matches `text`.

    Empty when the rule can match no post by its text alone: a `from:` only rule (a Bluesky handle
    has dots, which the rule language's usernames cannot, so `from:` never matches there).
    """
    return _anchors(rule._root)


def _anchors(node: _Node) -> frozenset[str]:
    match node:
        case _Keyword(tokens=tokens):
            return frozenset({max(tokens, key=len)})
        case _Phrase(pattern=pattern):
            return frozenset({max(_phrase_words(pattern), key=len)})
        case _Entity(kind="from"):
            return frozenset()
        case _Entity(value=value):
            return frozenset({value})
        case _Bool(op="AND", children=children):
            # Every positive child must match: the child with the fewest anchors is enough.
            positive = [_anchors(child) for child in children if not isinstance(child, _Not)]
            return min(positive, key=lambda found: (len(found), -max(map(len, found), default=0)))
        case _Bool(children=children):
            return frozenset().union(*(_anchors(child) for child in children))
    return frozenset()  # a lone negation: compile_rule refuses it


def _phrase_words(pattern: re.Pattern[str]) -> list[str]:
    # The phrase's needle is the escaped literal between the optional word-edge guards.
    needle = re.sub(r"^\(\?<!\\w\)|\(\?!\\w\)$", "", pattern.pattern)
    return re.sub(r"\\(.)", r"\1", needle).split(" ") or [""]


@dataclass(frozen=True)
class _Topic:
    slug: str
    rule: Rule
    anchors: tuple[str, ...]


class TopicMatcher:
    """Which topics a post matches: one search of the folded text rejects what none could match."""

    def __init__(self, rules: Iterable[tuple[str, Rule]]) -> None:
        self._topics = [_Topic(slug, rule, tuple(sorted(anchors(rule)))) for slug, rule in rules]
        every = sorted({a for topic in self._topics for a in topic.anchors}, key=len, reverse=True)
        self._any = re.compile("|".join(map(re.escape, every))) if every else None

    def __bool__(self) -> bool:
        return bool(self._topics)

    def matching(self, text: str) -> tuple[str, ...]:
        """The slugs of the topics whose rule matches `text`, in the order given.

        No author: for networks whose usernames the rule language cannot name (a Bluesky handle or a
        Mastodon account has dots or an @server), so a `from:` term matches nothing there."""
        if self._any is None:
            return ()
        flat = folded(text)
        if self._any.search(flat) is None:
            return ()
        return tuple(
            topic.slug
            for topic in self._topics
            if any(anchor in flat for anchor in topic.anchors) and topic.rule.matches(text=text)
        )
