"""Generate sample_stream.ndjson for the replay source: `.venv/bin/python streamer/data/make_sample.py`.

Each line is one X API v2 filtered-stream message (tweet.fields=created_at,author_id,entities,lang,
attachments; expansions=author_id,attachments.media_keys; user.fields=name,username,profile_image_url;
media.fields=url,preview_image_url,type,width,height,alt_text,duration_ms). Seeded random, so
re-running rewrites an identical file. The media are the images make_images.py drew
(sample_images.json: run it first), named in X's media URLs by their file names, which is how the
replay finds them in static/samples/. Entity start/end are Unicode code point offsets into the text
as stored, i.e. already HTML-escaped the way X sends it (& < > as &amp; &lt; &gt;). About 5% of the
tweets are deliberately hostile (XSS payloads, non-http link targets, bidi overrides, HTML in a
display name, lookalike names); everything is verified with asserts before the file is written.

Templates: [[#tag]], [[@username]] and [[url:KEY]] (KEY from URLS, or a literal target) become
entities; {talk} {spk} {spk2} {room} {food} {e} {n} {t} are filled at random; a literal \\n is a
line break.
"""

import json
import random
import re
import string
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).with_name("sample_stream.ndjson")
IMAGES = json.loads(Path(__file__).with_name("sample_images.json").read_text(encoding="utf-8"))
rng = random.Random(20261120)
TWEPOCH_MS = 1288834974657
START = datetime(2026, 11, 20, 8, 45, 0, tzinfo=UTC)
ALNUM = string.ascii_letters + string.digits
TOTAL = 270
SEP = " ~ "


def rows(block):
    """A block's records (one a line, or joined by " ; "), split on SEP; a literal \\n is a newline."""
    records = [r.strip() for line in block.strip().splitlines() for r in line.split(" ; ") if r.strip()]
    return [tuple(f.replace("\\n", "\n") for f in r.split(SEP)) for r in records]


