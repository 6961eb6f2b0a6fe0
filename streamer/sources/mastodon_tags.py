"""Hashtags on Mastodon: the ones a topic's rule follows (Mastodon streams and lists hashtags,
nothing else), and the ones a status is filed under (Status.md `tags`)."""

import re

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
