"""Generate the Mastodon replay's sample: `.venv/bin/python streamer/data/make_mastodon_sample.py`.

Writes sample_mastodon.ndjson beside this script: Status entities (mastodon/documentation,
entities/Status.md), one a line, as mastodon.social's tag timelines (`/api/v1/timelines/tag/:tag`,
no token) return them: its own accounts with a bare `acct`, others as `user@server` with their
server's `uri` and `url`, and their media cached on mastodon.social (`remote_url` the original).
`content` is the HTML Mastodon writes: paragraphs, `<br />`, hashtag and mention links (`h-card`),
links with the scheme and a long tail in `invisible` spans and the cut marked `ellipsis`.

Among them: a post with custom emoji (`:shortcode:` in the text, the images in `emojis`), one behind
a content warning (`spoiler_text`, `sensitive`), a reply, a boost (a reblog wraps the boosted status:
its own id, `uri` …/activity, empty content; a tag timeline leaves boosts out, a home timeline or
user stream carries them, so this one stands for that path), images (media_attachments: `url`,
`preview_url`, `meta.original`/`small` sizes, `description`) and a GIF (gifv: an mp4, its preview
an image). The images are make_images.py's (sample_images.json: run it first), named by their file
names in the media URLs, which is how the replay finds them in static/samples/.
Seeded random: re-running rewrites an identical file.
"""

import json
import random
import re
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "sample_mastodon.ndjson"
IMAGES = {i["file"]: i for i in json.loads((HERE / "sample_images.json").read_text(encoding="utf-8"))}
rng = random.Random(20261122)
START = datetime(2026, 11, 20, 8, 55, 0, tzinfo=UTC)
READ_ON = "mastodon.social"  # the instance whose tag timelines these were read from
MEDIA_HOST = "https://files.mastodon.social"
LINK_VISIBLE = 30  # Mastodon shows this many characters of a link, then an ellipsis

# username ~ server ~ display name (":shortcode:" custom emoji allowed) ~ bio
ACCOUNTS = [
    ("annaweber", "fosstodon.org", "Anna Weber", "Django, Postgres, search. Berlin."),
    ("tkato", "mstdn.jp", "加藤 匠", "Python と Django で飯を食べています。"),
    ("marta", "mastodon.social", "Marta Nowak :python:", "Backend dev, Kraków. Async all the things."),
    ("devdiego", "hachyderm.io", "Diego Ruiz", "SRE. Hablo Python y YAML."),
    ("claire", "piaille.fr", "Claire Martin", "Développeuse Django. Lyon."),
    ("rafa", "mastodon.social", "Rafael Costa 🇧🇷", "Python, Django e café."),
    ("lena_codes", "chaos.social", "Lena Fischer", "Python & Rust. she/her."),
    ("omar", "hachyderm.io", "Omar Haddad", "Data engineering, Arabic NLP."),
    ("giulia", "mastodon.uno", "Giulia Bianchi", "Sviluppatrice Python."),
    ("confcrew", "mastodon.social", "Conf Crew 🎪", "Announcements from the volunteers' desk."),
]
URLS = {
    "fts": "https://docs.djangoproject.com/en/5.2/ref/contrib/postgres/search/",
    "cfp": "https://ep2027.europython.eu/cfp/",
    "timeout": "https://docs.python.org/3/library/asyncio-task.html#timeouts",
}
EMOJI = {  # custom emoji of mastodon.social, as a status's `emojis` lists them
    "blobcatcoffee": "000/023/743",
    "python": "000/015/992",
    "django": "000/031/113",
}


def status(who, lang, text, **extra):
    """One status: `text` with [[#Tag]], [[@user]] and [[url:KEY]] markers, blank lines between
    paragraphs. Extras: images (file names), gifv (a file name), spoiler, reply (index of an earlier
    status), boosted_by (a username: this status arrives as that account's boost)."""
    return {"who": who, "lang": lang, "text": text, **extra}