# display name ~ username ~ usual language. The last two are hostile (HTML name, lookalike name).
AUTHORS = rows(r"""
    Ana Sánchez ~ anasanchez_dev ~ es ; Kenji Watanabe ~ kenji_w ~ ja
    Priya Raman ~ priyaraman ~ en ; Tomasz Nowak ~ tnowak_py ~ pl
    فاطمة السيد | Fatima ~ fatima_codes ~ ar ; Noa Levi נועה ~ noalevi_dev ~ he
    Lukas Becker ~ lbecker ~ de ; Camille Dubois ~ camilledubois ~ fr
    João Pereira ~ joaopereira_py ~ pt ; Emma Thompson ~ emmathompsondev ~ en
    Marcus Johnson ~ marcusj ~ en ; Sofia Rossi ~ sofiarossi ~ en
    田中 ゆき ~ yuki_tnk ~ ja ; Olga Kowalska ~ olgakowalska ~ pl
    Diego Fernández ~ diegofdez ~ es ; Hannah Müller ~ hannah_mueller ~ de
    Ahmed Hassan ~ ahmedhassan_dev ~ ar ; Ruth Cohen ~ ruthcohen ~ he
    陈伟 Chen Wei ~ chenwei_py ~ zh ; Leila Nasser ~ leilanasser ~ en
    Sam Okafor ~ samokafor ~ en ; Ingrid Larsen ~ ingridlarsen ~ en
    Rafael Costa ~ rafacosta ~ pt ; Mia Schneider ~ miaschneider ~ de
    Pierre Martin ~ pmartin_dev ~ fr ; Aisha Bello ~ aishabello ~ en
    Jakub Wiśniewski ~ jakubw ~ pl ; Grace Kim 👩‍💻 ~ gracekim_codes ~ ko
    Oliver Brown ~ oliverbrown_py ~ en ; Nadia Petrova ~ nadiapetrova ~ en
    Carlos Mendoza ~ cmendoza ~ es ; Lena Fischer ~ lenafischer ~ de
    Sarah O'Connor ~ sarahoconnor ~ en ; Async Andy ⚡ ~ asyncandy ~ en
    DjangoCon Jobs Board ~ djangoconjobs ~ en ; Bits & Bytes Podcast 🎙️ ~ bitsnbytes_fm ~ en
    PyCon Volunteers 🇺🇦🇵🇱 ~ pyconvolunteers ~ en ; Conf WiFi Status ~ conf_wifi_lol ~ en
    <img src=x onerror=alert(1)>Legit Dev ~ legit_dev_42 ~ en
    Django Software Fоundation ✔ ~ djangopr0ject ~ en
""")
HTML_NAME, LOOKALIKE = AUTHORS[-2][1], AUTHORS[-1][1]
POOL = AUTHORS[:-2]
URLS = dict(
    rows(r"""
    weblog ~ https://www.djangoproject.com/weblog/
    docs_async ~ https://docs.djangoproject.com/en/5.2/topics/async/
    asyncio ~ https://docs.python.org/3/library/asyncio-task.html#task-groups
    whatsnew ~ https://docs.python.org/3.14/whatsnew/3.14.html ; pep703 ~ https://peps.python.org/pep-0703/
    slides ~ https://speakerdeck.com/priyaraman/async-django-in-production
    github ~ https://github.com/django/django/pulls?q=is%3Aopen+label%3Aasync
    youtube ~ https://www.youtube.com/watch?v=Xq4bB7k1TzE
    jobs ~ https://careers.example.org/jobs/python-backend-engineer?utm_source=x&utm_medium=social
    jobs2 ~ https://jobs.example.com/apply?role=django-dev&level=junior&remote=1
    djangocon ~ https://2026.djangocon.eu/talks/ ; pycon ~ https://us.pycon.org/2027/
    hypothesis ~ https://hypothesis.readthedocs.io/en/latest/ ; uv ~ https://docs.astral.sh/uv/
    idn ~ https://例え.jp/パイソン/勉強会?月=12
    blog ~ https://blog.example.dev/2026/11/async-django-postgres-connection-pooling-lessons-learned/
    phish ~ http://djangoproject.com.free-tickets.example/claim?id=8812
    evil_meta ~ https://blog.example.dev/posts/wall-xss-demo
    data_uri ~ data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==
""")
)
META = {  # fields X adds to a link it has unwound; the second page's metadata is hostile
    "weblog": {"status": 200, "title": "Django Weblog", "description": "News from the Django project."},
    "evil_meta": {
        "status": 200,
        "title": "</title><script>alert(1)</script>",
        "description": '"><img src=x onerror=alert(1)>',
    },
}
TALKS = [
    t
    for (t,) in rows("""
    Async views in Django 5 ; Typing the untypeable ; Postgres full-text search for mortals
    What's new in Python 3.14 ; Free-threaded Python in production ; HTMX + Django: the boring stack
    asyncio internals for the curious ; Structured concurrency with TaskGroups
    Scaling Channels to a million websockets ; Property-based testing with Hypothesis
    The Django ORM, deeper than you think ; Packaging Python in 2026 ; Zero-downtime Django migrations
    Rust for Python developers
""")
]
ROOMS = ["Hall A", "Room 2.14", "the main stage", "Track 3", "the Auditorium", "Room B"]
FOODS = ["falafel wraps & salad", "pierogi", "sushi", "tacos", "mystery pasta", "vegan curry"]
EMOJI = [
    *"🐍 ☕ 🚀 🎉 😂 🤯 👩‍💻 🧑🏽‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🏳️‍⚧️ 🇵🇱 🇪🇸 🇯🇵 🇧🇷 🇺🇦 🇮🇱 1️⃣ ❤️‍🔥 🙌🏾 💚🐍 🦄 👀 🫠".split(),
    "",
]
EN = [
    t
    for (t,) in rows(r"""
    Just walked out of "{talk}" by [[@{spk}]] and my brain is full {e} [[#DjangoCon]] [[#django]]
    Hot take: async Django is ready for production. Fight me at the coffee line {e} [[#django]]
    Slides for my talk "{talk}" are up: [[url:slides]] Thanks to all who came to {room}! [[#python]]
    The wifi password is on the badge, yet here we are, tethering to a phone in {room} {e} [[#pycon]]
    Coffee queue is {n} people deep. The real async Python: everyone awaiting, nobody running ☕
    We're hiring! Senior Python/Django engineer, remote (EU). Apply: [[url:jobs]] [[#django]] [[#hiring]]
    TIL asyncio.TaskGroup cancels the sibling tasks when one fails. Python FTW {e} [[url:asyncio]]
    Django docs on async views are really good: [[url:docs_async]] cc [[@{spk}]] [[#django]]
    [[@{spk}]] great question at the Q&A on the Django ORM + async. Short answer: sync_to_async {e}
    {room} is FULL for "{talk}". Standing room only {e} [[#DjangoCon]]
    Lunch: {food}. Python conferences always feed you well {e} [[#pycon]]
    Free-threaded Python (PEP 703) numbers in the keynote look wild: [[url:pep703]] [[#python]]
    Reminder: lightning talk sign-up closes at {t}! Five minutes, any topic, Python or not {e}
    Sprint day tomorrow! Help us triage Django tickets {e} [[url:github]] [[#django]] [[#sprints]]
    If your Django app does N+1 queries, select_related & prefetch_related are your friends {e}
    The async web is not about speed, it's about waiting efficiently. Quote of the day from "{talk}"
    Who else is stuck in the hallway track? Best part of any Python conference {e} [[#pycon]]
    Python 3.14 what's new, in one link: [[url:whatsnew]] {e} [[#python]]
    My first PyCon! Say hi if you see a snake sticker on a laptop 🐍 [[#pycon]] [[#firsttimer]]
    Pro tip: the quiet room next to {room} has power outlets AND working wifi. Don't tell anyone {e}
    Live-coding a Django Channels chat app on stage with zero failures. Witchcraft {e} [[#DjangoCon]]
    if django.VERSION >= (5, 0): print("async all the things") {e} [[#django]]
    Hypothesis found 3 bugs in my Python code in 10 minutes: [[url:hypothesis]] [[#testing]]
    uv made my Python packaging demo take 4 seconds instead of 4 minutes [[url:uv]] {e} [[#python]]
    Thanks [[@djangocon]] organizers & volunteers, this Django conference is so well run {e}
    Anyone got a USB-C adapter? Speaking about Python in {room} at {t} and my dongle died {e}
    Django ORM: 1. Python: 1. Me at 2am debugging a migration: 0. [[#django]] {e}
    Community grants are up again. Thank you [[@ThePSF]] for everything you do for Python {e}
    Async Django views? The DB driver is sync unless you use psycopg 3 async, says [[@{spk}]]
    Recording of "{talk}" is already up! [[url:youtube]] [[#pycon]] [[#python]]
    Reading the Django weblog between talks: [[url:weblog]] {e}
    Hiring Python devs who like async web stuff (FastAPI, Django, aiohttp). Junior friendly! [[url:jobs2]]
    Notes from "{talk}":\n- measure first\n- then measure again\n- async isn't magic\n{e} [[#python]]
    The hallway WiFi set a new record: {n}00 ms ping. asyncio.sleep() would be faster {e} [[#pycon]]
    Stickers acquired: {n}. Django pony, Python snake, and one I can't identify {e} [[#DjangoCon]]
    Long day. {e}\n\nGreat talks on Django, async and Python typing. See you tomorrow [[#DjangoCon]]
    Python typing has come so far. Just saw mypy & pyright agree on something {e} [[#typing]]
    PyCon tip: drink water, not only coffee {e} [[#pycon]]
    [[@{spk}]] [[@{spk2}]] are you coming to the Django sprints? Bring laptops & snacks {e}
    Postgres + Django full-text search in 20 lines. Mind blown {e} [[url:blog]] [[#postgres]]
    Three links from the async Python panel: [[url:asyncio]] [[url:docs_async]] [[url:pep703]]
    Q: How many Django devs does it take to change a lightbulb?\nA: One, plus a migration {e}
    Panel: "Is async Python worth it?" All four panelists: it depends {e} [[#pycon]] [[#asyncio]]
    Birthday cake for Django spotted at the venue {e} [[#django]] [[#DjangoCon]]
    a < b and b < c, so in Python just write a < b < c. Chained comparisons <3 {e} [[#python]]
    Backend Engineer (Python/Django), hybrid in Berlin, salary in the post: [[url:jobs]] [[#hiring]]
    The real async web was the friends we made along the way {e} [[#DjangoCon]]
    The badge printer here runs Python. The coffee machine sadly does not {e} [[#pycon]]
    Great to finally meet [[@{spk}]] IRL after years of Django PR reviews {e}
    Talk by [[@{spk}]] on Python -> Rust extensions with PyO3 was excellent {e} [[#rustlang]]
""")
]
INTL = rows(r"""
    es ~ ¡Qué charla! "{talk}" de [[@{spk}]] explicó async en Django mejor que la doc {e}
    es ~ Primera vez en una PyCon y ya quiero volver. La comunidad de Python es increíble 💛
    es ~ El wifi no funciona, el café sí. Prioridades correctas ☕ [[#pycon]] [[#python]]
    pl ~ Świetna prelekcja o asyncio w Pythonie! Kawa też niezła ☕ [[#pycon]] [[#python]]
    pl ~ Django + async = ❤️. Dzięki [[@{spk}]] za super warsztaty! [[#django]]
    ar ~ محاضرة رائعة عن Django و async اليوم 🐍 شكراً [[@{spk}]] [[#DjangoCon]]
    ar ~ أول مرة أحضر مؤتمر Python! الواي فاي بطيء جداً 😅 [[#pycon]] [[#بايثون]]
    he ~ הרצאה מעולה על asyncio ב-Python! [[#pycon]] 🇮🇱
    he ~ מישהו יודע איפה הקפה? ☕ ההרצאה על Django הייתה מצוינת [[#DjangoCon]]
    ja ~ Djangoの非同期ビューの話、めちゃくちゃ良かった！🐍 [[#djangocon]] [[#パイソン]]
    ja ~ PyConのWi-Fiが遅すぎる😂 でもコーヒーは美味しい☕ [[#pycon]]
    ja ~ 「{talk}」のスライド公開されてます → [[url:slides]] [[#python]]
    de ~ Großartiger Vortrag über Python-Typisierung. Leider ist der Kaffee alle ☕😢 [[#pycon]]
    de ~ Wir stellen ein: Python/Django Entwickler:in (m/w/d), remote möglich. [[url:jobs]]
    fr ~ Super talk sur les vues async de Django ! Q&A très riche 👏 [[#DjangoCon]] [[#django]]
    fr ~ Le wifi de la conf < le partage de connexion de mon téléphone. Vive Python quand même 🐍
    pt ~ Palestra incrível sobre Django e asyncio 🇧🇷 [[#python]] [[#django]]
    pt ~ Alguém mais na fila do café? Python não roda sem cafeína ☕ [[#pycon]]
    zh ~ Python 异步编程的演讲太棒了！[[#python]] [[#asyncio]]
    ko ~ DjangoCon 첫날! 비동기 Django 발표 최고였어요 🐍 [[#DjangoCon]]
    und ~ 🐍🐍🐍 [[#python]] ; und ~ ☕☕☕😴 [[#pycon]] ; und ~ [[url:slides]]
    und ~ [[#django]] [[#DjangoCon]] 🦄🎉 ; und ~ 👩‍💻👨‍💻🧑‍💻 [[#pycon]] [[url:pycon]]
""")
# Hand-written hostile cases, all "en": X (escaped the way X does) or RAW ~ author (- for any) ~ template
HOSTILE = rows(r"""
    RAW ~ - ~ Testing the wall renderer, don't mind me <img src=x onerror=alert(1)> [[#django]]
    X ~ - ~ Is this python wall escaping HTML? <img src=x onerror=alert(1)> [[#pycon]]
    RAW ~ - ~ <script>alert(1)</script> lol python [[#DjangoCon]]
    X ~ - ~ Always escape output in Django templates: <script>alert(1)</script> [[#security]]
    RAW ~ - ~ "><svg onload=alert(1)> django wall test
    X ~ - ~ Classic attribute breakout: "><svg onload=alert(1)> and Django autoescape handles it
    X ~ - ~ Never put user input in an href without checking the scheme: javascript:alert(1) [[#python]]
    X ~ - ~ Slides for my Django security talk: [[url:javascript:alert(1)]] [[#DjangoCon]]
    X ~ - ~ Python talk recording: [[url:JaVaScRiPt:alert(document.domain)]] backup: [[url:data_uri]]
    X ~ legit_dev_42 ~ Hello Python people! Love this wall 👋 [[#python]]
    X ~ djangopr0ject ~ Official: free Django tickets from @djаngoproject, claim here [[url:phish]]
    X ~ - ~ In HTML you write &lt;b&gt; to show <b> as text. Python's html.escape does it for you
    X ~ - ~ {{7*7}} ${7*7} {% debug %} <%= 7*7 %> does this django wall evaluate templates? [[#django]]
    X ~ - ~ My write-up on the django wall XSS demo: [[url:evil_meta]] [[#security]]
""")
HOSTILE.append(
    ("X", "-", "Python slides: talk_slides\u202egpj.exe (jk) zero\u200bwidth\u2028line\u2029para [[#pycon]]")
)
# Hand-written edge cases: emoji (ZWJ, flags, keycaps), RTL, CJK, combining marks, odd layouts.
EDGE = rows(r"""
    en ~ 👩‍💻👨‍👩‍👧‍👦🏳️‍🌈 family photo at the python booth [[#pycon]] with [[@pyladies]]
    en ~ 🇵🇱🇪🇸🇯🇵🇧🇷🇺🇦🇮🇱🇩🇪🇫🇷🇳🇬🇮🇳 so many countries at DjangoCon this year! [[#django]]
    ar ~ شكراً لكل المتطوعين في DjangoCon! الشرائح هنا [[url:slides]] [[#django]] [[#DjangoCon]]
    he ~ ההרצאה שלי על Django async מתחילה ב-14:30 באולם B 🎤 [[url:djangocon]] [[#DjangoCon]]
    ar ~ [[#بايثون]] [[#جانغو]] مجتمع رائع 💚 [[@fatima_codes]]
    ja ~ [[#パイソン]] と [[#ジャンゴ]] の勉強会、来月やります！詳細 → [[url:idn]]
    en ~ Z̷̢̛a̴l̸g̵o̶ ̷i̶s̴ ̵h̸e̷r̵e̶ to test python text rendering [[#python]]
    en ~ Day 2:\n\n09:00 Keynote\n10:30 Async Django\n12:00 Lunch 🍕\n\n\n14:00 Sprints\n[[#DjangoCon]]
    en ~ [[@djangocon]] [[@ThePSF]] thank you for the financial aid, I'd not be at this Python conf otherwise
    en ~ [[#python]] [[#django]] [[#asyncio]] [[#pycon]] [[#DjangoCon]] [[#100DaysOfCode]] [[#opensource]]
    en ~ [[#django]] [[#django]] is what I'd tell [[@djangoproject]]. Right [[@djangoproject]]? [[#django]]
    en ~ 𝗣𝘆𝘁𝗵𝗼𝗻 𝗶𝘀 𝗮𝘄𝗲𝘀𝗼𝗺𝗲 and so is [[@EuroPython]] [[#python]]
    he ~ אני אוהב [[#python]] ו-[[#django]] יותר מקפה ☕
    en ~ 1️⃣ 2️⃣ 3️⃣ steps to async Django 👇🏽 [[url:docs_async]]
""")
TEST_NAME = "_".join(
    "async view returns streaming response when client disconnects before first chunk".split()
)
EDGE.append(("en", f"Longest Django test name I saw today: test_{TEST_NAME}_under_asgi_lifespan 😅"))
# Long-form posts: recap paragraphs (blank-line separated; lines within a paragraph are joined).
PARAGRAPHS = [
    " ".join(p.split("\n")).replace("\\n", "\n")
    for p in """
Long post, because 280 characters are not enough for a whole Django conference day {e}

The morning keynote set the tone: Python is thirty-something and still growing. "{talk}" by [[@{spk}]]
was the highlight for me: clear slides, live demos that worked, and a Q&A that went ten minutes over.

What I learned about async: the async web is mostly about not blocking while you wait. Django has had
async views for years, but the ORM story is still partial, so sync_to_async remains the bridge. If your
view waits on three HTTP APIs, asyncio.gather or a TaskGroup turns 900 ms into 300 ms. If it waits on
one Postgres query, async buys you nothing. Measure first. Docs: [[url:docs_async]]

Hallway track: met [[@{spk2}]] and argued (politely) about whether HTMX & Django templates are enough
for most apps. Conclusion: yes, until they are not. The coffee ran out at 10:40 and people stayed calm {e}

Lunch was {food}. The wifi worked for exactly one talk, the one about offline-first apps, which
everyone agreed was either irony or a very committed demo.

Afternoon: free-threaded Python. The benchmarks are real but so are the caveats: C extensions must
declare support, and a lot of code quietly relies on the GIL. [[url:pep703]] is worth a re-read.

Things I want to try next week:\\n1. TaskGroups everywhere\\n2. Hypothesis for the serializers\\n3.
Moving the test suite to uv\\n4. Actually reading the Django release notes before upgrading {e}

A note for organizers: captions on every talk made a huge difference, and so did the quiet room. Thank
you [[@djangocon]] and every volunteer. Shoutout to whoever fixed the projector in {room} with a paperclip.

Overheard: «Python est lent» — «oui, mais moi aussi». 日本から来た人もたくさんいました。مرحبا بالجميع.
""".strip().split("\n\n")
]
FILLER = [
    *("Great energy in every room.", "The hallway track delivered again.", "More coffee please."),
    *("Slides and recordings coming soon.", "Thanks to every speaker today.", "See you at the sprints."),
    *("Python people are the best people.", "Django forever.", "Hydrate!", "Wifi still down."),
    *("What a day.", "So good.", "Wow.", "Yes."),
]
TOKEN = re.compile(r"\[\[(#|@|url:)(.+?)\]\]")


