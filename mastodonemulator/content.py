"""Plain text → status HTML, shaped like the HTML Mastodon serves.

The shapes come from the examples in the documentation:

* links: ``entities/Status.md`` (``<span class="invisible">https://www.</span>
  <span class="ellipsis">…</span><span class="invisible">…</span>``; the visible part is
  30 characters, the ellipsis class only when the URL was cut);
* hashtags: ``methods/timelines.md`` (``<a href=".../tags/cats" class="mention hashtag"
  rel="tag">#<span>cats</span></a>``; from a remote origin ``rel="nofollow noopener
  noreferrer" target="_blank"`` instead of ``rel="tag"``);
* mentions: ``methods/streaming.md`` (``<span class="h-card"><a class="u-url mention"
  href="...">@<span>name</span></a></span>``);
* paragraphs ``<p>`` split on blank lines, ``<br />`` for a single newline, custom emoji
  left as ``:shortcode:`` text (clients swap them using the status' ``emojis``,
  ``entities/CustomEmoji.md``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

URL_DISPLAY_CHARS = 30  # Mastodon's TextFormatter shows 30 characters of a link after its prefix
REMOTE_REL = 'rel="nofollow noopener noreferrer" target="_blank"'  # as in the docs' remote examples

_URL = r"https?://[^\s<>\"]+"
_MENTION = r"(?<![\w/@])@(?P<user>\w[\w.-]*\w|\w)(?:@(?P<domain>[\w-]+(?:\.[\w-]+)+))?"
_HASHTAG = r"(?<![\w/#&])#(?P<tag>[\w·]*[^\W\d_][\w·]*)"
TOKENS = re.compile(f"(?P<url>{_URL})|{_MENTION}|{_HASHTAG}")
URL_PREFIX = re.compile(r"\A(https?://(www\.)?)")
URL_TRAILING = ".,;:!?)'\""
SHORTCODE = re.compile(r":(\w{2,}):")
_TAG_STRIP = re.compile(r"<[^>]*>")


def escape(text: str) -> str:
    """HTML-escape as Ruby's ``h`` does (``&quot;`` and ``&#39;``, as in the docs' examples)."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def normalize_tag(name: str) -> str:
    """Tag identity: case-insensitive and width-insensitive, like Mastodon's normalised tags."""
    return unicodedata.normalize("NFKC", name).casefold()


@dataclass
class Rendered:
    html: str
    tags: list[str] = field(default_factory=list)  # as written, first use of each, in order
    mentions: list[str] = field(default_factory=list)  # accts that resolved to known accounts
    shortcodes: list[str] = field(default_factory=list)


def shortened_link(url: str) -> str:
    prefix = (URL_PREFIX.match(url) or [""])[0]
    rest = url[len(prefix) :]
    shown, cut = rest[:URL_DISPLAY_CHARS], rest[URL_DISPLAY_CHARS:]
    return (
        f'<a href="{escape(url)}" {REMOTE_REL}><span class="invisible">{escape(prefix)}</span>'
        f'<span class="{"ellipsis" if cut else ""}">{escape(shown)}</span>'
        f'<span class="invisible">{escape(cut)}</span></a>'
    )


def hashtag_link(tag: str, origin: str, *, local: bool) -> str:
    rel = 'rel="tag"' if local else REMOTE_REL
    href = f"https://{origin}/tags/{escape(tag)}"
    return f'<a href="{href}" class="mention hashtag" {rel}>#<span>{escape(tag)}</span></a>'


def mention_link(username: str, url: str) -> str:
    return (
        f'<span class="h-card" translate="no"><a href="{escape(url)}" class="u-url mention">'
        f"@<span>{escape(username)}</span></a></span>"
    )


def render(
    text: str,
    *,
    origin: str,
    local: bool,
    resolve_mention: Callable[[str, str | None], tuple[str, str, str] | None],
) -> Rendered:
    """Format ``text`` as its origin server would.

    ``resolve_mention(user, domain)`` returns ``(acct, username, profile_url)`` for a known
    account, else None: Mastodon links only the accounts it can resolve; others stay text."""
    out = Rendered(html="")
    seen_tags: set[str] = set()
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    html_paragraphs = []
    for paragraph in paragraphs:
        lines = [
            _render_line(line, origin, local, resolve_mention, out, seen_tags)
            for line in paragraph.split("\n")
        ]
        html_paragraphs.append("<p>" + "<br />".join(lines) + "</p>")
    out.html = "".join(html_paragraphs)
    out.shortcodes = list(dict.fromkeys(SHORTCODE.findall(text)))
    return out


def _render_line(line, origin, local, resolve_mention, out: Rendered, seen_tags: set[str]) -> str:
    parts, pos = [], 0
    for match in TOKENS.finditer(line):
        start, end, piece = match.start(), match.end(), None
        if match["url"]:
            url = match["url"].rstrip(URL_TRAILING)
            end = start + len(url)
            piece = shortened_link(url)
        elif match["tag"]:
            tag = match["tag"].rstrip("·")
            end = start + 1 + len(tag)
            piece = hashtag_link(tag, origin, local=local)
            if normalize_tag(tag) not in seen_tags:
                seen_tags.add(normalize_tag(tag))
                out.tags.append(tag)
        else:
            resolved = resolve_mention(match["user"], match["domain"])
            if resolved is not None:
                acct, username, url = resolved
                piece = mention_link(username, url)
                if acct not in out.mentions:
                    out.mentions.append(acct)
        if piece is None:
            continue
        parts.append(escape(line[pos:start]))
        parts.append(piece)
        pos = end
    parts.append(escape(line[pos:]))
    return "".join(parts)


def text_of(html: str) -> str:
    """The visible text of raw HTML, good enough to find hashtags in hostile content."""
    return _TAG_STRIP.sub(" ", html)


def hashtags_in(text: str) -> list[str]:
    return list(dict.fromkeys(m["tag"].rstrip("·") for m in TOKENS.finditer(text) if m["tag"]))
