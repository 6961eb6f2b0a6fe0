"""A cheap first test for sources that match rules locally against a whole network's posts.

Almost every post on Bluesky's firehose matches no topic, so testing each rule on each post would
spend the worker's time on nothing. `TopicMatcher` first searches the post's folded text once for
any of the rules' anchors: strings at least one of which is in the folded text of every post the
rule matches (a keyword's tokens, a phrase's words, a hashtag's or a mention's name; for an AND, its
terms' all together; for an OR, one of each alternative's). Only a post that has them all for some
rule is analysed and tested with that rule. The fact operators (lang:, is:reply, is:retweet,
has:media) are not words, so they give no anchor: the rule itself tests them, with the facts given.

It reads the compiled rule's tree (feed/rules.py), so it lives beside it in `feed`: a rule that
validates matches the same posts with or without the prefilter.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from feed.rule_facts import NO_FACTS, PostFacts
from feed.rules import _IGNORABLE, Rule, _Bool, _Entity, _fold, _Keyword, _Node, _Not, _Phrase

_DROP_IGNORABLE = str.maketrans(dict.fromkeys(map(ord, _IGNORABLE)))


def folded(text: str) -> str:
    """What anchors are searched in: the rules' folding (NFC, casefold), variation selectors out."""
    return _fold(text).translate(_DROP_IGNORABLE)


def anchors(rule: Rule) -> tuple[frozenset[str], ...]:
    """Clauses of strings: whenever the rule matches `text`, each clause has one in `folded(text)`.

    An empty clause means the rule can match no post by its text alone: `from:` (a Bluesky handle
    has dots, which the rule language's usernames cannot, so `from:` never matches there).
    """
    return tuple(_clauses(rule._root))


def _clauses(node: _Node) -> list[frozenset[str]]:
    match node:
        case _Keyword(tokens=tokens):
            return [frozenset({token}) for token in dict.fromkeys(tokens)]
        case _Phrase(pattern=pattern):
            return [frozenset({word}) for word in dict.fromkeys(_phrase_words(pattern)) if word]
        case _Entity(kind="from"):
            return [frozenset()]
        case _Entity(value=value):
            return [frozenset({value})]
        case _Bool(op="AND", children=children):
            # Every positive child must match, so every clause of each must hold.
            return [clause for child in children if not isinstance(child, _Not) for clause in _clauses(child)]
        case _Bool(children=children):
            # One alternative must match: its most selective clause stands for it.
            alternatives = [_clauses(child) for child in children]
            if not all(alternatives):
                return []  # an alternative with no positive term (compile_rule refuses it): no test
            return [frozenset().union(*(min(clauses, key=len) for clauses in alternatives))]
    return []  # a fact (lang:, is:, has:: no words to find), or a lone negation


def _phrase_words(pattern: re.Pattern[str]) -> list[str]:
    # The phrase's needle is the escaped literal between the optional word-edge guards.
    needle = re.sub(r"^\(\?<!\\w\)|\(\?!\\w\)$", "", pattern.pattern)
    return re.sub(r"\\(.)", r"\1", needle).split(" ") or [""]


@dataclass(frozen=True)
class _Topic:
    slug: str
    rule: Rule
    clauses: tuple[frozenset[str], ...]


class TopicMatcher:
    """Which topics a post matches: one search of the folded text rejects what none could match."""

    def __init__(self, rules: Iterable[tuple[str, Rule]]) -> None:
        self._topics = [_Topic(slug, rule, anchors(rule)) for slug, rule in rules]
        every = sorted({a for t in self._topics for c in t.clauses for a in c}, key=len, reverse=True)
        self._any = re.compile("|".join(map(re.escape, every))) if every else None

    def __bool__(self) -> bool:
        return bool(self._topics)

    def matching(self, text: str, facts: PostFacts = NO_FACTS) -> tuple[str, ...]:
        """The slugs of the topics whose rule matches `text` and the post's `facts`, in the order given.

        No author: for networks whose usernames the rule language cannot name (a Bluesky handle or a
        Mastodon account has dots or an @server), so a `from:` term matches nothing there."""
        if self._any is None:
            return ()
        flat = folded(text)
        if self._any.search(flat) is None:
            return ()
        kwargs = facts.kwargs()
        return tuple(
            topic.slug
            for topic in self._topics
            if all(any(anchor in flat for anchor in clause) for clause in topic.clauses)
            and topic.rule.matches(text=text, **kwargs)
        )