def snowflake(when):
    ms = int(when.timestamp() * 1000) + rng.randrange(1000)
    return str(((ms - TWEPOCH_MS) << 22) | (rng.randrange(32) << 17) | rng.randrange(4096))


def user_id():
    digits = rng.choice([8, 9, 10, 18, 19])
    if digits == 19:
        return str(rng.randrange(10**18, 2 * 10**18))
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def alnum(n):
    return "".join(rng.choice(ALNUM) for _ in range(n))


USERS = {}
for i, (name, username, _) in enumerate(AUTHORS):
    img = f"https://pbs.twimg.com/profile_images/{rng.randrange(10**18, 2 * 10**18)}/{alnum(8)}_normal.jpg"
    if i == 21:
        img = "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
    USERS[username] = {"id": user_id(), "name": name, "username": username, "profile_image_url": img}
ACCOUNTS = {u: d["id"] for u, d in USERS.items()}
for handle in ("djangocon", "djangoproject", "ThePSF", "pycon", "EuroPython", "pyladies"):
    ACCOUNTS[handle] = user_id()


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def display_url(url):
    short = re.sub(r"^https?://(www\.)?", "", url)
    return short if len(short) <= 26 else short[:26] + "…"


def url_entity(start, short, target):
    expanded = URLS.get(target, target)
    ent = {"start": start, "end": start + len(short), "url": short}
    ent.update(expanded_url=expanded, display_url=display_url(expanded))
    if target in META:
        ent.update(META[target], unwound_url=expanded)
    return ent


