// tweetsite front end: one ES module for every page (no build step, nothing inline: CSP-safe).
//   [data-topics-api]   home: topic cards whose counts are refreshed from /api/topics/
//   [data-live-feed]    topic page and wall: the live feed over the WebSocket, caught up via the API
//   [data-theme-toggle] wall: dark/light theme from ?theme=, else localStorage, else dark
// How a post looks is render.js (the moderation page's module uses it too); the wall's settings and
// spotlight are wall.js. On a page with none of the elements above, the boot does nothing.

import { el, refreshTimes, renderTweet, str } from "./render.js";
import { Wall } from "./wall.js";

const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 30000;
const NOT_FOUND_RETRY_MS = 60000; // 4404: the topic may come back, but never hammer the server
const HISTORY_TIMEOUT_MS = 10000; // a socket that sends no history within this is dropped
const SILENCE_MS = 60000; // the server pings every 25 s; this long without a frame: a dead connection
const API_PAGE = 200;
const CLOCK_TICK_MS = 15000;
const TOPICS_POLL_MS = 5000;
const AT_TOP_PX = 80;
const THEME_KEY = "tweetsite.wall.theme";
const FETCH_OPTIONS = { headers: { Accept: "application/json" }, cache: "no-store" };

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const numberFormat = new Intl.NumberFormat();

// --- Frames' tweets ---------------------------------------------------------------------------
function validTweets(list) {
  if (!Array.isArray(list)) return [];
  const valid = (t) => t && Number.isSafeInteger(t.seq) && t.seq > 0 && typeof t.id === "string";
  return list.filter(valid).sort((a, b) => a.seq - b.seq);
}

// Pinned posts keep the order the server gives (newest pin first), not seq order.
function validPinned(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((t) => t && Number.isSafeInteger(t.seq) && t.seq > 0 && typeof t.id === "string");
}

const maxSeq = (tweets) => tweets.reduce((top, t) => Math.max(top, t.seq), 0);

// --- The list: ordered by seq, capped, with a queue while the reader is scrolled down ----------
class FeedView {
  constructor(root) {
    this.list = root.querySelector("[data-feed]");
    this.empty = root.querySelector("[data-empty]");
    this.button = root.querySelector("[data-new-tweets]");
    this.wall = root.dataset.layout === "wall";
    this.maxItems = Number(root.dataset.maxItems) || 200;
    this.items = new Map(); // seq -> <li> in the list
    this.tweets = new Map(); // seq -> the tweet each <li> shows (the wall's spotlight picks from these)
    this.spotlight = false; // the wall shows one post at a time: the list is kept, not laid out
    this.onChange = null; // called when what the list holds changed
    this.pending = new Map(); // seq -> tweet, held while the reader is scrolled down
    this.hiddenIds = new Set();
    this.pinnedList = root.querySelector("[data-pinned]");
    this.pins = new Map(); // X id -> {tweet, item}: pinned above the list, and out of it meanwhile
    this.floorSeq = 0; // tweets at or below this were dropped to honour the cap: never re-added
    this.overflowed = false;
    this.button?.addEventListener("click", () => this.reveal(true));
    window.addEventListener("scroll", () => this.pending.size && this.atTop() && this.reveal(false), { passive: true });
    setInterval(() => refreshTimes(this.list), CLOCK_TICK_MS);
    // The wall shows what fits: fit again when the space changes (the header grows as its QR code
    // and fonts load, a projector's resolution changes), not only when posts arrive.
    if (this.wall) new ResizeObserver(() => this.spotlight || this.fit()).observe(this.list);
  }

  atTop() {
    return this.wall || window.scrollY < AT_TOP_PX;
  }

  add(tweets, animate) {
    const queue = !this.atTop() && this.items.size > 0;
    const newest = Number(this.list.firstElementChild?.dataset.seq || 0);
    for (const tweet of tweets) {
      const { seq } = tweet;
      if (this.items.has(seq) || this.pending.has(seq) || seq <= this.floorSeq || this.hiddenIds.has(tweet.id)) continue;
      if (this.pins.has(tweet.id)) continue;
      if (queue && seq > newest) this.pending.set(seq, tweet);
      else this.insert(tweet, animate);
    }
    this.trim();
  }

