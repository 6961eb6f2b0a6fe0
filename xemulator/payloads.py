"""JSON shapes of the X API v2 filtered stream, as the emulator sends them.

Everything here is pure (no I/O, no state) so it can be unit tested and
reused by the server, the control endpoints and the CLI.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from http import HTTPStatus

PROBLEMS = "https://api.twitter.com/2/problems"

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}

TOO_MANY_CONNECTIONS = {
    "title": "ConnectionException",
    "detail": "This stream is currently at the maximum allowed connection limit.",
    "connection_issue": "TooManyConnections",
    "type": f"{PROBLEMS}/streaming-connection",
}

OPERATIONAL_DISCONNECT = {
    "errors": [
        {
            "title": "operational-disconnect",
            "disconnect_type": "OperationalDisconnect",
            "detail": "This stream has been disconnected for operational reasons.",
            "type": f"{PROBLEMS}/operational-disconnect",
        }
    ]
}

# Tweet fields the emulator can fill in; anything else requested is ignored,
# as X ignores fields that do not apply to a Post.
TWEET_FIELDS = (
    "attachments",
    "author_id",
    "conversation_id",
    "created_at",
    "entities",
    "in_reply_to_user_id",
    "lang",
    "possibly_sensitive",
    "public_metrics",
    "referenced_tweets",
    "source",
)
# What X says of an account when asked (user.fields=created_at,public_metrics) and a test did not:
# an ordinary, established account, so that no filter rejects the emulator's default authors.
DEFAULT_USER_CREATED_AT = "2012-03-04T05:06:07.000Z"
DEFAULT_USER_METRICS = {
    "followers_count": 1000,
    "following_count": 100,
    "tweet_count": 5000,
    "listed_count": 10,
    "like_count": 2000,
}
# Expansions that put the referenced posts in includes.tweets (the second also their authors in
# includes.users).
REFERENCED_TWEETS = "referenced_tweets.id"
REFERENCED_AUTHORS = "referenced_tweets.id.author_id"
# The expansion that puts a Post's media objects in includes.media; `media_key` and `type` are
# always there, the rest only as `media.fields` asks (X's media object).
MEDIA_EXPANSION = "attachments.media_keys"
MEDIA_FIELDS = ("url", "preview_image_url", "width", "height", "alt_text", "duration_ms", "variants")
# X's media keys start with the media type's number: 3 photo, 7 video, 16 animated GIF.
MEDIA_KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}

_HASHTAG = re.compile(r"(?<![\w&])[#＃](\w*[^\W\d_]\w*)")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,6}(?:[._][A-Za-z]{1,2})?)(?!\w)")
_MENTION = re.compile(r"(?<![\w@])[@＠](\w{1,15})(?!\w)")
_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)]}'\""


def iso_now() -> str:
    """X's timestamp format: ``2024-05-01T12:00:00.123Z``."""
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def dumps(obj: object) -> bytes:
    """Compact JSON as X sends it (non-ASCII kept as UTF-8)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def http_problem(status: int, detail: str | None = None) -> dict:
    """The ``about:blank`` problem body X returns for plain HTTP errors."""
    if status == 401:
        return dict(UNAUTHORIZED)
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"title": title, "detail": detail or title, "type": "about:blank", "status": status}


def invalid_request(message: str) -> dict:
    return {
        "errors": [{"parameters": {}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }


def invalid_rule(value: str, message: str) -> dict:
    return {
        "value": value,
        "details": [message],
        "title": "Invalid Rule",
        "type": f"{PROBLEMS}/invalid-rules",
    }


def duplicate_rule(value: str, existing_id: str | None) -> dict:
    error = {"value": value, "title": "DuplicateRule", "type": f"{PROBLEMS}/duplicate-rules"}
    if existing_id is not None:
        error["id"] = existing_id
    return error


def rules_cap(max_rules: int) -> dict:
    return {
        "title": "RulesCapExceeded",
        "detail": f"Rule creation would exceed the maximum of {max_rules} rules.",
        "type": f"{PROBLEMS}/rule-cap",
    }


def rule_not_found(rule_id: str) -> dict:
    body = invalid_request(f"Rule does not exist: {rule_id}")
    body["id"] = rule_id
    return body


def split_param(value: str | None) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (X's comma-separated list params)."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def extract_entities(text: str) -> dict:
    """Hashtags, cashtags, mentions and URLs with code-point start/end, as X.

    Python ``str`` indices are code points, which is what X's v2 entity
    offsets count, so ``text[start:end]`` is the entity including its sigil.
    """
    entities: dict[str, list[dict]] = {}
    urls = []
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_URL_TRAILING)
        start = m.start()
        display = re.sub(r"^https?://(www\.)?", "", url, flags=re.IGNORECASE)
        urls.append(
            {
                "start": start,
                "end": start + len(url),
                "url": url,
                "expanded_url": url,
                "display_url": display if len(display) <= 26 else display[:25] + "…",
            }
        )
    in_url = [(u["start"], u["end"]) for u in urls]

    def outside_urls(m: re.Match) -> bool:
        return not any(s <= m.start() < e for s, e in in_url)

    hashtags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)}
        for m in _HASHTAG.finditer(text)
        if outside_urls(m)
    ]
    cashtags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)}
        for m in _CASHTAG.finditer(text)
        if outside_urls(m)
    ]
    mentions = [
        {"start": m.start(), "end": m.end(), "username": m.group(1)}
        for m in _MENTION.finditer(text)
        if outside_urls(m)
    ]
    for key, found in (
        ("hashtags", hashtags),
        ("cashtags", cashtags),
        ("mentions", mentions),
        ("urls", urls),
    ):
        if found:
            entities[key] = found
    return entities


def full_user(author: dict) -> dict:
    """Every field the emulator knows for an account: the test's, then X-like defaults.

    ``public_metrics`` given in part (``{"followers_count": 3}``) is completed with the defaults.
    """
    user = dict(author)
    user.setdefault("created_at", DEFAULT_USER_CREATED_AT)
    user["public_metrics"] = {**DEFAULT_USER_METRICS, **(author.get("public_metrics") or {})}
    return user


def full_tweet(
    *,
    tweet_id: str,
    text: str,
    author: dict,
    created_at: str,
    lang: str = "en",
    references: list[tuple[str, dict]] = (),
    media_keys: list[str] = (),
) -> dict:
    """Every field the emulator knows for a Post; ``render`` picks from it.

    ``media_keys``: the Post's media, as X lists them in ``attachments.media_keys``.

    ``references``: (type, referenced Post) pairs, type "replied_to", "quoted" or "retweeted".
    A reply joins its parent's conversation and names the parent's author in
    ``in_reply_to_user_id``, as X does.
    """
    tweet = {
        "id": tweet_id,
        "text": text,
        "edit_history_tweet_ids": [tweet_id],
        "author_id": author["id"],
        "conversation_id": tweet_id,
        "created_at": created_at,
        "entities": extract_entities(text),
        "lang": lang,
        "possibly_sensitive": False,
        "public_metrics": {
            "retweet_count": 0,
            "reply_count": 0,
            "like_count": 0,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 0,
        },
        "source": "xemulator",
    }
    if media_keys:
        tweet["attachments"] = {"media_keys": list(media_keys)}
    if references:
        tweet["referenced_tweets"] = [{"type": kind, "id": ref["id"]} for kind, ref in references]
    for kind, ref in references:
        if kind == "replied_to" and ref.get("author_id"):  # else the parent is unknown (deleted)
            tweet["conversation_id"] = ref.get("conversation_id", ref["id"])
            tweet["in_reply_to_user_id"] = ref["author_id"]
    return tweet


def render(
    tweet: dict,
    author: dict,
    matching_rules: list[dict],
    *,
    tweet_fields: list[str],
    expansions: list[str],
    user_fields: list[str],
    media_fields: list[str] = (),
    referenced: dict[str, tuple[dict, dict]] | None = None,
    media: list[dict] = (),
) -> dict:
    """One stream message for a connection that asked for these fields.

    ``id``, ``text`` and ``edit_history_tweet_ids`` are always present (X's
    defaults); ``author_id`` also appears when the ``author_id`` expansion is
    requested; empty ``entities`` are omitted, as X omits them.

    ``referenced``: id -> (Post, author) of the posts this one replies to,
    quotes or reposts. With the ``referenced_tweets.id`` expansion they are
    sent in ``includes.tweets`` (with the same tweet fields), and with
    ``referenced_tweets.id.author_id`` their authors join ``includes.users``.
    A referenced id the emulator does not know gets X's "Not Found Error" in
    ``errors`` instead.

    ``media``: the Post's media objects (each with its ``media_key``), sent in ``includes.media``
    with the ``attachments.media_keys`` expansion, with the fields ``media.fields`` asks for.
    """
    wanted = set(tweet_fields)
    if "author_id" in expansions:
        wanted.add("author_id")
    message: dict = {"data": _tweet_data(tweet, wanted)}
    includes: dict = {}
    users = [author] if "author_id" in expansions else []
    if REFERENCED_TWEETS in expansions or REFERENCED_AUTHORS in expansions:
        included, errors = _referenced(tweet, referenced or {})
        if REFERENCED_AUTHORS in expansions:
            wanted_ref = wanted | {"author_id"}
            users += [ref_author for _, ref_author in included]
        else:
            wanted_ref = wanted
        if included:
            includes["tweets"] = [_tweet_data(ref, wanted_ref) for ref, _ in included]
        if errors:
            message["errors"] = errors
    if media and MEDIA_EXPANSION in expansions:
        includes["media"] = [_media_data(item, media_fields) for item in media]
    if users:
        distinct: dict[str, dict] = {}
        for user in users:
            distinct.setdefault(user["id"], user)
        includes["users"] = [_user_data(user, user_fields) for user in distinct.values()]
    if includes:
        message["includes"] = includes
    message["matching_rules"] = [{"id": rule["id"], "tag": rule.get("tag", "")} for rule in matching_rules]
    return message


def _tweet_data(tweet: dict, wanted: set[str]) -> dict:
    data = {k: tweet[k] for k in ("id", "text", "edit_history_tweet_ids")}
    for field in TWEET_FIELDS:
        if field in wanted and field in tweet:
            if field == "entities" and not tweet["entities"]:
                continue
            data[field] = tweet[field]
    return data


def _media_data(media: dict, media_fields: list[str]) -> dict:
    data = {"media_key": media["media_key"], "type": media["type"]}
    for field in MEDIA_FIELDS:
        if field in media_fields and field in media:
            data[field] = media[field]
    return data


def full_media(tweet_id: str, media: list[dict]) -> list[dict]:
    """Media objects for a Post: each given one (``type`` photo, video or animated_gif, and its
    fields) with a media key of X's form, "<type number>_<id>"."""
    objects = []
    for index, item in enumerate(media):
        kind = item.get("type", "photo")
        if kind not in MEDIA_KEY_PREFIX:
            raise ValueError(f"media type {kind!r}: expected photo, video or animated_gif")
        objects.append({**item, "type": kind, "media_key": f"{MEDIA_KEY_PREFIX[kind]}_{tweet_id}{index}"})
    return objects


def _user_data(author: dict, user_fields: list[str]) -> dict:
    user = {k: author[k] for k in ("id", "name", "username")}
    for field in user_fields:
        if field in author and field not in user:
            user[field] = author[field]
    return user


def _referenced(tweet: dict, referenced: dict[str, tuple[dict, dict]]) -> tuple[list, list]:
    included, errors = [], []
    for ref in tweet.get("referenced_tweets", ()):
        if ref["id"] in referenced:
            included.append(referenced[ref["id"]])
        else:
            errors.append(
                {
                    "value": ref["id"],
                    "detail": f"Could not find tweet with referenced_tweets.id: [{ref['id']}].",
                    "title": "Not Found Error",
                    "resource_type": "tweet",
                    "parameter": REFERENCED_TWEETS,
                    "resource_id": ref["id"],
                    "type": f"{PROBLEMS}/resource-not-found",
                }
            )
    return included, errors