STATUSES = [
    status("confcrew", "en",
           "Good morning from the venue! ☀️ Registration opens at 8:30, keynote at 9:15 in the main hall. "
           "[[#PyCon]] [[#Python]]", images=["keynote-stage.png"]),
    status("marta", "en",
           "Coffee status: :blobcatcoffee: :blobcatcoffee: :blobcatcoffee:\nThe queue is long but it "
           "moves. Async, like us. [[#PyCon]]", images=["coffee-queue.png"]),
    status("confcrew", "en",
           "Next year's conference city is… you'll have to wait for the closing keynote 😉 [[#PyCon]] "
           "[[#Python]]", spoiler="Spoilers: the closing keynote's announcement"),
    status("annaweber", "en",
           "Slides from my Postgres full-text search talk, with the SearchRank weights I promised: "
           "[[url:fts]] [[#Django]] [[#djangocon]]"),
    status("devdiego", "en",
           "[[@annaweber]] loved the part about SearchVector on a GIN index. Trying it on Monday! "
           "[[#djangocon]]", reply=3),
    status("lena_codes", "de",
           "Danke an alle Freiwilligen! Ohne euch gäbe es keine [[#PyCon]] 💚 [[#Python]]"),
    status("tkato", "ja",
           "DjangoのChannelsでWebSocketのデモ、ライブで成功してた👏 [[#djangocon]] [[#Python]]"),
    status("claire", "fr",
           "Le sprint [[#DjangoCon]] démarre demain à 9h. Apportez vos portables et vos idées ! "
           ":django: [[#Django]]"),
    status("devdiego", "es", "Aprendí más en el pasillo que en las charlas 😂 [[#PyCon]] [[#Python]]"),
    status("marta", "pl", "Świetna prelekcja o typowaniu w Pythonie! 🐍 [[#PyCon]] [[#Python]]"),
    status("giulia", "it", "Sprint di Django domani: chi viene? 🍕 [[#djangocon]]"),
    status("confcrew", "en",
           "Lightning talks! ⚡ Five minutes each, no exceptions, the timer is merciless. [[#PyCon]]",
           images=["lightning-talk.png"]),
    status("annaweber", "en",
           "Today's notes:\n- async views are ready\n- Channels scales if you group_send once\n- type "
           "your settings\n\nGreat day, see you at the sprints. [[#djangocon]]"),
    status("lena_codes", "en",
           "The [[#EuroPython]] CFP opens next week, time to polish that talk idea 📝 [[url:cfp]]"),
    status("rafa", "pt", "Primeira vez numa [[#PyCon]] e já quero voltar 💛 [[#Python]]",
           boosted_by="confcrew"),
    status("omar", "ar", "شكراً لكل المتطوعين في [[#PyCon]] 💚 [[#Python]]"),
    status("marta", "en",
           "Sticker haul: 14 and counting. The pony is my favourite :python: [[#PyCon]]",
           images=["sticker-table.png"]),
    status("annaweber", "en",
           "The sprint board is filling up: 12 Django tickets to do, 3 done already 💪 [[#djangocon]] "
           "[[#Django]]", images=["sprint-board.png", "sticker-table.png"]),
    status("tkato", "en",
           "Me when the async test suite goes green on the first try [[#Python]]", gifv="snake-laptop.png"),
    status("devdiego", "en",
           "Hot take: Django Channels is the most underrated part of the Django ecosystem. [[#djangocon]]"),
    status("confcrew", "en",
           "psst: the quiet room on floor 2 has power outlets AND working wifi 🤫 [[#PyCon]]"),
    status("omar", "en",
           "asyncio.timeout() + TaskGroup = 😍 No more wait_for in my code: [[url:timeout]] [[#Python]]"),
    status("rafa", "en",
           "Hallway track: [[@marta]] explained the free-threaded build better than any blog post. "
           "[[#Python]] [[#PyCon]]"),
    status("giulia", "en", "Django + HTMX is the boring stack and I love it 💚 [[#Django]] [[#djangocon]]"),
]  # fmt: skip