def build(template, escape=True):
    """Turn a template's [[#tag]], [[@user]], [[url:key]] markers into (text, entities)."""
    text, pos = "", 0
    ents = {"hashtags": [], "mentions": [], "urls": []}
    for m in TOKEN.finditer(template):
        lit = template[pos : m.start()]
        text += esc(lit) if escape else lit
        kind, val = m.groups()
        start = len(text)
        if kind == "#":
            text += "#" + val
            ents["hashtags"].append({"start": start, "end": len(text), "tag": val})
        elif kind == "@":
            text += "@" + val
            ents["mentions"].append({"start": start, "end": len(text), "username": val, "id": ACCOUNTS[val]})
        else:
            short = "https://t.co/" + alnum(10)
            text += short
            ents["urls"].append(url_entity(start, short, val))
        pos = m.end()
    lit = template[pos:]
    text += esc(lit) if escape else lit
    return text, {k: v for k, v in ents.items() if v}


def fill(template, author):
    spk, spk2 = rng.sample([a[1] for a in POOL if a[1] != author], 2)
    t = f"{rng.randint(10, 17)}:{rng.choice(['00', '15', '30', '45'])}"
    picks = {"talk": rng.choice(TALKS), "room": rng.choice(ROOMS), "food": rng.choice(FOODS)}
    return template.format(
        spk=spk, spk2=spk2, e=rng.choice(EMOJI), n=rng.randint(2, 40), t=t, **picks
    ).strip()


