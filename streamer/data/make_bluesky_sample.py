"""Generate the Bluesky replay's sample: `.venv/bin/python streamer/data/make_bluesky_sample.py`.

Writes two files beside this script, in Bluesky's own shapes:

- sample_bluesky.ndjson: Jetstream v1 commit events (`kind: commit`, `operation: create`,
  collection app.bsky.feed.post), one a line, as `/subscribe?wantedCollections=app.bsky.feed.post`
  sends them. Facets (app.bsky.richtext.facet: #tag, mention, link) index the text by UTF-8 BYTES,
  as the lexicon says, so every offset after an accent, a kanji or an emoji differs from its
  character offset; each is checked below. Links show shortened, as the app writes them, with the
  full URL in the facet. Embeds: images (app.bsky.embed.images: blob ref, mimeType, size,
  aspectRatio, alt), a quote (app.bsky.embed.record), a quote with an image (recordWithMedia), a
  link card (app.bsky.embed.external); replies (`reply.root`/`reply.parent`); hashtags the app
  does not show (`tags`).
- sample_bluesky_profiles.json: the authors, as app.bsky.actor.getProfiles answers for them
  (`{"profiles": [profileViewDetailed, …]}`; at most 25 actors a call, so one response).

The images are make_images.py's (sample_images.json: run it first): each blob is named by its real
CID (CIDv1, raw, sha2-256) of the file in static/samples/, which is how the replay finds it.
Seeded random: re-running rewrites identical files.
"""

import base64
import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
OUT, PROFILES_OUT = HERE / "sample_bluesky.ndjson", HERE / "sample_bluesky_profiles.json"
IMAGES = {i["file"]: i for i in json.loads((HERE / "sample_images.json").read_text(encoding="utf-8"))}
rng = random.Random(20261121)
START = datetime(2026, 11, 20, 8, 50, 0, tzinfo=UTC)
POST = "app.bsky.feed.post"
FACET = "app.bsky.richtext.facet"
B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
MAX_GRAPHEMES = 300  # app.bsky.feed.post: text maxGraphemes

# handle ~ display name ~ bio. Handles are invented (bsky.social's, or a domain of their own).
AUTHORS = [
    ("anapy.bsky.social", "Ana Sánchez 🐍", "Backend dev, Django since 1.4. Madrid."),
    ("kenji.bsky.social", "渡辺 健二", "Pythonista in Osaka. 非同期が好き。"),
    ("priya-codes.bsky.social", "Priya Raman", "Staff engineer. asyncio, Postgres, tea."),
    ("lukas.bsky.social", "Lukas Becker", "Django-Entwickler, Sprint-Organisator."),
    ("camille.bsky.social", "Camille Dubois", "Dev Python à Lyon. Café ☕ et tests."),
    ("joao.bsky.social", "João Pereira 🇧🇷", "Python, Django e comunidade."),
    ("olena.bsky.social", "Олена Коваль", "Python dev from Kyiv. 💙💛"),
    ("fatima.bsky.social", "فاطمة | Fatima", "Data engineer. Python & Arabic NLP."),
    ("minji.bsky.social", "김민지", "Django & DRF. 서울."),
    ("chenwei.bsky.social", "陈伟", "Python 后端开发。"),
    ("lucia.bsky.social", "Lucía Fernández", "Types, tests, talks."),
    ("sam.okafor.dev", "Sam Okafor", "Maintainer of things. he/him."),
    ("maria-dev.bsky.social", "", "First-time sprinter. Learning Django!"),
    ("confwall-crew.bsky.social", "Conference Crew 🎪", "Volunteers' announcements."),
]
URLS = {
    "slides": "https://speakerdeck.com/priya-codes/structured-concurrency-with-taskgroups",
    "release": "https://docs.djangoproject.com/en/dev/releases/6.0/",
    "whatsnew": "https://docs.python.org/3.14/whatsnew/3.14.html#free-threaded-cpython",
    "europython": "https://ep2027.europython.eu/cfp/",
    "workshop": "https://channels.readthedocs.io/en/latest/tutorial/part_1.html",
    "asyncio": "https://docs.python.org/3/library/asyncio-task.html#task-groups",
}
CARDS = {
    "release": ("Django 6.0 release notes", "What's new in Django 6.0: background tasks, CSP, templates."),
}


