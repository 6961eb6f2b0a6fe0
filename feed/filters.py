"""Per-topic filters (issue 9): which filter, if any, rejects a post for a topic.

Pure: no database, no clock, no I/O. `TopicFilters.of(topic)` reads a Topic's filter fields once;
`reason(post)` is then called for every post the worker stores for that topic, and answers the
name of the first filter that rejects it, in this order (cheapest first):

    "repost", "reply", "language", "followers", "account_age", "profanity", "hashbomb"

or None. Nothing is dropped here: the caller stores every post with its verdict.

The post is a `feed.normalize.NormalizedTweet`; what X said beyond it is read from `post.raw`, the
whole stream message (`data.referenced_tweets`, `includes.users[]`, `includes.tweets[]`). The worker
asks X for these fields (streamer/sources/x.py). Where the data a filter needs is missing, the
filter lets the post through: a filter that rejected what it cannot see would turn one missing
field (a stream opened without `user.fields`, a replayed file, a suspended account's empty
metrics) into a wall that silently stops showing anything. Each such rule is in its method's
docstring.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from glin_profanity.data.dictionary import dictionary as _profanity_lists

from feed.blocking import fold, shown_texts, words_pattern

REASONS = ("repost", "reply", "language", "followers", "account_age", "profanity", "hashbomb")

# X's language codes that name no language: undetermined, no linguistic content, and X's own
# private-use codes (qam mentions only, qct cashtags only, qht hashtags only, qme media links only,
# qst very short text). BCP-47 reserves qaa-qtz for private use, so every such code is covered.
_NO_LANGUAGE = re.compile(r"(?:und|zxx|q[a-t][a-z])?")
# Codes X has sent from older ISO 639 editions, read as today's code.
_LEGACY_CODES = {"in": "id", "iw": "he", "ji": "yi"}
# X's language codes -> glin-profanity's list names (every list the package ships).
_PROFANITY_LISTS = {
    "ar": "arabic",
    "zh": "chinese",
    "cs": "czech",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "eo": "esperanto",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "hi": "hindi",
    "hu": "hungarian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "fa": "persian",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "es": "spanish",
    "tr": "turkish",
    "sv": "swedish",
    "th": "thai",
}
_ALL_LISTS = frozenset(_PROFANITY_LISTS.values())
# The entity kinds a hashbomb is made of; others (annotations) are X's guesses about plain words.
_BOMB_ENTITIES = {"hashtags": "tag", "cashtags": "tag", "mentions": "username", "urls": "url"}
_SIGILS = {"hashtags": "#＃", "cashtags": "$", "mentions": "@＠", "urls": ""}
_ENTITY_TOKEN = re.compile(r"[#＃@＠$]\w+|https?://\S+", re.IGNORECASE)
_AROUND_ENTITY = ".,;:!?…\"'“”‘’«»()[]{}<>-–—"


class Post(Protocol):
    author_id: str
    author_username: str
    author_name: str
    text: str
    lang: str
    created_at: datetime
    entities: dict[str, Any]
    raw: dict[str, Any]


@dataclass(frozen=True)
class TopicFilters:
    """One topic's filters, compiled. Cheap to keep: callers may cache one per topic and version."""

    exclude_reposts: bool = False
    exclude_replies: bool = False
    languages: frozenset[str] = frozenset()  # primary language tags, lower case; empty: any
    min_followers: int | None = None
    min_account_age_days: int | None = None
    profanity_filter: bool = False
    profanity_extra_words: tuple[str, ...] = ()
    exclude_hashbombs: bool = False
    # Post language -> compiled profanity pattern, filled on first use (shared across instances
    # through _profanity_pattern's cache).
    _patterns: dict[str, re.Pattern | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def of(cls, topic: Any) -> "TopicFilters":
        """The filters of a Topic (anything with its filter fields)."""
        languages = topic.languages if isinstance(topic.languages, list) else []
        extra = (topic.profanity_extra_words or "").splitlines()
        return cls(
            exclude_reposts=bool(topic.exclude_reposts),
            exclude_replies=bool(topic.exclude_replies),
            languages=frozenset(_primary(code) for code in languages if isinstance(code, str) and code),
            min_followers=topic.min_followers,
            min_account_age_days=topic.min_account_age_days,
            profanity_filter=bool(topic.profanity_filter),
            profanity_extra_words=tuple(dict.fromkeys(w.strip() for w in extra if w.strip())),
            exclude_hashbombs=bool(topic.exclude_hashbombs),
        )

    @property
    def active(self) -> bool:
        """Whether any filter is on; a topic with none needs no verdicts."""
        return (
            self.exclude_reposts
            or self.exclude_replies
            or bool(self.languages)
            or self.min_followers is not None
            or self.min_account_age_days is not None
            or self.profanity_filter
            or self.exclude_hashbombs
        )

    def reason(self, post: Post) -> str | None:
        """The name of the first filter (in REASONS order) that rejects the post, or None."""
        if self.exclude_reposts or self.exclude_replies:
            kinds = reference_kinds(post)
            if self.exclude_reposts and "retweeted" in kinds:
                return "repost"
            if self.exclude_replies and "replied_to" in kinds:
                return "reply"
        if self.languages and not self.language_allowed(post.lang):
            return "language"
        if self.min_followers is not None or self.min_account_age_days is not None:
            author = _author(post)
            if self.min_followers is not None and _too_few_followers(author, self.min_followers):
                return "followers"
            if self.min_account_age_days is not None and _too_young(
                author, post.created_at, self.min_account_age_days
            ):
                return "account_age"
        if self.profanity_filter and self.profane(post):
            return "profanity"
        if self.exclude_hashbombs and is_hashbomb(post):
            return "hashbomb"
        return None

    def language_allowed(self, lang: str) -> bool:
        """Whether X's `lang` for a post passes the topic's list (which is not empty).

        Compared by primary tag ("en-GB" counts as "en"; X's legacy "in" and "iw" as "id" and "he").
        A post X found no language in ("", "und", "zxx", and X's own qme, qht, qam, qct, qst) passes:
        it has no words to be in the wrong language, and the hashbomb filter is what catches a post of
        nothing but hashtags or links.
        """
        code = _primary(lang)
        return not code or bool(_NO_LANGUAGE.fullmatch(code)) or code in self.languages

    def profane(self, post: Post) -> bool:
        """Whether a word of the profanity lists, or of the topic's extra words, is in what a viewer
        sees with the post (its text, its author's name and handle, the text it quotes or reposts,
        and image alt text: `feed.blocking.shown_texts`), matched as a block word rule is.

        Lists: glin-profanity's for the post's language and English (sworn in everywhere on X); for
        a language glin-profanity has no list for, or none found ("und"), every list. Words of
        languages written without spaces (Chinese, Japanese, Thai) match only where they stand
        apart from other letters, because matching is on word boundaries.
        """
        code = _primary(post.lang)
        if code not in self._patterns:
            own = _PROFANITY_LISTS.get(code)
            lists = frozenset({own, "english"}) if own else _ALL_LISTS
            self._patterns[code] = _profanity_pattern(lists, self.profanity_extra_words)
        pattern = self._patterns[code]
        return pattern is not None and any(pattern.search(fold(text)) for text in shown_texts(post))


def reference_kinds(post: Post) -> frozenset[str]:
    """The kinds of X's `referenced_tweets` ("retweeted", "quoted", "replied_to") of the post.

    A quote is not a repost: it has words of its own. Without `referenced_tweets` in the message at
    all (a stream that did not ask for the field), a text beginning "RT @" is X's form of a repost.
    """
    data = post.raw.get("data") if isinstance(post.raw, dict) else None
    if not isinstance(data, dict) or "referenced_tweets" not in data:
        return frozenset({"retweeted"}) if post.text.startswith("RT @") else frozenset()
    refs = data["referenced_tweets"]
    return (
        frozenset(ref["type"] for ref in refs if isinstance(ref, dict) and isinstance(ref.get("type"), str))
        if isinstance(refs, list)
        else frozenset()
    )


def is_hashbomb(post: Post) -> bool:
    """Whether the post is nothing but hashtags, mentions, cashtags and links.

    What is left once those are taken out must have no letter and no digit: whitespace,
    punctuation, emoji and other symbols are filler. A repost's leading "RT" is X's, not the
    author's. The entities are taken out by X's offsets when every one points at its own text
    (X has sent offsets that do not, and text with "&amp;" shifts them); otherwise by the text's
    tokens that look like one (`#tag`, `@name`, `$TAG`, `http…`). A post without any of these
    entities is not a hashbomb, however short: "👍" is a reaction, not spam.
    """
    entities = post.entities if isinstance(post.entities, dict) else {}
    items = [(kind, item) for kind in _BOMB_ENTITIES for item in entities.get(kind) or ()]
    if not items:
        return False
    text = post.text
    if all(_points_at_itself(text, kind, item) for kind, item in items):
        chars = list(text)
        for _, item in items:
            chars[item["start"] : item["end"]] = " " * (item["end"] - item["start"])
        rest = "".join(chars)
    else:
        urls = {item.get("url") for kind, item in items if kind == "urls"}
        rest = " ".join(
            token
            for token in text.split()
            if token not in urls and not _ENTITY_TOKEN.fullmatch(token.strip(_AROUND_ENTITY))
        )
    if text.startswith("RT @"):
        rest = rest.lstrip()[2:] if rest.lstrip().startswith("RT") else rest
    return not any(_is_letter_or_digit(char) for char in rest)


def _points_at_itself(text: str, kind: str, item: dict) -> bool:
    start, end, value = item.get("start"), item.get("end"), item.get(_BOMB_ENTITIES[kind])
    if not (isinstance(start, int) and isinstance(end, int) and isinstance(value, str)):
        return False
    if not 0 <= start < end <= len(text):
        return False
    span = text[start:end]
    if kind == "urls":
        return span == value
    return span[0] in _SIGILS[kind] and span[1:].casefold() == value.casefold()


def _is_letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN"


def _primary(lang: Any) -> str:
    code = str(lang or "").split("-")[0].strip().lower()
    return _LEGACY_CODES.get(code, code)


def _author(post: Post) -> dict:
    includes = post.raw.get("includes") if isinstance(post.raw, dict) else None
    users = includes.get("users") if isinstance(includes, dict) else None
    for user in users if isinstance(users, list) else ():
        if isinstance(user, dict) and str(user.get("id")) == post.author_id:
            return user
    return {}


def _too_few_followers(author: dict, minimum: int) -> bool:
    """Fewer followers than the minimum; unknown (no `public_metrics.followers_count`) passes."""
    metrics = author.get("public_metrics")
    count = metrics.get("followers_count") if isinstance(metrics, dict) else None
    return isinstance(count, int) and not isinstance(count, bool) and count < minimum


def _too_young(author: dict, posted_at: datetime, minimum_days: int) -> bool:
    """The account was younger than the minimum when it posted; unknown `created_at` passes.

    Age is counted to the post's own time, not the clock: the same post always gets the same
    verdict, whenever it is judged.
    """
    value = author.get("created_at")
    if not isinstance(value, str):
        return False
    try:
        created = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if created.tzinfo is None:
        return False
    return posted_at - created < timedelta(days=minimum_days)


@lru_cache(maxsize=256)
def _profanity_pattern(lists: frozenset[str], extra_words: tuple[str, ...]) -> re.Pattern | None:
    """One pattern per process for each set of lists and extra words (a trie: one scan a text)."""
    words = [word for name in sorted(lists) for word in _profanity_lists.get_words(name)]
    return words_pattern([*words, *extra_words])
