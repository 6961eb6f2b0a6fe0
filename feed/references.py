"""What a post refers to, in one shape for every network: the post it quotes (a card), the post it
answers (`reply_to`), and, for a repost, who reposted it (`reposted_by`).

A reply: `{"username", "url"}`, whom it answers (empty when the network does not say) and a link to
what it answers. A repost is shown as the original post, its author and text, with `reposted_by`
`{"username", "name", "url"}`: the account that reposted it.

The quoted post:

`{"id", "source", "url", "text", "author": {"username", "name", "avatar_url"}, "media": [...]}`
(media in feed/media.py's shape). The text is plain: the page sets it as text, never as markup. A
quoted post whose content is unknown (deleted, or not yet looked up) has empty text and author, and
the page shows a link to it.

- X: `data.referenced_tweets` "quoted", read from `includes.tweets` and its author from
  `includes.users` (the stream's `referenced_tweets.id` and `referenced_tweets.id.author_id`
  expansions).
- Bluesky: the record's `embed.record` (or recordWithMedia's `record.record`) names the quoted post
  by URI only; its content comes from the AppView's `app.bsky.feed.getPosts` (a postView), which
  the source looks up as it looks up authors.
- Mastodon (4.4 and later): the status's `quote`, read in feed/mastodon.py.
"""

from typing import Any

from feed.media import bluesky_media

QUOTE_TEXT_CHARS = 1000  # a card, not the whole post: the link has the rest
USERNAME_CHARS, NAME_CHARS, URL_CHARS = 300, 200, 500


def quote_card(
    *,
    source: str,
    network_id: str,
    url: Any,
    text: Any = "",
    username: Any = "",
    name: Any = "",
    avatar_url: Any = "",
    media: list[dict] | tuple[dict, ...] = (),
) -> dict[str, Any]:
    return {
        "id": network_id[:300],
        "source": source,
        "url": _http(url),
        "text": text[:QUOTE_TEXT_CHARS] if isinstance(text, str) else "",
        "author": {
            "username": username[:USERNAME_CHARS] if isinstance(username, str) else "",
            "name": name[:NAME_CHARS] if isinstance(name, str) else "",
            "avatar_url": _http(avatar_url) if str(avatar_url).startswith("https://") else "",
        },
        "media": list(media),
    }


def x_quote(payload: dict[str, Any]) -> dict[str, Any] | None:
    quoted_id = _referenced_id(payload, "quoted")
    if quoted_id is None:
        return None
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    tweet = _by_id(includes.get("tweets"), quoted_id)
    author = _by_id(includes.get("users"), str(tweet.get("author_id", "")))
    username = author.get("username") if isinstance(author.get("username"), str) else ""
    return quote_card(
        source="x",
        network_id=quoted_id,
        url=f"https://x.com/{username or 'i/web'}/status/{quoted_id}",
        text=tweet.get("text", ""),
        username=username,
        name=author.get("name", ""),
        avatar_url=author.get("profile_image_url", ""),
    )


def bluesky_quoted_uri(record: dict[str, Any]) -> str:
    """The at:// URI of the post this record quotes, or "" (a quote of a list or feed is not a post)."""
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    ref = embed.get("record") if isinstance(embed.get("record"), dict) else {}
    if embed.get("$type") == "app.bsky.embed.recordWithMedia":
        ref = ref.get("record") if isinstance(ref.get("record"), dict) else {}
    uri = ref.get("uri")
    ok = (
        isinstance(uri, str) and uri.startswith("at://") and "/app.bsky.feed.post/" in uri and len(uri) <= 300
    )
    return uri if ok else ""


def bluesky_quote(uri: str, post_view: dict[str, Any] | None) -> dict[str, Any]:
    """The card for the quoted post at `uri`, from the AppView's postView of it (None: unknown)."""
    did, _, rkey = uri.removeprefix("at://").partition("/app.bsky.feed.post/")
    url = f"https://bsky.app/profile/{did}/post/{rkey}"
    if not isinstance(post_view, dict):
        return quote_card(source="bluesky", network_id=uri, url=url)
    author = post_view.get("author") if isinstance(post_view.get("author"), dict) else {}
    record = post_view.get("record") if isinstance(post_view.get("record"), dict) else {}
    handle = author.get("handle") if author.get("handle") != "handle.invalid" else ""
    return quote_card(
        source="bluesky",
        network_id=uri,
        url=url,
        text=record.get("text", ""),
        username=handle,
        name=author.get("displayName") or handle,
        avatar_url=author.get("avatar", ""),
        media=bluesky_media(did, record),
    )


def _by_id(items: Any, wanted: str) -> dict:
    return next((i for i in _list(items) if isinstance(i, dict) and str(i.get("id")) == wanted), {})


def _http(value: Any) -> str:
    ok = isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= URL_CHARS
    return value if ok else ""


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def x_reply_to(payload: dict[str, Any]) -> dict[str, str] | None:
    """Whom an X reply answers: the parent's author from includes (the referenced_tweets expansions)."""
    parent_id = _referenced_id(payload, "replied_to")
    if parent_id is None:
        return None
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    parent = _by_id(includes.get("tweets"), parent_id)
    author = _by_id(includes.get("users"), str(parent.get("author_id", "")))
    username = author.get("username") if isinstance(author.get("username"), str) else ""
    return {
        "username": username[:USERNAME_CHARS],
        "url": f"https://x.com/{username or 'i/web'}/status/{parent_id}",
    }


def x_reposted(payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """For an X repost whose original came in includes: (the original Post, its author)."""
    original_id = _referenced_id(payload, "retweeted")
    if original_id is None:
        return None
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    original = _by_id(includes.get("tweets"), original_id)
    if not isinstance(original.get("text"), str):
        return None  # not included (deleted, or not asked for): the repost is shown as X sent it
    return original, _by_id(includes.get("users"), str(original.get("author_id", "")))


def reposter(username: Any, name: Any, url: Any) -> dict[str, str]:
    username = username if isinstance(username, str) else ""
    return {
        "username": username[:USERNAME_CHARS],
        "name": (name if isinstance(name, str) and name else username)[:NAME_CHARS],
        "url": _http(url),
    }


def bluesky_reply_to(record: dict[str, Any]) -> dict[str, str] | None:
    """A Bluesky reply names its parent by URI only: a link to it (whom it answers is not said)."""
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    parent = reply.get("parent") if isinstance(reply.get("parent"), dict) else {}
    uri = parent.get("uri")
    if not isinstance(uri, str) or "/app.bsky.feed.post/" not in uri or not uri.startswith("at://"):
        return None
    did, _, rkey = uri.removeprefix("at://").partition("/app.bsky.feed.post/")
    return {"username": "", "url": f"https://bsky.app/profile/{did}/post/{rkey}"}


def _referenced_id(payload: dict[str, Any], kind: str) -> str | None:
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    for ref in _list(data.get("referenced_tweets")):
        if isinstance(ref, dict) and ref.get("type") == kind and str(ref.get("id", "")).isdigit():
            return str(ref["id"])
    return None