def snowflake(when: datetime) -> str:
    """A Mastodon id: milliseconds << 16, and random low bits (it keeps them unique)."""
    return str((int(when.timestamp() * 1000) << 16) | rng.randrange(65536))


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def account(username: str) -> dict:
    _, server, name, bio = next(a for a in ACCOUNTS if a[0] == username)
    local = server == READ_ON
    created = START - timedelta(days=rng.randint(300, 2500))
    avatar = f"{MEDIA_HOST}/{'' if local else 'cache/'}accounts/avatars/{rng.randrange(10**17, 10**18)}.png"
    return {
        "id": str(rng.randrange(10**17, 2 * 10**17)),
        "username": username,
        "acct": username if local else f"{username}@{server}",
        "display_name": name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": stamp(created.replace(hour=0, minute=0, second=0, microsecond=0)),
        "note": f"<p>{escape(bio)}</p>",
        "url": f"https://{server}/@{username}",
        "uri": f"https://{server}/users/{username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": f"https://{READ_ON}/headers/original/missing.png",
        "header_static": f"https://{READ_ON}/headers/original/missing.png",
        "followers_count": rng.randint(30, 6000),
        "following_count": rng.randint(20, 800),
        "statuses_count": rng.randint(50, 9000),
        "last_status_at": START.date().isoformat(),
        "emojis": [emoji(code) for code in re.findall(r":(\w+):", name)],
        "fields": [],
    }


def emoji(code: str) -> dict:
    path = f"{MEDIA_HOST}/custom_emojis/images/{EMOJI[code]}"
    return {
        "shortcode": code,
        "url": f"{path}/original/{code}.png",
        "static_url": f"{path}/static/{code}.png",
        "visible_in_picker": True,
    }


def link(url: str) -> str:
    """A link as Mastodon writes it in `content`: scheme hidden, the first 30 characters shown."""
    scheme, rest = re.match(r"(https?://(?:www\.)?)(.*)", url).groups()
    shown, tail = rest[:LINK_VISIBLE], rest[LINK_VISIBLE:]
    visible = f'<span class="ellipsis">{escape(shown)}</span>' if tail else f"<span>{escape(shown)}</span>"
    return (
        f'<a href="{escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{escape(scheme)}</span>{visible}'
        f'<span class="invisible">{escape(tail)}</span></a>'
    )


def content(template: str, server: str, accounts: dict) -> tuple[str, list[dict], list[dict]]:
    """`content` HTML, and the status's `tags` and `mentions`."""
    tags, mentions = [], []

    def piece(match: re.Match) -> str:
        kind, value = match.groups()
        if kind == "#":
            tags.append({"name": value.lower(), "url": f"https://{READ_ON}/tags/{value.lower()}"})
            href = f"https://{server}/tags/{value.lower()}"
            return f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{escape(value)}</span></a>'
        if kind == "@":
            who = accounts[value]
            mentions.append({k: who[k] for k in ("id", "username", "url", "acct")})
            return (
                f'<span class="h-card" translate="no"><a href="{who["url"]}" class="u-url mention">'
                f"@<span>{escape(who['username'])}</span></a></span>"
            )
        return link(URLS[value])

    paragraphs = []
    for paragraph in template.split("\n\n"):
        parts, position = [], 0
        for match in re.finditer(r"\[\[(#|@|url:)(.+?)\]\]", paragraph):
            parts += [escape(paragraph[position : match.start()], quote=False), piece(match)]
            position = match.end()
        parts.append(escape(paragraph[position:], quote=False))
        paragraphs.append("<p>" + "".join(parts).replace("\n", "<br />") + "</p>")
    return "".join(paragraphs), tags, mentions