def pick_author(lang):
    native = [a[1] for a in POOL if a[2] == lang]
    if native and (lang != "en" or rng.random() < 0.5) and rng.random() < 0.85:
        return rng.choice(native)
    return rng.choice(POOL)[1]


def pad_to_280(template):
    """Insert filler before the trailing entity run so the built text is exactly 280 code points."""
    room = 280 - len(build(template)[0]) - 1
    words = []
    for sentence in rng.sample(FILLER, len(FILLER)):
        if len(sentence) + bool(words) <= room:
            room -= len(sentence) + bool(words)
            words.append(sentence)
    if words and room > 1:  # top up the last few code points with snakes
        words[-1], room = words[-1] + " ", room - 1
    filler = " ".join(words) + "🐍" * room
    m = re.search(r"(\s*(\[\[[^\]]+\]\]\s*)+)$", template)
    cut = m.start() if m else len(template)
    return template[:cut] + " " + filler + template[cut:]


def long_post(target):
    """1,000-4,000 chars, as X allows premium users: recap paragraphs, then tweet-sized notes."""
    author = pick_author("en")
    parts = [PARAGRAPHS[0], *rng.sample(PARAGRAPHS[1:], len(PARAGRAPHS) - 1), *rng.sample(EN, len(EN))]
    chosen, size = [], 0
    while size < target:
        chosen.append(parts[len(chosen)])
        size += len(chosen[-1]) + 2
    return "\n\n".join(fill(part, author) for part in chosen) + "\n\n[[#DjangoCon]] [[#python]]", author