def post(handle, lang, text, **extra):
    """One post to write: `text` with [[#tag]], [[@handle]] and [[url:KEY]] markers. Extras: images
    (file names), quote / reply (index of an earlier post), card (URLS key), tags, langs."""
    return {"handle": handle, "lang": lang, "text": text, **extra}


POSTS = [
    post("confwall-crew.bsky.social", "en",
         "Good morning! ☀️ Doors are open, keynote in 15 minutes in the main hall. [[#PyCon]] [[#python]]",
         images=["keynote-stage.png"]),
    post("kenji.bsky.social", "ja",
         "非同期Djangoのトーク、めちゃくちゃ良かった！"
         "[[@priya-codes.bsky.social]] さんありがとう🙏 [[#django]]"),
    post("priya-codes.bsky.social", "en",
         "Slides from my structured concurrency talk are up: [[url:slides]] Thanks to everyone who "
         "came! [[#python]] [[#asyncio]]"),
    post("sam.okafor.dev", "en",
         "Great talk! The question I didn't get to ask: do TaskGroups play well with Django's async "
         "views? (I think yes, with care.)", reply=2),
    post("priya-codes.bsky.social", "en",
         "[[@sam.okafor.dev]] yes! One TaskGroup per request; cancel on disconnect and you're fine.",
         reply=3),
    post("camille.bsky.social", "fr",
         "La file pour le café fait le tour du bâtiment. Python est asynchrone, pas la machine à "
         "café 😅 [[#pycon]]", images=["coffee-queue.png"]),
    post("lukas.bsky.social", "de",
         "Das Sprint-Board für morgen steht! Wer hilft beim Django-Ticket-Triage? 💪 [[#djangocon]] "
         "[[#python]]", images=["sprint-board.png"]),
    post("joao.bsky.social", "pt-BR",
         "Palestra incrível sobre Django Channels e websockets em produção 🇧🇷🔥 [[#djangocon]]",
         langs=["pt-BR"]),
    post("olena.bsky.social", "uk",
         "Дякую всім волонтерам [[#PyCon]]! 💙💛 Найкраща спільнота Python."),
    post("fatima.bsky.social", "ar",
         "جلسة رائعة عن Django و async اليوم 🐍 شكراً [[@anapy.bsky.social]] [[#djangocon]]"),
    post("minji.bsky.social", "ko",
         "파이썬 컨퍼런스 첫날! 스티커 잔뜩 득템 🎉 [[#pycon]] [[#python]]",
         images=["sticker-table.png"]),
    post("chenwei.bsky.social", "zh",
         "Django 的异步视图讲得太清楚了 👏 [[#django]] [[#python]]"),
    post("anapy.bsky.social", "es",
         "Charla de [[@lucia.bsky.social]] sobre tipado en Python: mypy y pyright por fin de acuerdo 😂 "
         "[[#python]]"),
    post("lucia.bsky.social", "en",
         "This 👇 is the clearest explanation of sync_to_async I have seen. [[#django]]", quote=1),
    post("sam.okafor.dev", "en",
         "Django 6.0 release notes make a good read on the train home [[url:release]] [[#django]]",
         card="release"),
    post("confwall-crew.bsky.social", "en",
         "Lightning talks start in 5 minutes in the main hall ⚡ Bring your five-minute idea!",
         tags=["pycon", "lightningtalks"], images=["lightning-talk.png"]),
    post("maria-dev.bsky.social", "en",
         "👩‍💻🧑🏽‍💻 pair-programming at the sprints with [[@lukas.bsky.social]], and my first Django "
         "PR just got merged!! 🎉 [[#djangocon]]"),
    post("priya-codes.bsky.social", "en",
         "The wifi password is 'asyncawait' and I refuse to believe that is a coincidence [[#pycon]]"),
    post("confwall-crew.bsky.social", "en",
         "PSA: the \"async web\" panel moved to Room 2.14, starting 14:30. [[#pycon]]"),
    post("lukas.bsky.social", "en",
         "Django Channels + Redis in production: 40k websockets on two boxes. Notes in the thread 🧵 "
         "[[#django]]"),
    post("lukas.bsky.social", "en",
         "2/ the trick: one group_send per topic, not per socket, and never await a slow client. "
         "[[#django]]", reply=19),
    post("minji.bsky.social", "en",
         "Stickers & snakes 🐍 the swag table is dangerous [[#pycon]]",
         images=["sticker-table.png", "snake-laptop.png"]),
    post("camille.bsky.social", "fr",
         "Atelier Django Channels complet en 3 minutes ! Le tuto est là : [[url:workshop]] [[#djangocon]]"),
    post("kenji.bsky.social", "en",
         "Notes from the asyncio talk:\n- TaskGroup over gather\n- timeouts everywhere\n- measure "
         "first\n🐍 [[#python]]"),
    post("anapy.bsky.social", "en",
         "asyncio.TaskGroup > asyncio.gather. Fight me 🥊 [[#python]] [[url:asyncio]]"),
    post("joao.bsky.social", "pt", "Alguém indo pro jantar da comunidade Python hoje? 🍕 [[#pycon]]"),
    post("sam.okafor.dev", "en",
         "[[#europython]] CFP opens next week! Polish that talk idea 📝 [[url:europython]]"),
    post("kenji.bsky.social", "ja",
         "スプリントでDjangoのチケットを3つ片付けた💪 [[#djangocon]] [[#パイソン]]"),
    post("confwall-crew.bsky.social", "en",
         "Same energy as this morning's keynote 😄 5 minutes, no exceptions. [[#pycon]]",
         quote=0, images=["lightning-talk.png"]),
    post("chenwei.bsky.social", "en",
         "Python 3.14's free-threaded build, the notes worth reading: [[url:whatsnew]] 🧵 [[#python]]"),
    post("fatima.bsky.social", "en", "🐍🐍🐍 [[#pycon]]", langs=[]),
    post("olena.bsky.social", "en",
         "Hallway track > talks, every single time. Met three people from the Django Discord IRL today "
         "❤️ [[#djangocon]]"),
    post("maria-dev.bsky.social", "en",
         "Me when the async test suite goes green on the first try 🥹 [[#python]]",
         images=["snake-laptop.png"]),
]  # fmt: skip


