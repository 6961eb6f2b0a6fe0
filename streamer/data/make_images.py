"""Draw the sample images the replays show, offline: `.venv/bin/python streamer/data/make_images.py`.

Writes a few small PNGs (a few KB each: drawn flat, then reduced to a 16-colour palette) to
static/samples/, served by this site, and sample_images.json beside this script: each image's file,
size, alt text and blob CID (what Bluesky calls an uploaded image). The sample generators
(make_sample.py for X, make_network_samples.py for Bluesky and Mastodon) read that manifest, and the
replay sources map each post's image back to its file by it (streamer/sources/replay_media.py).
Run this first, then the generators: a redrawn image has a new CID.

Needs Pillow (installed with matplotlib by requirements-dev.txt); nothing at run time does.
"""

import base64
import hashlib
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "static" / "samples"
MANIFEST = Path(__file__).with_name("sample_images.json")
COLOURS = 16  # a flat drawing needs no more, and keeps each file a few KB

INK, PAPER = "#1d2433", "#f6f1e7"
DJANGO, PY_BLUE, PY_YELLOW, PINK = "#0c4b33", "#3672a4", "#ffd343", "#e86ba8"


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled font: the same on every machine


def keynote_stage(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    draw.rectangle((0, 0, width, height), fill="#141a26")
    draw.rectangle((110, 30, 530, 250), fill=PAPER, outline="#5b6478", width=6)
    draw.text((140, 60), "async def main():", font=font(34), fill=PY_BLUE)
    for row, (indent, length) in enumerate([(1, 230), (2, 170), (2, 200), (1, 120)]):
        y = 118 + row * 28
        draw.rounded_rectangle((140 + indent * 28, y, 140 + indent * 28 + length, y + 12), 6, fill="#9aa5b8")
    for row, y in enumerate((292, 318, 344)):
        for x in range(-10 + row * 17, width + 30, 34):
            draw.ellipse((x, y, x + 26, y + 30), fill="#2b3447" if row % 2 else "#232b3b")


def sticker_table(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    draw.rectangle((0, 0, width, height), fill="#b58a5a")
    for x in range(0, width, 60):
        draw.line((x, 0, x + 40, height), fill="#a67b4d", width=3)
    stickers = [
        (40, 50, 200, 130, DJANGO, "django", PAPER),
        (250, 40, 440, 120, PY_BLUE, "python", PY_YELLOW),
        (60, 190, 220, 350, PY_YELLOW, "import\nthis", INK),
        (260, 170, 430, 260, PINK, "pony", PAPER),
        (250, 300, 450, 420, INK, ">>> _", "#7fd1a0"),
        (40, 380, 210, 450, "#f28c28", "PyCon", INK),
    ]
    for left, top, right, bottom, fill, label, ink in stickers:
        draw.rounded_rectangle((left, top, right, bottom), 22, fill=fill, outline=PAPER, width=5)
        centre = ((left + right) / 2, (top + bottom) / 2)
        draw.multiline_text(centre, label, font=font(30), fill=ink, anchor="mm", align="center")


def coffee_queue(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    draw.rectangle((0, 0, width, height), fill="#e9e2d4")
    draw.polygon([(0, 190), (width, 190), (width, height), (0, height)], fill="#cbbfa8")
    draw.rectangle((100, 130, 260, 190), fill="#6f4e37")  # the counter, at the back
    draw.rounded_rectangle((110, 40, 250, 100), 10, fill=INK)
    draw.text((132, 56), "COFFEE", font=font(24), fill=PAPER)
    draw.rounded_rectangle((168, 140, 192, 166), 4, fill=PAPER)  # a cup on the counter
    draw.arc((186, 146, 200, 160), 270, 90, fill=PAPER, width=3)
    # The queue, from the back (small, at the counter) to the front (large, at the bottom).
    for index in range(8):
        scale = 0.45 + index * 0.09
        x = 180 + (index % 2 * 2 - 1) * (12 + index * 6)
        feet = 205 + index * 33
        body_w, body_h, head = 34 * scale, 70 * scale, 24 * scale
        colour = (PY_BLUE, DJANGO, PINK, "#f28c28", INK)[index % 5]
        draw.rounded_rectangle((x - body_w / 2, feet - body_h, x + body_w / 2, feet), 8 * scale, fill=colour)
        top, skin = feet - body_h - head - 2, "#8a6a55" if index % 3 else "#d6a77a"
        draw.ellipse((x - head / 2, top, x + head / 2, top + head), fill=skin)


def sprint_board(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    draw.rectangle((0, 0, width, height), fill="#fafafa")
    for column, title in enumerate(("To do", "Doing", "Done")):
        left = 20 + column * 205
        draw.rectangle((left, 20, left + 190, height - 20), outline="#c9ced6", width=3)
        draw.text((left + 14, 30), title, font=font(28), fill=INK)
        for note in range(4 - column):
            top = 80 + note * 72
            colour = (PY_YELLOW, "#a8e6a1", "#9fd3f5", "#f7b2d0")[(note + column) % 4]
            draw.rectangle((left + 16, top, left + 174, top + 58), fill=colour)
            draw.line((left + 28, top + 20, left + 150, top + 20), fill="#5b6478", width=4)
            draw.line((left + 28, top + 38, left + 118, top + 38), fill="#5b6478", width=4)


def lightning_talk(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    draw.rectangle((0, 0, width, height), fill=INK)
    draw.polygon([(40, 20), (24, 46), (36, 46), (28, 66), (50, 36), (38, 36)], fill=PY_YELLOW)
    draw.text((62, 24), "Lightning talks", font=font(30), fill=PY_YELLOW)
    draw.rounded_rectangle((110, 80, 370, 220), 18, fill="#c0392b")
    draw.text((150, 102), "4:59", font=font(84), fill=PAPER)


def snake_laptop(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    draw.rectangle((0, 0, width, height), fill="#dff3ff")
    draw.rounded_rectangle((40, 60, 280, 220), 14, fill="#2e3440")
    draw.rectangle((56, 76, 264, 204), fill="#88c0d0")
    draw.polygon([(20, 240), (300, 240), (270, 270), (50, 270)], fill="#4c566a")
    # A snake rising out of the screen: an S of thick segments, then a head with an eye and a tongue.
    body = [(90, 204), (120, 186), (150, 196), (176, 176), (170, 146), (186, 120)]
    draw.line(body, fill=PY_BLUE, width=26, joint="curve")
    draw.line(body, fill=PY_YELLOW, width=6, joint="curve")
    draw.ellipse((164, 84, 222, 128), fill=PY_BLUE)
    draw.ellipse((196, 94, 208, 106), fill=PAPER)
    draw.ellipse((200, 98, 206, 104), fill=INK)
    draw.line([(220, 110), (240, 112)], fill="#c0392b", width=4)
    draw.line([(240, 112), (250, 104)], fill="#c0392b", width=3)
    draw.line([(240, 112), (250, 120)], fill="#c0392b", width=3)


IMAGES = [
    ("keynote-stage.png", 640, 360, keynote_stage,
     "The main stage from the back of the hall: a big screen shows a slide titled "
     "'async def main():' above rows of heads."),
    ("sticker-table.png", 480, 480, sticker_table,
     "A table covered in laptop stickers: green Django ones, blue and yellow Python ones, 'import this' "
     "and a pink pony."),
    ("coffee-queue.png", 360, 480, coffee_queue,
     "A long queue of attendees winding toward the coffee counter under a COFFEE sign."),
    ("sprint-board.png", 640, 400, sprint_board,
     "A sprint board with sticky notes in three columns: To do, Doing, Done."),
    ("lightning-talk.png", 480, 270, lightning_talk,
     "A lightning talk slide with a big red countdown timer at 4:59."),
    ("snake-laptop.png", 320, 320, snake_laptop,
     "A cartoon snake rising out of a laptop screen, tongue out."),
]  # fmt: skip


def blob_cid(data: bytes) -> str:
    """The CID Bluesky gives an uploaded blob: CIDv1, raw codec, sha2-256, base32 ("bafkrei…")."""
    digest = b"\x01\x55\x12\x20" + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(digest).decode().lower().rstrip("=")


def png(draw_fn, width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height))
    draw_fn(ImageDraw.Draw(image), width, height)
    flat = image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    flat.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, width, height, draw_fn, alt in IMAGES:
        data = png(draw_fn, width, height)
        assert len(data) < 16_000, (name, len(data))  # a few KB: the repository carries them
        (OUT_DIR / name).write_bytes(data)
        manifest.append({"file": name, "width": width, "height": height, "alt": alt, "cid": blob_cid(data)})
        print(f"{name}: {width}x{height}, {len(data):,} bytes")
    MANIFEST.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
