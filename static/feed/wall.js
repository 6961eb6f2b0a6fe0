// The wall's settings and its spotlight (feed/wall.py). Settings come with the page, then live as
// "wall" frames, and with the topic's status every 30 s for a wall that missed a frame: each carries
// a version, and an older one is ignored. The spotlight shows one post at a time, chosen from the
// server's clock (GET /api/time/), so every screen of the wall shows the same post at once:
//   slot k = floor(serverNow / interval); the newest post, if it took its place during slot k-1,
//   is shown in slot k (new posts jump the queue); otherwise the newest N rotate, k mod N.

const CLOCK_SYNC_MS = 5 * 60 * 1000; // the offset is measured again this often
const FETCH_OPTIONS = { headers: { Accept: "application/json" }, cache: "no-store" };

export class Wall {
  constructor(root, view, renderTweet) {
    this.root = root;
    this.view = view;
    this.renderTweet = renderTweet;
    this.stage = root.querySelector("[data-spotlight]");
    this.logo = root.querySelector("[data-wall-logo]");
    this.timeUrl = root.dataset.timeUrl;
    this.settings = null;
    this.offset = 0; // server clock minus this browser's, ms
    this.timer = 0;
    this.shownSeq = 0;
    this.shown = undefined;
    const initial = document.getElementById("wall-settings");
    if (initial) this.apply(JSON.parse(initial.textContent), true);
    view.onChange = () => this.settings?.spotlight && this.spotlight();
    this.syncClock();
  }

  apply(settings, initial = false) {
    if (!settings || typeof settings !== "object") return;
    if (this.settings && !(settings.version > this.settings.version)) return;
    const previous = this.settings;
    this.settings = settings;
    const style = this.root.style;
    style.setProperty("--wall-columns", String(clamp(settings.columns, 1, 4, 1)));
    style.setProperty("--wall-font-scale", String(clamp(settings.font_scale, 0.6, 2, 1)));
    this.root.classList.toggle("wall--no-media", settings.show_media === false);
    this.root.classList.toggle("wall--no-quotes", settings.show_quotes === false);
    this.root.classList.toggle("wall--no-reposts", settings.show_reposts === false);
    this.root.dataset.columns = String(clamp(settings.columns, 1, 4, 1));
    if (this.logo) {
      const logo = typeof settings.logo_url === "string" ? settings.logo_url : "";
      const url = logo.startsWith("/") && !logo.startsWith("//") ? logo : "";
      this.logo.hidden = !url;
      if (url && this.logo.getAttribute("src") !== url) this.logo.src = url;
    }
    const themeChanged = !previous || previous.theme !== settings.theme || previous.brand_colour !== settings.brand_colour;
    if (themeChanged && (!initial || !localChoice())) applyTheme(settings);
    this.view.spotlight = Boolean(settings.spotlight);
    this.root.classList.toggle("wall--spotlight", this.view.spotlight);
    if (this.stage) this.stage.hidden = !this.view.spotlight;
    this.shown = undefined; // settings change how the post looks: draw it again
    this.spotlight();
  }

  async syncClock() {
    if (!this.timeUrl) return;
    try {
      const sent = Date.now();
      const response = await fetch(this.timeUrl, FETCH_OPTIONS);
      const received = Date.now();
      const body = await response.json();
      if (Number.isFinite(body.now)) this.offset = body.now - (sent + received) / 2;
      this.root.dataset.clockOffset = String(Math.round(this.offset));
      this.spotlight();
    } catch {
      // offline: this browser's clock until the next try
    }
    setTimeout(() => this.syncClock(), CLOCK_SYNC_MS);
  }

  // The post this slot shows, the same on every screen with the same posts, and a timer for the next.
  spotlight() {
    clearTimeout(this.timer);
    if (!this.stage || !this.settings?.spotlight) return;
    const interval = clamp(this.settings.spotlight_interval_s, 3, 120, 8) * 1000;
    const now = Date.now() + this.offset;
    const slot = Math.floor(now / interval);
    const count = clamp(this.settings.spotlight_count, 2, 50, 10);
    const newest = this.view.newestTweets(count, this.settings.show_reposts === false);
    let shown = null;
    if (newest.length) {
      const fresh = Math.floor(Date.parse(newest[0].at) / interval) === slot - 1;
      shown = fresh ? newest[0] : newest[slot % newest.length];
    }
    if (shown !== this.shown) { // another post, or the same one edited since (a new object)
      this.shown = shown;
      this.shownSeq = shown?.seq || 0;
      const item = shown ? this.renderTweet(shown, true) : null;
      if (item) item.classList.add("tweet--spotlight");
      this.stage.replaceChildren(...(item ? [item] : []));
      this.stage.dataset.seq = String(this.shownSeq);
    }
    this.timer = setTimeout(() => this.spotlight(), (slot + 1) * interval - now + 5);
  }
}

function clamp(value, low, high, fallback) {
  const number = Number(value);
  return Number.isFinite(number) ? Math.min(high, Math.max(low, number)) : fallback;
}

function localChoice() {
  if (["dark", "light"].includes(new URLSearchParams(location.search).get("theme"))) return true;
  try {
    return Boolean(localStorage.getItem("tweetsite.wall.theme"));
  } catch {
    return false;
  }
}

// The organiser's theme: dark, light, or their brand colour on the header and accents, with text
// in black or white, whichever reads better on it.
function applyTheme(settings) {
  const html = document.documentElement;
  const brand = settings.theme === "brand" && /^#[0-9a-fA-F]{6}$/.test(settings.brand_colour) ? settings.brand_colour : "";
  html.dataset.theme = settings.theme === "light" ? "light" : "dark";
  if (brand) {
    html.dataset.brand = "on";
    html.style.setProperty("--brand", brand);
    html.style.setProperty("--brand-text", luminance(brand) > 0.45 ? "#111" : "#fff");
  } else {
    delete html.dataset.brand;
  }
}

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