  insert(tweet, animate) {
    const item = renderTweet(tweet, this.wall);
    if (animate && !reducedMotion.matches) {
      item.classList.add("is-entering");
      item.addEventListener("animationend", () => item.classList.remove("is-entering"), { once: true });
    }
    let next = this.list.firstElementChild;
    while (next && Number(next.dataset.seq) > tweet.seq) next = next.nextElementSibling;
    this.list.insertBefore(item, next);
    this.items.set(tweet.seq, item);
    this.tweets.set(tweet.seq, tweet);
  }

  // The newest `count` tweets in the list, newest first (without reposts, if the wall hides them).
  newestTweets(count, withoutReposts = false) {
    const tweets = [...this.tweets.values()].filter((t) => !(withoutReposts && t.reposted_by));
    return tweets.sort((a, b) => b.seq - a.seq).slice(0, count);
  }

  drop(item) {
    const seq = Number(item.dataset.seq);
    this.floorSeq = Math.max(this.floorSeq, seq);
    this.items.delete(seq);
    this.tweets.delete(seq);
    item.remove();
  }

  trim() {
    while (this.items.size > this.maxItems) this.drop(this.list.lastElementChild);
    const excess = [...this.pending.keys()].sort((a, b) => a - b).slice(0, Math.max(0, this.pending.size - this.maxItems));
    for (const seq of excess) {
      this.pending.delete(seq); // older than the cap can show once revealed
      this.floorSeq = Math.max(this.floorSeq, seq);
      this.overflowed = true;
    }
    if (this.wall && !this.spotlight) requestAnimationFrame(() => this.fit());
    this.render();
  }

  fit() {
    // The wall shows what fits: tweets that start below its bottom edge are dropped.
    const bottom = this.list.getBoundingClientRect().bottom;
    for (let last = this.list.lastElementChild; last && last !== this.list.firstElementChild; ) {
      if (last.getBoundingClientRect().top < bottom) break;
      const previous = last.previousElementSibling;
      this.drop(last);
      last = previous;
    }
  }

  reveal(scroll) {
    const tweets = [...this.pending.values()].sort((a, b) => a.seq - b.seq);
    this.pending.clear();
    this.overflowed = false;
    for (const tweet of tweets) this.insert(tweet, true);
    this.trim();
    if (!scroll) return;
    window.scrollTo({ top: 0, behavior: reducedMotion.matches ? "auto" : "smooth" });
    this.list.focus({ preventScroll: true });
  }

  show(tweets) {
    for (const tweet of tweets) this.hiddenIds.delete(tweet.id);
    this.add(tweets, true);
  }

  // The network edited a post (or its author's profile came late): wherever this page shows it, in
  // the list, waiting above it or pinned, the new version takes the old one's place.
  edit(tweets) {
    for (const tweet of tweets) {
      const item = this.items.get(tweet.seq);
      if (item) {
        const fresh = renderTweet(tweet, this.wall);
        item.replaceWith(fresh);
        this.items.set(tweet.seq, fresh);
        this.tweets.set(tweet.seq, tweet);
      }
      if (this.pending.has(tweet.seq)) this.pending.set(tweet.seq, tweet);
      const pinned = this.pins.get(tweet.id);
      if (pinned) {
        const fresh = this.renderPinned(tweet);
        pinned.item.replaceWith(fresh);
        this.pins.set(tweet.id, { tweet, item: fresh });
      }
    }
    this.onChange?.();
  }

  hide(ids) {
    for (const id of (Array.isArray(ids) ? ids : []).map(String)) {
      this.hiddenIds.add(id);
      this.pins.get(id)?.item.remove();
      this.pins.delete(id);
      this.remove(id);
    }
    this.render();
  }

  remove(id) {
    for (const [seq, tweet] of this.pending) if (tweet.id === id) this.pending.delete(seq);
    for (const [seq, item] of this.items) {
      if (item.dataset.id === id) this.items.delete(seq) && this.tweets.delete(seq) && item.remove();
    }
  }