def make_specs():
    """(lang, template, escape like X?, author username, kind) for every tweet, shuffled."""
    specs = [
        ("en", tpl, how == "X", pick_author("en") if who == "-" else who, "hostile")
        for how, who, tpl in HOSTILE
    ]
    specs += [(lang, tpl, True, pick_author(lang), "edge") for lang, tpl in EDGE]
    for target in (1100, 1900, 2800, 3600):
        tpl, author = long_post(target)
        specs.append(("en", tpl, True, author, "long"))
    for tpl in rng.sample(EN, 6):
        author = pick_author("en")
        specs.append(("en", pad_to_280(fill(tpl, author)), True, author, "280"))
    for i in range(TOTAL - len(specs)):
        if i < len(POOL):  # every author tweets at least once, in their own language
            author, lang = POOL[i][1], POOL[i][2]
            tpl = rng.choice(EN if lang == "en" else [t for lg, t in INTL if lg == lang])
        else:
            lang, tpl = ("en", rng.choice(EN)) if rng.random() < 0.68 else rng.choice(INTL)
            author = pick_author(lang)
        specs.append((lang, fill(tpl, author), True, author, "regular"))
    rng.shuffle(specs)
    return specs


def media_for(keys, count):
    """includes.media for `keys`, images taken in turn (`count`: the media made so far), no randomness
    (the rest of the file stays as it was). Videos preview the lightning talk, GIFs the snake."""
    by_file = {image["file"]: image for image in IMAGES}
    photos = [
        image for name, image in by_file.items() if name not in ("lightning-talk.png", "snake-laptop.png")
    ]
    media = []
    for index, key in enumerate(keys, start=count):
        prefix, media_id = key.split("_", 1)
        kind = {"3": "photo", "7": "video", "16": "animated_gif"}[prefix]
        item = {"media_key": key, "type": kind}
        if kind == "photo":
            image = photos[index % len(photos)]
            item["url"] = f"https://pbs.twimg.com/media/{image['file']}"
        elif kind == "video":
            image = by_file["lightning-talk.png"]
            item["preview_image_url"] = (
                f"https://pbs.twimg.com/ext_tw_video_thumb/{media_id}/pu/img/{image['file']}"
            )
            item["duration_ms"] = 5000 + index * 1000
        else:
            image = by_file["snake-laptop.png"]
            item["preview_image_url"] = f"https://pbs.twimg.com/tweet_video_thumb/{image['file']}"
        item.update(width=image["width"], height=image["height"], alt_text=image["alt"])
        media.append(item)
    return media


