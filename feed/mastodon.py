"""A Mastodon Status (entities/Status.md) → the project's post shape. Pure: no I/O, no clock.

`content` is HTML written by another server, so it is untrusted: it is sanitised with nh3 to a small
allow-list first (links http(s) only), and then read into plain text plus X-shaped entities with
code-point offsets, which is all that is stored; the renderer escapes the text and builds every link
itself, so no markup from a status ever reaches a page.

- paragraphs become a blank line, `<br>` a newline;
- a hashtag link (`#<span>cats</span>`) becomes a hashtag with its own `url`, a mention link
  (`@<span>alice</span>`) a mention with `username` and `url`, any other http(s) link a url entity
  whose `display_url` is its visible part (Mastodon hides the scheme and the tail of long links in
  `invisible` spans and marks the cut with an `ellipsis` span) plus "…";
- custom emoji stay `:shortcode:` in the text; their images are listed in `entities["emojis"]` with
  offsets, only those in the status's own `emojis` list with an http(s) URL;
- the content warning is kept in `entities["spoiler_text"]` (and `entities["sensitive"]`);
- `raw` is an X-like envelope, so the topic filters read a Mastodon post as they read X's:
  `data.referenced_tweets` (a boost is "retweeted", a reply "replied_to"), `includes.users[]`
  (followers, account age), and the whole Status under `mastodon`.
"""

import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import nh3

from feed.media import mastodon_media
from feed.normalize import MAX_TEXT_CHARS, NormalizedTweet, PayloadError, _parse_time, storable
from feed.references import quote_card, reposter

# What survives sanitising: the markup Mastodon itself sends (entities/Status.md, `content`), no
# more. Everything else is dropped, and script/style with their content.
ALLOWED_TAGS = {"p", "br", "a", "span"}
ALLOWED_CLASSES = {"a": {"mention", "hashtag", "u-url"}, "span": {"invisible", "ellipsis", "h-card"}}
LINK_REL = "nofollow ugc noopener"
ELLIPSIS = "…"
_SHORTCODE = re.compile(r":([A-Za-z0-9_]{2,}):")


def sanitized_html(content: str) -> str:
    """`content` cut down to paragraphs, line breaks, http(s) links and Mastodon's link spans."""
    return nh3.clean(
        content,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes={"a": {"href"}},
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https"},
        link_rel=LINK_REL,
        strip_comments=True,
    )


def status_post(status: Any, *, topic_slugs: tuple[str, ...] = ()) -> NormalizedTweet:
    """The post in a Status entity (a boost: the boosted post, marked as a repost); raises
    PayloadError naming what is missing."""
    if not isinstance(status, dict):
        raise PayloadError(f"status is a {type(status).__name__}, not an object")
    status = storable(status)
    shown = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
    uri = status.get("uri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")) or len(uri) > 300:
        raise PayloadError(f"status has no usable uri: {str(uri)[:60]!r}")
    account = shown.get("account")
    if not isinstance(account, dict):
        raise PayloadError(f"status {uri} has no account")
    text, entities = content_text(str(shown.get("content") or ""))
    text = text[:MAX_TEXT_CHARS]
    entities["emojis"] = _emoji_spans(text, shown.get("emojis"))
    entities["spoiler_text"] = str(shown.get("spoiler_text") or "")
    entities["sensitive"] = bool(shown.get("sensitive"))
    return NormalizedTweet(
        network_id=uri,
        text=text,
        lang=str(shown.get("language") or "")[:16],
        created_at=_parse_time(shown.get("created_at")),
        author_id=account_key(account),
        author_username=full_acct(account)[:64],
        author_name=str(account.get("display_name") or account.get("username") or "")[:200],
        author_avatar_url=_http(account.get("avatar"))[:500],
        entities=entities,
        topic_slugs=topic_slugs,
        raw=_envelope(status, shown, account),
        source="mastodon",
        permalink=_http(shown.get("url"))[:500],
        media=tuple(mastodon_media(shown)),
        quote=mastodon_quote(shown),
        sensitive=shown.get("sensitive") is True,
        reply_to=_reply_to(shown),
        reposted_by=_reposted_by(status, shown),
    )


