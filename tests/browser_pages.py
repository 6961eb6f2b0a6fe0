"""Chromium pages for the browser tests: Debian's Chromium, stand-ins for the networks' image hosts,
and every page served under a strict Content-Security-Policy (with the server's own img-src, so the
hosts it names are the ones images may come from) whose violations the tests can assert on."""

import re

from playwright.sync_api import Browser, Page, Route

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; {img_src}; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
AVATAR_COLOURS = ["#2f6fdf", "#d9485f", "#0e9f6e", "#9b5de5", "#f08c00", "#0b7285"]


def _avatar(route: Route) -> None:
    """Stand-in for the networks' image hosts (none is reachable from here): a generated portrait,
    or 404 for URLs containing "broken"."""
    url = route.request.url
    if "broken" in url:
        route.fulfill(status=404, body="")
        return
    colour = AVATAR_COLOURS[sum(map(ord, url)) % len(AVATAR_COLOURS)]
    if "/media" in url or "feed_fullsize" in url:  # a post's photo: a landscape, not a face
        route.fulfill(status=200, content_type="image/svg+xml", body=_landscape(colour))
        return
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96">'
        f'<defs><linearGradient id="g" x2="1" y2="1"><stop stop-color="{colour}"/>'
        '<stop offset="1" stop-color="#1b1f3b"/></linearGradient></defs>'
        '<rect width="96" height="96" fill="url(#g)"/>'
        '<circle cx="48" cy="38" r="17" fill="#fff" opacity=".9"/>'
        '<ellipse cx="48" cy="92" rx="32" ry="26" fill="#fff" opacity=".9"/></svg>'
    )
    route.fulfill(status=200, content_type="image/svg+xml", body=svg)


def _landscape(colour: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 90">'
        f'<defs><linearGradient id="s" y2="1"><stop stop-color="{colour}"/>'
        '<stop offset="1" stop-color="#ffe8b0"/></linearGradient></defs>'
        '<rect width="160" height="90" fill="url(#s)"/><circle cx="122" cy="26" r="11" fill="#fff5d6"/>'
        '<path d="M0 70 Q40 40 80 62 T160 55 V90 H0Z" fill="#1b1f3b" opacity=".75"/>'
        '<path d="M0 80 Q50 58 100 76 T160 72 V90 H0Z" fill="#0b0e1c"/></svg>'
    )


def _with_csp(route: Route) -> None:
    """Serve pages under a strict Content-Security-Policy: no inline script or style may be needed."""
    if route.request.resource_type != "document":
        route.fallback()
        return
    response = route.fetch()
    served = response.headers.get("content-security-policy", "")
    directives = [d.strip() for d in served.split(";")]
    img_src = next((d for d in directives if d.startswith("img-src")), "img-src 'self'")
    policy = CSP.format(img_src=img_src)
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": policy})


def new_page(browser: Browser) -> Page:
    # A fulfilled document counts as public to Chromium's Local Network Access checks, which would
    # then block the page's WebSocket to 127.0.0.1: grant the permission a user would.
    context = browser.new_context(
        viewport=VIEWPORT, reduced_motion="reduce", permissions=["local-network-access"]
    )
    context.route(re.compile(r"^https://"), _avatar)
    context.route(re.compile(r"^http://127\.0\.0\.1:\d+/"), _with_csp)
    page = context.new_page()
    page.set_default_timeout(10_000)
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.csp_violations = violations  # type: ignore[attr-defined]
    return page


def feed_rows(page: Page) -> list[tuple[int, str]]:
    """(seq, text) of every tweet in the feed, top to bottom."""
    rows = page.eval_on_selector_all(
        "#feed > .tweet",
        "items => items.map(i => [Number(i.dataset.seq), i.querySelector('.tweet__text').textContent])",
    )
    return [(seq, text) for seq, text in rows]