  // Pins: each new pin goes on top; a pinned post leaves the list and comes back to its place there
  // when unpinned. A history says what is pinned now, whatever this page showed before.
  setPinned(tweets) {
    const now = new Set(tweets.map((t) => t.id));
    this.unpin([...this.pins.keys()].filter((id) => !now.has(id)));
    this.pin([...tweets].reverse());
  }

  pin(tweets) {
    if (!this.pinnedList) return;
    for (const tweet of tweets) {
      this.pins.get(tweet.id)?.item.remove();
      this.hiddenIds.delete(tweet.id);
      const item = this.renderPinned(tweet);
      this.pinnedList.prepend(item);
      this.pins.set(tweet.id, { tweet, item });
      this.remove(tweet.id);
    }
    this.render();
  }

  renderPinned(tweet) {
    const item = renderTweet(tweet, this.wall);
    item.classList.add("tweet--pinned");
    item.querySelector(".tweet__meta").prepend(el("span", "tweet__pin", "Pinned"));
    return item;
  }

  unpin(ids) {
    const back = [];
    for (const id of (Array.isArray(ids) ? ids : []).map(String)) {
      const pinned = this.pins.get(id);
      if (!pinned) continue;
      pinned.item.remove();
      this.pins.delete(id);
      back.push(pinned.tweet);
    }
    if (back.length) this.add(validTweets(back), false);
    this.render();
  }

  render() {
    this.onChange?.();
    const n = this.pending.size;
    if (this.button) {
      this.button.hidden = n === 0;
      this.button.textContent = `↑ ${numberFormat.format(n)}${this.overflowed ? "+" : ""} new tweet${n === 1 ? "" : "s"}`;
    }
    if (this.empty) this.empty.hidden = this.items.size + n + this.pins.size > 0;
  }
}

// --- The connection: a state machine over the WebSocket, with catch-up through the API ---------
//   connecting   socket opening, waiting for the history frame
//   syncing      history merged; paging the API from lastSeq over what was missed while away
//   live         in sync; frames are applied as they come
//   reconnecting waiting out a backoff (full jitter, capped at 30 s), then connecting
//   not-found    closed with 4404; retried slowly in the background
// lastSeq is the resume point: every visible tweet up to it has been received. It advances only
// while in sync, so a connection that drops mid catch-up resumes from the same place. modMark is
// the same for moderation: every decision (hide, show) up to it has been applied. A page that comes
// back reads the decisions it missed from the API, so a tweet hidden while it was away goes.
const STATUS_TEXT = {
  connecting: "Connecting…",
  syncing: "Catching up…",
  live: "Live",
  reconnecting: "Reconnecting",
  "not-found": "Topic not found. It may have been removed.",
};

