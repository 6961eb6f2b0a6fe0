// The moderation page (/topics/<slug>/moderate/), for staff only: a module of its own so the public
// pages keep their one module. Posts and every moderator's decisions arrive over the topic's public
// socket (the frames the walls get, so a hide shows here when it shows there); decisions go to the
// staff API with the page's CSRF token, and its answer moves the post at once. Posts hidden before
// the page opened come with the page (#hidden-posts). After a reconnect the page reads the decisions
// it missed, as the walls do (feed.js LiveFeed): modMark is the topic's moderation mark up to which
// every hide and show has been applied; a history whose mark is ahead sends the page to
// /api/topics/<slug>/moderation/?after=<modMark>, and each event moves its post, oldest first.
// Nothing inline: CSP-safe.
import { refreshTimes, renderTweet, validTweets } from "./feed.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000; // a moderator's page: come back quickly, with jitter against a stampede
const NOT_FOUND_RETRY_MS = 60000;
const MAX_POSTS = 300; // per tab: the shown posts of a busy hour; older ones drop off the end
const CLOCK_TICK_MS = 15000;
const NOTICE_MS = 6000;

const ACTIONS = [
  ["hide", "Hide", "h"],
  ["unhide", "Unhide", "u"],
  ["block_author", "Block author", "b"],
  ["trust_author", "Trust author", "t"],
];
const KEY_ACTIONS = Object.fromEntries(ACTIONS.map(([action, , key]) => [key, action]));
const COMING = { a: "Approve comes with approve mode.", p: "Pins come later." };
const STATUS_TEXT = { connecting: "Connecting…", syncing: "Catching up…", live: "Live", reconnecting: "Reconnecting…", "not-found": "Topic not found" };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// What a decision's answer means for one post, in words, when it changed nothing or more than it.
function outcome(action, result, handle) {
  const post = `Post ${result.post_id}`;
  if (action === "block_author") {
    return result.applied ? `${handle} is blocked: their posts leave every page.` : `${post} was hidden already; ${handle} is blocked.`;
  }
  if (action === "trust_author") {
    return result.applied ? `${handle} is trusted (approve mode will use this).` : `${handle} was trusted already.`;
  }
  return result.applied ? "" : `${post} was ${result.state} already (another moderator may have been first).`;
}

