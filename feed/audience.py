"""What the audience sees besides the posts, rendered on the server as inline SVG: the QR code that
takes a phone to the topic page, and the sparkline of a topic's posts per minute.

No JavaScript library and no external service draws either; the home page's script redraws a
sparkline with the same geometry (static/feed/audience.js, `sparklinePoints`).
"""

from functools import lru_cache

import segno
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

# Error correction M (15% of the code may be lost): a wall's QR code is read from across a hall, off a
# projector's uneven light; H would make the code denser for the same URL, and so harder to read far off.
QR_ERROR = "m"
QR_QUIET_ZONE = 4  # modules of light margin, as the QR standard requires, drawn inside the SVG


@lru_cache(maxsize=256)
def qr_svg(url: str) -> SafeString:
    """The QR code of `url` as inline SVG: dark modules on white, its quiet zone included (so it
    reads on a dark wall), sized by its container (a viewBox, no width or height)."""
    code = segno.make(url, error=QR_ERROR, micro=False)
    svg = code.svg_inline(
        scale=1, border=QR_QUIET_ZONE, dark="#000", light="#fff", omitsize=True, svgclass="qr"
    )
    label = f'<svg role="img" aria-label="QR code: {escape(url)}" shape-rendering="crispEdges" '
    # segno's SVG holds only its path data and the attributes asked for; the URL is escaped.
    return mark_safe(label + svg.removeprefix("<svg "))  # noqa: S308


# A sparkline's drawing box, in SVG units: 60 points across, a pad so the stroke is never clipped.
SPARKLINE_WIDTH = 120
SPARKLINE_HEIGHT = 32
SPARKLINE_PAD = 2


def sparkline_points(counts: list[int]) -> str:
    """The polyline through `counts`, oldest on the left, scaled so the busiest minute touches the
    top; all zero is a flat line along the bottom."""
    peak = max(max(counts, default=0), 1)
    step = (SPARKLINE_WIDTH - 2 * SPARKLINE_PAD) / max(len(counts) - 1, 1)
    span = SPARKLINE_HEIGHT - 2 * SPARKLINE_PAD
    return " ".join(
        f"{SPARKLINE_PAD + i * step:.1f},{SPARKLINE_HEIGHT - SPARKLINE_PAD - count / peak * span:.1f}"
        for i, count in enumerate(counts)
    )


def sparkline_label(counts: list[int]) -> str:
    total, last = sum(counts), counts[-1] if counts else 0
    return f"{total} post{'' if total == 1 else 's'} in the last hour; {last} this minute"


def sparkline_svg(counts: list[int]) -> SafeString:
    """Posts per minute over the last hour as a small SVG: a line and the area under it, in the
    text's colour (`currentColor`), so it suits any theme and needs no style attribute. It may be
    stretched to any box (the home page's cards); the line keeps its width."""
    points = sparkline_points(counts)
    bottom = SPARKLINE_HEIGHT - SPARKLINE_PAD
    area = f"{SPARKLINE_PAD},{bottom} {points} {SPARKLINE_WIDTH - SPARKLINE_PAD},{bottom}"
    return format_html(
        '<svg class="sparkline" data-sparkline viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'preserveAspectRatio="none" role="img" aria-label="{label}">'
        '<polygon data-sparkline-area points="{area}" fill="currentColor" fill-opacity="0.15"/>'
        '<polyline data-sparkline-line points="{points}" fill="none" stroke="currentColor" '
        'stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round" '
        'vector-effect="non-scaling-stroke"/></svg>',
        w=SPARKLINE_WIDTH,
        h=SPARKLINE_HEIGHT,
        label=sparkline_label(counts),
        area=area,
        points=points,
    )