def _reply_to(status: dict) -> dict[str, str] | None:
    """Whom a reply answers: the mention of the account it replies to (itself, for a thread)."""
    if not status.get("in_reply_to_id"):
        return None
    account_id = status.get("in_reply_to_account_id")
    account = status.get("account") if isinstance(status.get("account"), dict) else {}
    if account_id is not None and account_id == account.get("id"):
        return {"username": full_acct(account)[:300], "url": _http(account.get("url"))}
    for mention in status.get("mentions") or ():
        if isinstance(mention, dict) and account_id is not None and mention.get("id") == account_id:
            return {"username": str(mention.get("acct") or "")[:300], "url": _http(mention.get("url"))}
    return {"username": "", "url": ""}


def _reposted_by(status: dict, shown: dict) -> dict[str, str] | None:
    """For a boost (shown as the boosted post): the account that boosted it."""
    if shown is status:
        return None
    booster = status.get("account") if isinstance(status.get("account"), dict) else {}
    return reposter(full_acct(booster), booster.get("display_name"), booster.get("url"))


def mastodon_quote(status: dict[str, Any]) -> dict[str, Any] | None:
    """The status's quote (Mastodon 4.4 and later: a Quote entity), shown only once the quoted
    author has accepted it (`state` "accepted") and its `quoted_status` is there."""
    quote = status.get("quote") if isinstance(status.get("quote"), dict) else {}
    quoted = quote.get("quoted_status")
    if (
        quote.get("state") != "accepted"
        or not isinstance(quoted, dict)
        or not isinstance(quoted.get("uri"), str)
    ):
        return None
    account = quoted.get("account") if isinstance(quoted.get("account"), dict) else {}
    text, _ = content_text(str(quoted.get("content") or ""))
    return quote_card(
        source="mastodon",
        network_id=quoted["uri"],
        url=quoted.get("url") or quoted["uri"],
        text=text,
        username=full_acct(account),
        name=account.get("display_name") or account.get("username") or "",
        avatar_url=account.get("avatar", ""),
        media=mastodon_media(quoted),
    )


def with_topics(post: NormalizedTweet, topic_slugs: tuple[str, ...]) -> NormalizedTweet:
    return replace(post, topic_slugs=topic_slugs)


def full_acct(account: dict) -> str:
    """`user@server` wherever the status was read: a local acct has no server, so it takes the one
    in the account's URL, and the same author is the same name on every instance."""
    acct = str(account.get("acct") or account.get("username") or "")
    if "@" in acct:
        return acct
    host = urlsplit(str(account.get("url") or "")).hostname
    return f"{acct}@{host}" if host else acct


def account_key(account: dict) -> str:
    """A stable author id (Account ids differ per instance; its `uri` does not), 32 hex digits."""
    identity = str(account.get("uri") or account.get("url") or full_acct(account))
    return hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()


def content_text(content: str) -> tuple[str, dict[str, list[dict]]]:
    """Plain text and X-shaped entities (code-point offsets) of a status's HTML `content`."""
    reader = _ContentReader()
    reader.feed(sanitized_html(content))
    reader.close()
    return reader.result()