def main():
    specs = make_specs()
    rules = {
        t: str(rng.randrange(10**18, 2 * 10**18)) for t in ("python", "django", "pycon", "asyncio", "conf")
    }
    words = {"python": "python", "django": "django", "pycon": "pycon", "asyncio": "asyncio|async web"}
    rule_re = {t: re.compile(rf"(?<!\w)({w})(?!\w)", re.IGNORECASE) for t, w in words.items()}
    when, lines, seen_ids, stats = START, [], set(), Counter()
    for lang, tpl, escape, author, kind in specs:
        when += timedelta(seconds=rng.randint(8, 75))
        tid = snowflake(when)
        text, ents = build(tpl, escape)
        data = {"id": tid, "text": text, "author_id": USERS[author]["id"]}
        data.update(
            created_at=when.strftime("%Y-%m-%dT%H:%M:%S.000Z"), lang=lang, edit_history_tweet_ids=[tid]
        )
        if kind == "regular" and rng.random() < 0.13:  # photos/videos/GIFs: keys + trailing pic.x.com link
            earlier = when - timedelta(seconds=30)
            count = rng.choice([1, 1, 1, 2, 3, 4])
            keys = [f"{rng.choice(['3', '3', '3', '7', '16'])}_{snowflake(earlier)}" for _ in range(count)]
            data["attachments"] = {"media_keys": keys}
            path = "photo/1" if keys[0].startswith("3_") else "video/1"
            short, start = "https://t.co/" + alnum(10), len(text) + 1
            data["text"] = text = text + " " + short
            link = {"start": start, "end": start + len(short), "url": short, "media_key": keys[0]}
            link.update(expanded_url=f"https://x.com/{author}/status/{tid}/{path}")
            link.update(display_url=f"pic.x.com/{alnum(10)}")
            ents.setdefault("urls", []).append(link)
            stats["with media"] += 1
        elif kind == "regular" and stats["edited"] < 3 and rng.random() < 0.05:
            data["edit_history_tweet_ids"] = [snowflake(when - timedelta(minutes=rng.randint(2, 9))), tid]
            stats["edited"] += 1
        if ents:
            data["entities"] = ents
        matched = [t for t, rx in rule_re.items() if rx.search(text)] or ["conf"]
        msg = {"data": data, "includes": {"users": [USERS[author]]}}
        if "attachments" in data:
            msg["includes"]["media"] = media_for(data["attachments"]["media_keys"], stats["media items"])
            stats["media items"] += len(msg["includes"]["media"])
        msg["matching_rules"] = [{"id": rules[t], "tag": t} for t in matched]

        # Verify everything before writing.
        assert 1 <= len(text) <= 4000 and (kind != "280" or len(text) == 280), (len(text), text[:60])
        assert kind != "long" or len(text) >= 1000, len(text)
        for h in ents.get("hashtags", []):
            assert text[h["start"] : h["end"]] == "#" + h["tag"], (text, h)
        for m in ents.get("mentions", []):
            assert text[m["start"] : m["end"]] == "@" + m["username"], (text, m)
        for u in ents.get("urls", []):
            assert text[u["start"] : u["end"]] == u["url"] and re.fullmatch(r"https://t\.co/\w{10}", u["url"])
            assert u["expanded_url"] not in text
        for i in data["edit_history_tweet_ids"]:
            assert len(i) == 19 and int(i) > 2**53 and i not in seen_ids, i
            seen_ids.add(i)
        assert not escape or ("<" not in text and ">" not in text), text
        stats.update([kind, f"lang={lang}"] + ["several urls"] * (len(ents.get("urls", [])) > 1))
        lines.append(json.dumps(msg, ensure_ascii=False, separators=(",", ":")))

    for u in USERS.values():
        assert (
            8 <= len(u["id"]) <= 19 and re.fullmatch(r"\w{1,15}", u["username"]) and u["id"] not in seen_ids
        )
    texts = [json.loads(line)["data"]["text"] for line in lines]
    plain = sum(bool(re.search(r"(?<![#\w])(python|django)(?!\w)", t, re.IGNORECASE)) for t in texts)
    assert plain > 120, plain
    assert len({json.loads(line)["data"]["author_id"] for line in lines}) == len(AUTHORS)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    print(f"wrote {len(lines)} tweets to {OUT.name}; plain-word python/django: {plain}")
    print(dict(sorted(stats.items())))


if __name__ == "__main__":
    main()