def cid(codec: int, data: bytes) -> str:
    """A CIDv1 (sha2-256, base32): codec 0x55 raw (a blob), 0x71 dag-cbor (a record)."""
    digest = bytes([1, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(digest).decode().lower().rstrip("=")


def tid(moment: datetime, clock: int) -> str:
    """A record key as atproto makes it: microseconds << 10 | clock id, 13 base32-sortable chars."""
    value = (int(moment.timestamp() * 1_000_000) << 10) | clock
    return "".join(B32_SORTABLE[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def plc() -> str:
    return "did:plc:" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))


DIDS = {handle: plc() for handle, _, _ in AUTHORS}


def short_link(url: str) -> str:
    """A link as the app writes it in the text: no scheme or www., a long path cut with "..."."""
    host, _, path = re.sub(r"^https?://(www\.)?", "", url).partition("/")
    path = "/" + path if path else ""
    return host + (path[:13] + "..." if len(path) > 15 else path)


def rich_text(template: str) -> tuple[str, list[dict]]:
    """The text and its facets, each indexed by UTF-8 byte offsets."""
    text, facets, position = "", [], 0
    for match in re.finditer(r"\[\[(#|@|url:)(.+?)\]\]", template):
        text += template[position : match.start()]
        kind, value = match.groups()
        shown = {"#": "#" + value, "@": "@" + value}.get(kind) or short_link(URLS[value])
        start = len(text.encode())
        text += shown
        if kind == "#":
            feature = {"$type": f"{FACET}#tag", "tag": value}
        elif kind == "@":
            feature = {"$type": f"{FACET}#mention", "did": DIDS[value]}
        else:
            feature = {"$type": f"{FACET}#link", "uri": URLS[value]}
        index = {"byteStart": start, "byteEnd": len(text.encode())}
        facets.append({"$type": FACET, "index": index, "features": [feature]})
        position = match.end()
    return text + template[position:], facets


def image_embed(files: list[str]) -> dict:
    images = []
    for name in files:
        image = IMAGES[name]
        size = len((HERE.parents[1] / "static" / "samples" / name).read_bytes())
        blob = {"$type": "blob", "ref": {"$link": image["cid"]}, "mimeType": "image/png", "size": size}
        ratio = {"width": image["width"], "height": image["height"]}
        images.append({"alt": image["alt"], "aspectRatio": ratio, "image": blob})
    return {"$type": "app.bsky.embed.images", "images": images}


def record_for(spec: dict, when: datetime, written: list[dict]) -> dict:
    text, facets = rich_text(spec["text"])
    record = {"$type": POST, "createdAt": when.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    record["langs"] = spec.get("langs", [spec["lang"]])
    record["text"] = text
    if facets:
        record["facets"] = facets
    if "tags" in spec:
        record["tags"] = spec["tags"]

    def ref(index: int) -> dict:  # a strong ref (com.atproto.repo.strongRef) to an earlier post
        return {"uri": written[index]["uri"], "cid": written[index]["event"]["commit"]["cid"]}

    if "reply" in spec:
        parent = written[spec["reply"]]
        root = parent["event"]["commit"]["record"].get("reply", {}).get("root") or ref(spec["reply"])
        record["reply"] = {"root": root, "parent": ref(spec["reply"])}
    embed = image_embed(spec["images"]) if "images" in spec else None
    if "quote" in spec:
        quoted = {"$type": "app.bsky.embed.record", "record": ref(spec["quote"])}
        if embed is not None:
            quoted = {"$type": "app.bsky.embed.recordWithMedia", "record": quoted, "media": embed}
        embed = quoted
    if "card" in spec:
        title, description = CARDS[spec["card"]]
        external = {"uri": URLS[spec["card"]], "title": title, "description": description}
        embed = {"$type": "app.bsky.embed.external", "external": external}
    if embed is not None:
        record["embed"] = embed
    return record


def check(record: dict, template: str) -> None:
    """Every facet's bytes are the text it stands for; the text fits a post."""
    raw = record["text"].encode()
    expected = [m.group(0) for m in re.finditer(r"\[\[(#|@|url:)(.+?)\]\]", template)]
    assert len(record.get("facets", [])) == len(expected)
    for facet, marker in zip(record.get("facets", []), expected, strict=True):
        shown = raw[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
        feature = facet["features"][0]
        if feature["$type"].endswith("#tag"):
            assert shown == "#" + feature["tag"], (shown, marker)
        elif feature["$type"].endswith("#mention"):
            assert shown == "@" + next(h for h, d in DIDS.items() if d == feature["did"]), (shown, marker)
        else:
            assert shown == short_link(feature["uri"]) and feature["uri"].startswith("https://"), shown
    assert len(record["text"]) <= MAX_GRAPHEMES, record["text"]


def profiles() -> dict:
    views = []
    for handle, name, bio in AUTHORS:
        did = DIDS[handle]
        created = START - timedelta(days=rng.randint(200, 900))
        view = {"did": did, "handle": handle}
        if name:
            view["displayName"] = name
        avatar = cid(0x55, f"avatar of {did}".encode())
        view.update(
            description=bio,
            avatar=f"https://cdn.bsky.app/img/avatar/plain/{did}/{avatar}@jpeg",
            associated={"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
            followersCount=rng.randint(40, 9000),
            followsCount=rng.randint(20, 900),
            postsCount=rng.randint(30, 5000),
            indexedAt=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            createdAt=created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            viewer={"muted": False, "blockedBy": False},
            labels=[],
        )
        views.append(view)
    assert len(views) <= 25  # getProfiles: at most 25 actors a call
    return {"profiles": views}


def main() -> None:
    written, when = [], START
    for number, spec in enumerate(POSTS):
        when += timedelta(seconds=rng.randint(20, 140), microseconds=rng.randrange(1_000_000))
        did = DIDS[spec["handle"]]
        record = record_for(spec, when, written)
        check(record, spec["text"])
        rkey = tid(when, number % 1024)
        record_bytes = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        commit = {"rev": tid(when + timedelta(milliseconds=3), 7), "operation": "create", "collection": POST}
        commit.update(rkey=rkey, record=record, cid=cid(0x71, record_bytes))
        time_us = int((when + timedelta(milliseconds=rng.randint(80, 900))).timestamp() * 1_000_000)
        event = {"did": did, "time_us": time_us, "kind": "commit", "commit": commit}
        written.append({"uri": f"at://{did}/{POST}/{rkey}", "event": event})
    lines = [json.dumps(w["event"], ensure_ascii=False, separators=(",", ":")) for w in written]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    PROFILES_OUT.write_text(json.dumps(profiles(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    with_images = sum("images" in p for p in POSTS)
    print(f"wrote {len(lines)} posts ({with_images} with images) to {OUT.name}, and {PROFILES_OUT.name}")


if __name__ == "__main__":
    main()