class _ContentReader(HTMLParser):
    """Reads sanitised content: text, and one entity per link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = 0
        self.entities: dict[str, list[dict]] = {"hashtags": [], "mentions": [], "urls": []}
        self.paragraphs = 0
        # The link being read: its href, its start offset, and whether it was cut (ellipsis).
        self.link: dict | None = None
        # Per open span: "invisible", "ellipsis" or "" (a plain span), so nesting is undone right.
        self.spans: list[str] = []

    def _add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if tag == "p":
            if self.paragraphs:
                self._add("\n\n")
            self.paragraphs += 1
        elif tag == "br":
            self._add("\n")
        elif tag == "a" and self.link is None:
            self.link = {"href": dict(attrs).get("href") or "", "start": self.length, "cut": False}
        elif tag == "span":
            kind = "invisible" if "invisible" in classes else "ellipsis" if "ellipsis" in classes else ""
            self.spans.append(kind)
            if kind == "ellipsis" and self.link is not None:
                self.link["cut"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.spans:
            self.spans.pop()
        elif tag == "a" and self.link is not None:
            link, self.link = self.link, None
            if link["cut"]:
                self._add(ELLIPSIS)
            self._entity(link)

    def handle_data(self, data: str) -> None:
        if "invisible" in self.spans:
            return  # hidden on Mastodon's pages too: a link's scheme, or the tail of a long one
        self._add(data)

    def _entity(self, link: dict) -> None:
        start, end = link["start"], self.length
        shown = "".join(self.parts)[start:end]
        href = link["href"]
        if not shown.strip() or not href.lower().startswith(("https://", "http://")):
            return  # a link without an http(s) target stays plain text
        if shown.startswith("#") and len(shown) > 1:
            self.entities["hashtags"].append({"start": start, "end": end, "tag": shown[1:], "url": href})
        elif shown.startswith("@") and len(shown) > 1:
            username = shown[1:].split("@", 1)[0]
            self.entities["mentions"].append({"start": start, "end": end, "username": username, "url": href})
        else:
            self.entities["urls"].append(
                {"start": start, "end": end, "url": shown, "expanded_url": href, "display_url": shown}
            )

    def result(self) -> tuple[str, dict[str, list[dict]]]:
        text = "".join(self.parts)
        stripped = text.rstrip()
        if len(stripped) < len(text):  # trailing whitespace only; offsets before it stay right
            text = stripped
            for items in self.entities.values():
                items[:] = [item for item in items if item["end"] <= len(text)]
        return text, self.entities


def _emoji_spans(text: str, emojis: Any) -> list[dict]:
    """Each `:shortcode:` in the text that the status's own `emojis` list names with an http(s)
    image: the renderer may show that image there, and nothing else."""
    known = {}
    for emoji in emojis if isinstance(emojis, list) else ():
        if isinstance(emoji, dict) and isinstance(emoji.get("shortcode"), str):
            url = _http(emoji.get("static_url")) or _http(emoji.get("url"))
            if url and _SHORTCODE.fullmatch(f":{emoji['shortcode']}:"):
                known[emoji["shortcode"]] = url
    return [
        {"start": m.start(), "end": m.end(), "shortcode": m[1], "url": known[m[1]]}
        for m in _SHORTCODE.finditer(text)
        if m[1] in known
    ]


def _envelope(status: dict, shown: dict, account: dict) -> dict[str, Any]:
    """X's stream-message shape around the Status, for what the topic filters read."""
    references = []
    if shown is not status:
        booster = status.get("account") if isinstance(status.get("account"), dict) else {}
        references.append({"type": "retweeted", "id": str(shown.get("uri") or "")})
        reposted_by = {
            "acct": full_acct(booster),
            "display_name": str(booster.get("display_name") or ""),
            "url": _http(booster.get("url")),
        }
    else:
        reposted_by = None
    if shown.get("in_reply_to_id"):
        references.append({"type": "replied_to", "id": str(shown["in_reply_to_id"])})
    followers = account.get("followers_count")
    user = {"id": account_key(account), "username": full_acct(account)}
    if isinstance(followers, int) and not isinstance(followers, bool):
        user["public_metrics"] = {"followers_count": followers}
    if isinstance(account.get("created_at"), str):
        user["created_at"] = account["created_at"]
    envelope = {
        "data": {"referenced_tweets": references},
        "includes": {"users": [user]},
        "mastodon": status,
    }
    if reposted_by is not None:
        envelope["reposted_by"] = reposted_by
    return envelope


def _http(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""