class ModerationPage {
  constructor(root) {
    this.root = root;
    this.lists = { visible: root.querySelector('[data-list="visible"]'), hidden: root.querySelector('[data-list="hidden"]') };
    this.empty = root.querySelector("[data-empty]");
    this.notice = root.querySelector("[data-notice]");
    this.status = root.querySelector("[data-status]");
    this.wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${root.dataset.wsPath}`;
    this.moderationUrl = root.dataset.moderationUrl;
    this.modMark = null; // unknown until the first history
    this.conn = null;
    this.posts = new Map(); // post_id (the seq) -> <li>, in either list
    this.tab = "visible";
    this.selected = null;
    this.attempt = 0;
    for (const tab of root.querySelectorAll("[data-tab]")) tab.addEventListener("click", () => this.showTab(tab.dataset.tab));
    root.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("keydown", (event) => this.onKey(event));
    setInterval(() => refreshTimes(root), CLOCK_TICK_MS);
  }

  // --- Posts and tabs ---
  render(tweet) {
    const item = renderTweet(tweet, false);
    item.classList.add("mod-post");
    item.dataset.author = tweet.author?.username ? `@${tweet.author.username}` : "the author";
    const facts = el("p", "mod-post__facts");
    facts.append(el("span", "", `post ${tweet.seq}`), el("span", "", `author id ${tweet.author?.id ?? "?"}`));
    const rule = el("span", "", "matched ");
    rule.append(el("code", "", this.root.dataset.rule));
    facts.append(rule);
    const actions = el("div", "mod-post__actions");
    for (const [action, label, key] of ACTIONS) {
      const button = el("button", "mod-button", label);
      Object.assign(button, { type: "button", title: `${label} (${key})` });
      button.dataset.action = action;
      actions.append(button);
    }
    item.querySelector(".tweet__body").append(facts, actions);
    return item;
  }

  // A post in `state`; one already here keeps its state unless `force` (a decision's answer).
  place(tweet, state, force = true) {
    let item = this.posts.get(tweet.seq);
    if (!item) {
      item = this.render(tweet);
      this.posts.set(tweet.seq, item);
    } else if (!force) {
      return;
    }
    this.move(item, state);
  }

  move(item, state) {
    if (item.dataset.state === state && item.isConnected) return;
    if (item === this.selected && state !== this.tab) this.select(item.nextElementSibling || item.previousElementSibling);
    item.dataset.state = state;
    item.querySelector('[data-action="hide"]').disabled = state === "hidden";
    item.querySelector('[data-action="unhide"]').disabled = state === "visible";
    const list = this.lists[state];
    const seq = Number(item.dataset.seq);
    let next = list.firstElementChild;
    while (next && Number(next.dataset.seq) > seq) next = next.nextElementSibling;
    list.insertBefore(item, next);
    while (list.children.length > MAX_POSTS) this.forget(list.lastElementChild);
    this.counts();
  }

  forget(item) {
    if (item === this.selected) this.select(null);
    this.posts.delete(Number(item.dataset.seq));
    item.remove();
  }

  // A decision (or a history) at moderation mark `mod` puts a post in `state`, unless the post
  // already carries a later one: a live frame can overtake the catch-up's older events.
  decided(item, state, mod) {
    if (mod < Number(item.dataset.mod || 0)) return;
    item.dataset.mod = String(mod);
    this.move(item, state);
  }

  hideIds(ids, mod) {
    const wanted = new Set((Array.isArray(ids) ? ids : []).map(String));
    for (const item of this.posts.values()) if (wanted.has(item.dataset.id)) this.decided(item, "hidden", mod);
  }

  show(tweets, mod) {
    for (const tweet of tweets) {
      this.place(tweet, "visible", false);
      const item = this.posts.get(tweet.seq); // gone if older than a full tab's last
      if (item) this.decided(item, "visible", mod);
    }
  }

  counts() {
    for (const [state, list] of Object.entries(this.lists)) {
      this.root.querySelector(`[data-count="${state}"]`).textContent = String(list.children.length);
    }
    this.empty.hidden = this.lists[this.tab].children.length > 0;
  }

  showTab(tab) {
    if (!this.lists[tab]) return;
    this.tab = tab;
    for (const [state, list] of Object.entries(this.lists)) list.hidden = state !== tab;
    for (const button of this.root.querySelectorAll("[data-tab]")) button.setAttribute("aria-selected", String(button.dataset.tab === tab));
    this.select(this.lists[tab].firstElementChild);
    this.counts();
  }

  select(item) {
    this.selected?.classList.remove("is-selected");
    this.selected?.removeAttribute("aria-current");
    this.selected = item || null;
    if (!item) return;
    item.classList.add("is-selected");
    item.setAttribute("aria-current", "true");
    item.scrollIntoView({ block: "nearest" });
  }

  // --- Input ---
  onClick(event) {
    const item = event.target.closest(".mod-post");
    if (!item) return;
    this.select(item);
    const button = event.target.closest("[data-action]");
    if (button) this.decide(button.dataset.action, item);
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target.closest?.("input, textarea, select")) return;
    const list = this.lists[this.tab];
    if (event.key === "j" || event.key === "k") {
      const current = this.selected?.parentElement === list ? this.selected : null;
      const step = event.key === "j" ? current?.nextElementSibling : current?.previousElementSibling;
      this.select(step || current || list.firstElementChild);
    } else if (KEY_ACTIONS[event.key]) {
      if (this.selected) this.decide(KEY_ACTIONS[event.key], this.selected);
    } else if (COMING[event.key]) {
      this.say(COMING[event.key]);
    } else {
      return;
    }
    event.preventDefault();
  }

  say(text, kind = "info") {
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
    this.notice.hidden = !text;
    clearTimeout(this.noticeTimer);
    if (text) this.noticeTimer = setTimeout(() => (this.notice.hidden = true), NOTICE_MS);
  }

  // --- Decisions: the staff API; its answer moves the post before the socket's frame arrives ---
  async decide(action, item) {
    const postId = Number(item.dataset.seq);
    let response, body;
    try {
      response = await fetch(this.root.dataset.decisionsUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": this.root.dataset.csrfToken },
        body: JSON.stringify({ action, post_ids: [postId] }),
      });
      body = await response.json();
    } catch (error) {
      return this.say(`The decision did not reach the server (${error.message}); try again.`, "error");
    }
    if (!response.ok) return this.say(body?.error || `HTTP ${response.status}`, "error");
    const said = [];
    for (const result of Array.isArray(body.results) ? body.results : []) {
      const post = this.posts.get(result.post_id);
      if (post && (result.state === "visible" || result.state === "hidden")) this.move(post, result.state);
      said.push(outcome(action, result, post?.dataset.author ?? "The author"));
    }
    if (body.warning) said.push(body.warning);
    if (said.some(Boolean)) this.say(said.filter(Boolean).join(" "), body.warning ? "error" : "info");
  }

  // --- The topic's public socket: posts, and every moderator's hides and shows ---
  // As feed.js LiveFeed: a connection is synced once its history (and any catch-up) is applied;
  // modMark advances only then, so a connection that drops mid catch-up resumes from the same mark.
  connect() {
    this.setState(this.state === "not-found" ? "not-found" : "connecting");
    const socket = new WebSocket(this.wsUrl);
    const conn = { socket, resumeMod: this.modMark, synced: false, maxMod: 0, aborter: new AbortController() };
    this.conn = conn;
    socket.addEventListener("message", (event) => this.onMessage(conn, event.data));
    socket.addEventListener("close", (event) => this.onClose(conn, event.code));
  }

  onMessage(conn, data) {
    if (conn !== this.conn) return;
    let message;
    try { message = JSON.parse(data); } catch { return; }
    const mod = Number.isSafeInteger(message.mod) ? message.mod : 0;
    if (message.type === "hide" || message.type === "show") {
      if (message.type === "hide") this.hideIds(message.ids, mod);
      else this.show(validTweets(message.tweets), mod);
      conn.maxMod = Math.max(conn.maxMod, mod);
      if (conn.synced) this.modMark = Math.max(this.modMark ?? 0, conn.maxMod);
    } else if (message.type === "tweets") {
      for (const tweet of validTweets(message.tweets)) this.place(tweet, "visible", false);
    } else if (message.type === "history") {
      // The newest visible posts as of the mark. A post shown here but not in it has not been
      // hidden for that: newer posts may have pushed it out. Hides come from the decisions only.
      this.show(validTweets(message.tweets), mod);
      this.onHistory(conn, mod);
    }
  }

  async onHistory(conn, mark) {
    if (conn.resumeMod !== null && mark > conn.resumeMod) {
      this.setState("syncing");
      try {
        await this.catchUpDecisions(conn);
      } catch (error) {
        if (conn !== this.conn) return;
        console.warn("moderate: catching up on decisions failed; reconnecting", error);
        return conn.socket.close();
      }
    }
    if (conn !== this.conn) return;
    conn.synced = true;
    this.modMark = Math.max(this.modMark ?? 0, mark, conn.maxMod);
    this.attempt = 0;
    this.setState("live");
    if (!this.selected) this.select(this.lists[this.tab].firstElementChild);
  }

  // Decisions made while away, oldest first: a hide moves its post to "Hidden", a show to "Shown"
  // (a show carries the post, so one this page never had arrives with it).
  async catchUpDecisions(conn) {
    for (let after = conn.resumeMod; ; ) {
      const response = await fetch(`${this.moderationUrl}?after=${after}`, {
        signal: conn.aborter.signal, credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status} from ${this.moderationUrl}`);
      const page = await response.json();
      if (conn !== this.conn) return;
      const events = Array.isArray(page.events) ? page.events.filter((e) => Number.isSafeInteger(e?.mod)) : [];
      for (const event of events) {
        if (event.action === "hide") {
          const item = this.posts.get(event.seq);
          if (item) this.decided(item, "hidden", event.mod); // one this page never had stays away
        } else if (event.action === "show") {
          this.show(validTweets([event.tweet]), event.mod);
        }
        after = Math.max(after, event.mod);
      }
      conn.maxMod = Math.max(conn.maxMod, after);
      if (!page.has_more || events.length === 0) return;
    }
  }

  onClose(conn, code) {
    conn.aborter.abort();
    if (conn !== this.conn) return;
    this.conn = null;
    const notFound = code === 4404;
    this.setState(notFound ? "not-found" : "reconnecting");
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt++);
    setTimeout(() => this.connect(), notFound ? NOT_FOUND_RETRY_MS : RETRY_MIN_MS + Math.random() * ceiling);
  }

  setState(state) {
    this.state = state;
    this.status.dataset.state = state;
    this.status.querySelector("[data-status-text]").textContent = STATUS_TEXT[state];
  }
}

const root = document.querySelector("[data-moderate]");
if (root) {
  const page = new ModerationPage(root);
  let hidden = [];
  try {
    hidden = JSON.parse(document.getElementById("hidden-posts")?.textContent || "[]");
  } catch {
    // no list: the hidden tab fills as posts are hidden
  }
  for (const tweet of validTweets(hidden)) page.place(tweet, "hidden");
  page.connect();
}