def attachment(name: str, kind: str, local: bool, server: str) -> dict:
    image = IMAGES[name]
    number = f"{rng.randrange(10**17, 2 * 10**17):018d}"
    path = "/".join(number[i : i + 3] for i in range(0, 18, 3))
    base = f"{MEDIA_HOST}/{'' if local else 'cache/'}media_attachments/files/{path}"
    size = {"width": image["width"], "height": image["height"]}
    size.update(size=f"{image['width']}x{image['height']}", aspect=round(image["width"] / image["height"], 4))
    original = name if kind == "image" else name.replace(".png", ".mp4")
    item = {"id": str(int(number)), "type": kind, "url": f"{base}/original/{original}"}
    item["preview_url"] = f"{base}/small/{name}"
    item["remote_url"] = None if local else f"https://{server}/system/media_attachments/{path}/{original}"
    item.update(preview_remote_url=None, text_url=None, meta={"original": size, "small": size})
    item.update(description=image["alt"], blurhash=None)
    if kind == "gifv":
        item["meta"]["original"] = {**size, "frame_rate": "25/1", "duration": 2.4, "bitrate": 180000}
    return item


def status_entity(spec: dict, when: datetime, written: list[dict], accounts: dict) -> dict:
    who = accounts[spec["who"]]
    server = who["url"].split("/")[2]
    local = server == READ_ON
    html, tags, mentions = content(spec["text"], server, accounts)
    status_id = snowflake(when)
    origin_id = status_id if local else snowflake(when - timedelta(milliseconds=rng.randint(200, 4000)))
    media = [attachment(name, "image", local, server) for name in spec.get("images", [])]
    if "gifv" in spec:
        media.append(attachment(spec["gifv"], "gifv", local, server))
    parent = written[spec["reply"]] if "reply" in spec else None
    entity = {
        "id": status_id,
        "created_at": stamp(when),
        "in_reply_to_id": parent["id"] if parent else None,
        "in_reply_to_account_id": parent["account"]["id"] if parent else None,
        "sensitive": "spoiler" in spec,
        "spoiler_text": spec.get("spoiler", ""),
        "visibility": "public",
        "language": spec["lang"],
        "uri": f"https://{server}/users/{who['username']}/statuses/{origin_id}",
        "url": f"https://{server}/@{who['username']}/{origin_id}",
        "replies_count": rng.randint(0, 6),
        "reblogs_count": rng.randint(0, 25),
        "favourites_count": rng.randint(0, 80),
        "edited_at": None,
        "content": html,
        "reblog": None,
        "account": who,
        "media_attachments": media,
        "mentions": mentions,
        "tags": tags,
        "emojis": [emoji(code) for code in dict.fromkeys(re.findall(r":(\w+):", spec["text"]))],
        "card": None,
        "poll": None,
    }
    if "boosted_by" not in spec:
        return entity
    booster, boost_id = accounts[spec["boosted_by"]], snowflake(when + timedelta(minutes=rng.randint(2, 9)))
    activity = f"https://{READ_ON}/users/{booster['username']}/statuses/{boost_id}/activity"
    boost = dict(entity, id=boost_id, created_at=stamp(when + timedelta(minutes=3)), uri=activity)
    boost.update(url=activity, content="", account=booster, reblog=entity, media_attachments=[])
    boost.update(mentions=[], tags=[], emojis=[], spoiler_text="", sensitive=False, language=None)
    boost.update(in_reply_to_id=None, in_reply_to_account_id=None)
    return boost


def check(entity: dict) -> None:
    shown = entity["reblog"] or entity
    assert shown["content"].startswith("<p>") and "[[" not in shown["content"], shown["content"]
    for code in re.findall(r":(\w+):", re.sub(r"<[^>]+>", "", shown["content"])):
        assert code in {e["shortcode"] for e in shown["emojis"]}, code
    for media in shown["media_attachments"]:
        assert Path(media["preview_url"]).name in IMAGES, media
    assert shown["uri"].startswith("https://") and shown["url"].startswith("https://")


def main() -> None:
    accounts = {username: account(username) for username, *_ in ACCOUNTS}
    written, when = [], START
    for spec in STATUSES:
        when += timedelta(seconds=rng.randint(30, 180), milliseconds=rng.randrange(1000))
        entity = status_entity(spec, when, written, accounts)
        check(entity)
        written.append(entity)
    lines = [json.dumps(entity, ensure_ascii=False, separators=(",", ":")) for entity in written]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    print(f"wrote {len(lines)} statuses to {OUT.name}")


if __name__ == "__main__":
    main()
