"""Hashtags on Mastodon: the ones a topic's rule follows (Mastodon streams and lists hashtags,
nothing else), and the ones a status is filed under (Status.md `tags`); and the topics a status
matches, the whole rule checked locally. The Mastodon source and its replay share them."""

import re

from feed.normalize import NormalizedTweet
from feed.rule_check import RuleOutcome
from feed.rule_facts import PostFacts
from feed.rules import Rule, RuleError, compile_rule
from streamer.sources import TopicRule

_RULE_HASHTAG = re.compile(r"(?:^|[\s(])[#＃](\w+)")  # a term's own #, not '-#' or 'c#'
_TAG_NAME = re.compile(r"\w{1,100}")

NO_HASHTAG = (
    "Mastodon streams hashtags only: this rule has no #hashtag, so no Mastodon post can reach it. "
    "Add one (e.g. '#python django'); keywords are then matched within that hashtag's posts."
)


def rule_hashtags(query: str) -> list[str]:
    """The hashtags a rule asks for (not those it excludes with '-'), lower-cased, in order."""
    unquoted = re.sub(r'"[^"]*"', " ", query)
    return list(dict.fromkeys(tag.casefold() for tag in _RULE_HASHTAG.findall(unquoted)))


def tag_names(status: dict) -> list[str]:
    """The hashtags Mastodon filed the status (or the boosted one) under (Status.md `tags`)."""
    shown = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
    tags = shown.get("tags") if isinstance(shown.get("tags"), list) else []
    names = (tag.get("name") for tag in tags if isinstance(tag, dict))
    return [name for name in names if isinstance(name, str) and _TAG_NAME.fullmatch(name)]


def hashtag_rules(topics: list[TopicRule]) -> tuple[dict[str, Rule], set[str], list[RuleOutcome]]:
    """Each topic's compiled rule, by slug, and the hashtags they follow; a rule that is invalid or
    has no #hashtag is refused alone, with its reason."""
    rules, tags, outcomes = {}, set(), []
    for topic in topics:
        try:
            rule = compile_rule(topic.query)
        except RuleError as error:
            outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query, error=str(error)))
            continue
        topic_tags = rule_hashtags(topic.query)
        if not topic_tags:
            outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query, error=NO_HASHTAG))
            continue
        rules[topic.slug] = rule
        tags.update(topic_tags)
        outcomes.append(RuleOutcome(slug=topic.slug, query=topic.query))
    return rules, tags, outcomes


def status_topics(
    rules: dict[str, Rule], post: NormalizedTweet, facts: PostFacts, tags: list[str]
) -> tuple[str, ...]:
    """The topics whose whole rule a status matches: its text, content warning and hashtags
    (`tag_names`), its author's local name (`from:`), and its facts."""
    text = f"{post.text}\n{post.entities.get('spoiler_text') or ''}"
    if tags:  # the text kept is cut (MAX_TEXT_CHARS); the status's hashtags all count
        text += "\n" + " ".join(f"#{tag}" for tag in tags)
    username = post.author_username.split("@", 1)[0]
    kwargs = facts.kwargs()
    return tuple(
        slug for slug, rule in rules.items() if rule.matches(text=text, author_username=username, **kwargs)
    )