class LiveFeed {
  constructor(root, view) {
    this.view = view;
    this.status = root.querySelector("[data-status]");
    this.retryButton = this.status.querySelector("[data-retry]");
    this.wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${root.dataset.wsPath}`;
    this.apiUrl = root.dataset.apiUrl;
    this.moderationUrl = root.dataset.moderationUrl;
    this.lastSeq = 0;
    this.modMark = null; // unknown until the first history
    this.attempt = 0;
    this.conn = null;
    this.retryTimer = 0;
    this.retryButton?.addEventListener("click", () => this.connect());
    window.addEventListener("online", () => this.retryTimer && this.connect());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.state === "reconnecting") this.connect();
    });
  }

  setState(state, retryAt = 0) {
    this.state = state;
    this.status.dataset.state = state;
    this.status.querySelector("[data-status-text]").textContent = STATUS_TEXT[state];
    if (this.retryButton) this.retryButton.hidden = state !== "reconnecting";
    const countdown = this.status.querySelector("[data-status-countdown]");
    const tick = () => (countdown.textContent = retryAt ? ` in ${Math.max(1, Math.ceil((retryAt - Date.now()) / 1000))}s` : "");
    clearInterval(this.countdownTimer);
    tick();
    if (retryAt) this.countdownTimer = setInterval(tick, 1000);
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.conn?.socket.close();
    if (this.state !== "not-found") this.setState("connecting");
    const resumeFrom = this.lastSeq;
    const socket = new WebSocket(this.wsUrl);
    const conn = {
      socket, resumeFrom, resumeMod: this.modMark, synced: resumeFrom === 0, maxSeen: 0, maxMod: 0,
      aborter: new AbortController(),
    };
    this.conn = conn;
    conn.historyTimer = setTimeout(() => socket.close(), HISTORY_TIMEOUT_MS);
    socket.addEventListener("message", (event) => this.onMessage(conn, event.data));
    socket.addEventListener("close", (event) => this.onClose(conn, event.code));
    // One-way feed: this client never sends a frame (the server would close with 4400).
  }

  onMessage(conn, data) {
    if (conn !== this.conn) return;
    clearTimeout(conn.silenceTimer);
    conn.silenceTimer = setTimeout(() => conn.socket.close(), SILENCE_MS);
    let message;
    try { message = JSON.parse(data); } catch { return; }
    document.dispatchEvent(new CustomEvent("tweetsite:frame", { detail: message })); // audience.js counts posts
    if (["hide", "show", "edit", "pin", "unpin"].includes(message.type)) return this.onDecision(conn, message);
    if (message.type === "wall") return this.onWall?.(message.wall);
    if (message.type !== "history" && message.type !== "tweets") return; // ping, unknown: ignore
    const tweets = validTweets(message.tweets);
    if (message.type === "tweets") return this.accept(conn, tweets, true);
    clearTimeout(conn.historyTimer);
    for (const tweet of tweets) this.view.hiddenIds.delete(tweet.id); // visible as of the history
    this.view.setPinned(validPinned(message.pinned));
    this.onHistory(conn, tweets, Number.isSafeInteger(message.mod) ? message.mod : 0);
  }

  onDecision(conn, decision) {
    if (decision.type === "hide") this.view.hide(decision.ids);
    else if (decision.type === "show") this.view.show(validTweets(decision.tweets));
    else if (decision.type === "edit") this.view.edit(validTweets(decision.tweets));
    else if (decision.type === "pin") this.view.pin(validPinned(decision.tweets));
    else this.view.unpin(decision.ids);
    if (Number.isSafeInteger(decision.mod)) conn.maxMod = Math.max(conn.maxMod, decision.mod);
    if (conn.synced) this.modMark = Math.max(this.modMark ?? 0, conn.maxMod);
  }

  accept(conn, tweets, animate) {
    this.view.add(tweets, animate);
    conn.maxSeen = Math.max(conn.maxSeen, maxSeq(tweets));
    if (conn.synced) this.advance(conn.maxSeen);
  }

  advance(seq) {
    this.lastSeq = Math.max(this.lastSeq, seq);
    this.view.list.dataset.lastSeq = String(this.lastSeq);
  }

  async onHistory(conn, tweets, mark) {
    this.accept(conn, tweets, !conn.synced);
    // The history is the newest visible tweets, contiguous: if it reaches back to resumeFrom it
    // covers the gap; otherwise page back from its oldest, but only as far as this view shows.
    const oldest = tweets.length ? tweets[0].seq : Infinity;
    const missedTweets = !conn.synced && oldest > conn.resumeFrom;
    const missedDecisions = conn.resumeMod !== null && mark > conn.resumeMod;
    if (missedTweets || missedDecisions) {
      this.setState("syncing");
      try {
        if (missedDecisions) await this.catchUpDecisions(conn);
        if (missedTweets) await this.catchUp(conn, oldest, this.view.maxItems - tweets.length);
      } catch (error) {
        if (conn !== this.conn) return;
        console.warn("feed: catch-up failed; reconnecting", error);
        return conn.socket.close();
      }
    }
    if (conn !== this.conn) return;
    conn.synced = true;
    this.advance(conn.maxSeen);
    this.modMark = Math.max(this.modMark ?? 0, mark, conn.maxMod);
    this.attempt = 0;
    this.setState("live");
  }

  async getJson(url, conn) {
    const response = await fetch(url, { signal: conn.aborter.signal, ...FETCH_OPTIONS });
    if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
    return response.json();
  }

  // Tweets missed while away, newest first, at most `room` of them: a page away for an hour
  // fetches what it will show, not the hour's backlog. Older shown tweets then fall off the end.
  async catchUp(conn, before, room) {
    while (room > 0) {
      const page = await this.getJson(`${this.apiUrl}?before=${before}&limit=${Math.min(API_PAGE, room)}`, conn);
      if (conn !== this.conn) return;
      const tweets = validTweets(page.tweets);
      this.accept(conn, tweets, false);
      if (!page.has_more || tweets.length === 0 || tweets[0].seq <= conn.resumeFrom) return;
      before = tweets[0].seq;
      room -= tweets.length;
    }
  }

  // Decisions made while away, oldest first: each hide removes a tweet, each show brings one back.
  async catchUpDecisions(conn) {
    for (let after = conn.resumeMod; ; ) {
      const page = await this.getJson(`${this.moderationUrl}?after=${after}`, conn);
      if (conn !== this.conn) return;
      const events = Array.isArray(page.events) ? page.events.filter((e) => Number.isSafeInteger(e?.mod)) : [];
      for (const event of events) {
        if (event.action === "hide") this.view.hide([String(event.id)]);
        else if (event.action === "show") this.view.show(validTweets([event.tweet]));
        else if (event.action === "edit") this.view.edit(validTweets([event.tweet]));
        else if (event.action === "pin") this.view.pin(validPinned([event.tweet]));
        else if (event.action === "unpin") this.view.unpin([String(event.id)]);
        after = Math.max(after, event.mod);
      }
      conn.maxMod = Math.max(conn.maxMod, after);
      if (!page.has_more || events.length === 0) return;
    }
  }

  onClose(conn, code) {
    clearTimeout(conn.historyTimer);
    clearTimeout(conn.silenceTimer);
    conn.aborter.abort();
    if (conn !== this.conn) return;
    this.conn = null;
    let delay;
    if (code === 4404) {
      delay = NOT_FOUND_RETRY_MS * (0.5 + Math.random());
      this.setState("not-found");
    } else {
      if (code === 4400) console.error("feed: the server says this page sent a frame");
      // Full jitter, growing, capped, for every close (4408, fell behind, too: a server that closes
      // many slow pages at once must not get them all back at once).
      const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** this.attempt++);
      delay = Math.max(100, Math.random() * ceiling);
      this.setState("reconnecting", Date.now() + delay);
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}

// --- Wall theme ------------------------------------------------------------------------------
function initTheme(button) {
  const themes = ["dark", "light"];
  const storage = (value) => {
    try {
      return value ? localStorage.setItem(THEME_KEY, value) : localStorage.getItem(THEME_KEY);
    } catch {
      return null; // storage unavailable (private mode): the theme still applies for this visit
    }
  };
  const apply = (theme) => {
    document.documentElement.dataset.theme = theme;
    button.setAttribute("aria-pressed", String(theme === "light"));
    button.querySelector("[data-theme-label]").textContent = theme === "light" ? "Dark theme" : "Light theme";
  };
  const param = new URLSearchParams(location.search).get("theme");
  if (themes.includes(param)) storage(param);
  apply(themes.includes(param) ? param : themes.includes(storage()) ? storage() : "dark");
  button.addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "light" ? "dark" : "light";
    storage(next);
    apply(next);
  });
}

// --- Home: topic cards with live counts --------------------------------------------------------
function initHome(root) {
  const list = root.querySelector("[data-topic-list]");
  const setCount = (card, count) => {
    const node = card.querySelector("[data-topic-count]");
    if (node.dataset.count !== undefined && Number(node.dataset.count) !== count) {
      node.classList.remove("is-bumped");
      void node.offsetWidth; // restart the highlight animation
      node.classList.add("is-bumped");
    }
    node.dataset.count = String(count);
    node.textContent = `${numberFormat.format(count)} tweet${count === 1 ? "" : "s"}`;
  };
  for (const card of list.children) setCount(card, Number(card.querySelector("[data-topic-count]").dataset.count));
  const update = (topics) => {
    const cards = new Map([...list.children].map((card) => [card.dataset.slug, card]));
    let index = 0;
    for (const topic of topics) {
      if (typeof topic?.slug !== "string" || !str(topic.url).startsWith("/")) continue;
      let card = cards.get(topic.slug);
      if (!card) {
        card = root.querySelector("[data-topic-template]").content.firstElementChild.cloneNode(true);
        card.dataset.slug = topic.slug;
        card.querySelector("[data-topic-name]").textContent = str(topic.name);
        for (const link of card.querySelectorAll("[data-topic-link]")) link.href = topic.url;
        card.querySelector("[data-topic-wall]").href = `${topic.url}wall/`;
      }
      const at = list.children[index++];
      if (at !== card) list.insertBefore(card, at || null); // the API's order; never move a card needlessly
      cards.delete(topic.slug);
      setCount(card, Number(topic.tweet_count) || 0);
    }
    for (const stale of cards.values()) stale.remove();
    root.querySelector("[data-topics-empty]").hidden = list.children.length > 0;
    root.dispatchEvent(new CustomEvent("tweetsite:topics", { detail: topics })); // audience.js's sparklines
  };
  const poll = async () => {
    try {
      if (document.visibilityState === "visible") {
        const response = await fetch(root.dataset.topicsApi, FETCH_OPTIONS);
        if (response.ok) update((await response.json()).topics || []);
      }
    } catch {
      // offline or restarting: the next poll tries again
    }
    setTimeout(poll, TOPICS_POLL_MS);
  };
  setTimeout(poll, TOPICS_POLL_MS);
}

// --- Cost guard: "paused" notice on the topic page and wall ---------------------------------------
// The worker takes a topic's rule off X when its budget is spent, until the hour or day ends. A pause
// lasts minutes at least, so a poll every 30 s is soon enough, and one just after the stated resume
// time shows the rule back without waiting for the next poll.
const BUDGET_POLL_MS = 30000;
const BUDGET_RESUME_GRACE_MS = 3000; // the worker checks budgets every 2 s
const BUDGET_MIN_POLL_MS = 5000; // past the resume time with the worker not yet back: ask, but gently

function initBudgetNotice(node, onStatus) {
  let timer;
  const show = (status) => {
    node.dataset.ruleState = str(status.rule_state);
    node.dataset.pausedUntil = str(status.paused_until);
    node.textContent = status.paused ? `Paused: ${str(status.reason)}` : "";
    node.hidden = !status.paused;
  };
  const schedule = () => {
    const until = Date.parse(node.dataset.pausedUntil);
    const resume = Number.isNaN(until) ? Infinity : until - Date.now() + BUDGET_RESUME_GRACE_MS;
    clearTimeout(timer);
    timer = setTimeout(poll, Math.max(BUDGET_MIN_POLL_MS, Math.min(BUDGET_POLL_MS, resume)));
  };
  const poll = async () => {
    try {
      const response = await fetch(node.dataset.statusUrl, FETCH_OPTIONS);
      if (response.ok) {
        const status = await response.json();
        show(status);
        onStatus?.(status);
      }
    } catch {
      // offline or restarting: the next poll tries again
    }
    schedule();
  };
  schedule();
}

// --- Boot ------------------------------------------------------------------------------------
const home = document.querySelector("[data-topics-api]");
if (home) initHome(home);
const themeButton = document.querySelector("[data-theme-toggle]");
if (themeButton) initTheme(themeButton);
const feedRoot = document.querySelector("[data-live-feed]");
let wall = null;
if (feedRoot) {
  const view = new FeedView(feedRoot);
  const feed = new LiveFeed(feedRoot, view);
  if (view.wall) {
    wall = new Wall(feedRoot, view, renderTweet);
    feed.onWall = (settings) => wall.apply(settings);
  }
  feed.connect();
}
const budgetNotice = document.querySelector("[data-budget-notice]");
if (budgetNotice) initBudgetNotice(budgetNotice, (status) => wall?.apply(status.wall));

export { validTweets };
