// The moderation page (/topics/<slug>/moderate/), for staff only: a module of its own so the public
// pages keep their one module. It listens on the topic's moderation socket
// (/ws/topics/<slug>/moderate/, feed/moderation_socket.py), which the session authenticates:
//   {"type":"snapshot","mod","posts","counts"}  on connect: replaces everything the page holds;
//   {"type":"posts","mod","posts"}             posts as they are now (new ones, or a decision's);
//   {"type":"counts","counts"}                 blocked and pending posts by reason, hour and day.
// Each post is in the moderation shape (the tweet plus post_id, state, reason; "pinned" once pins
// come) and is keyed by post_id, which stays the same when an approval gives it a new seq. A post
// keeps the newest decision mark it was placed at: a frame with an older mark changes nothing, so a
// late announcement never undoes a newer decision. Decisions go to the staff API with the page's
// CSRF token; its answer moves the post at once, unless a newer frame moved it meanwhile. After a
// reconnect the snapshot is the truth: the database's, not what the page remembers.
// Nothing inline: CSP-safe.
import { refreshTimes, renderTweet } from "./render.js";
import { validTweets } from "./feed.js";

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10000; // a moderator's page: come back quickly, with jitter against a stampede
const REFUSED_RETRY_MS = 60000; // not found, or not allowed: a person has to act first
const MAX_POSTS = { pending: 1000, visible: 300, hidden: 300, blocked: 300, pinned: 300 }; // per tab
const CLOCK_TICK_MS = 15000;
const NOTICE_MS = 6000;

// [action, label, key, the states whose button is enabled]. The keys work in any state: the API
// answers with the post's state, and a decision that changes nothing says so.
const ACTIONS = [
  ["approve", "Approve", "a", ["pending", "blocked"]],
  ["hide", "Hide", "h", ["visible", "pending"]],
  ["unhide", "Unhide", "u", ["hidden", "blocked"]],
  ["pin", "Pin", "p", ["visible"]],
  ["block_author", "Block author", "b", null],
  ["trust_author", "Trust author", "t", null],
];
const KEY_ACTIONS = Object.fromEntries(ACTIONS.map(([action, , key]) => [key, action]));
const DONE = { approve: "approved", hide: "hidden", unhide: "shown", pin: "pinned", unpin: "unpinned" };
const ASCENDING = new Set(["pending"]); // the queue is worked from the oldest; other tabs newest first
const STATUS_TEXT = {
  connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
  "not-found": "Topic not found", forbidden: "Not allowed: log in again",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const validPosts = (list) => validTweets(list).filter((p) => Number.isSafeInteger(p.post_id) && typeof p.state === "string");

// What a decision's answer means for one post, in words, when it changed nothing or more than it.
function outcome(action, result, handle) {
  const post = `Post ${result.post_id}`;
  if (action === "block_author") {
    return result.applied ? `${handle} is blocked: their posts leave every page.` : `${post} was hidden already; ${handle} is blocked.`;
  }
  if (action === "trust_author") {
    return result.applied ? `${handle} is trusted: their posts skip the approval queue.` : `${handle} was trusted already.`;
  }
  if (result.applied) return "";
  const done = DONE[action];
  return done && result.state !== "blocked" ? `${post} was ${done} already by another moderator.` : `${post} is ${result.state} now; nothing changed.`;
}

class ModerationPage {
  constructor(root) {
    this.root = root;
    this.lists = {};
    for (const list of root.querySelectorAll("[data-list]")) this.lists[list.dataset.list] = list;
    this.empty = root.querySelector("[data-empty]");
    this.notice = root.querySelector("[data-notice]");
    this.status = root.querySelector("[data-status]");
    this.countsTable = root.querySelector("[data-reason-counts]");
    this.wsUrl = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${root.dataset.wsPath}`;
    this.socket = null;
    this.posts = new Map(); // post_id -> {tweet, mod, nodes: Map(tab -> <li>)}
    this.tab = root.dataset.defaultTab in this.lists ? root.dataset.defaultTab : "visible";
    this.selected = null;
    this.attempt = 0;
    for (const tab of root.querySelectorAll("[data-tab]")) tab.addEventListener("click", () => this.showTab(tab.dataset.tab));
    root.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("keydown", (event) => this.onKey(event));
    setInterval(() => refreshTimes(root), CLOCK_TICK_MS);
    this.showTab(this.tab);
  }

  // --- Posts and tabs ---
  render(tweet) {
    const item = renderTweet(tweet, false);
    item.classList.add("mod-post");
    const author = tweet.author?.username ? `@${tweet.author.username}` : "The author";
    Object.assign(item.dataset, { postId: String(tweet.post_id), state: tweet.state, author });
    const facts = el("p", "mod-post__facts");
    facts.append(el("span", `mod-post__state mod-post__state--${tweet.state}`, tweet.pinned ? `${tweet.state}, pinned` : tweet.state));
    if (tweet.reason) facts.append(el("span", "mod-post__reason", tweet.reason));
    facts.append(el("span", "", `post ${tweet.post_id}`), el("span", "", `author id ${tweet.author?.id ?? "?"}`));
    const rule = el("span", "", "matched ");
    rule.append(el("code", "", this.root.dataset.rule));
    facts.append(rule);
    const actions = el("div", "mod-post__actions");
    for (const [action, label, key, states] of ACTIONS) {
      const unpin = action === "pin" && tweet.pinned;
      const button = el("button", "mod-button", unpin ? "Unpin" : label);
      Object.assign(button, { type: "button", title: `${unpin ? "Unpin" : label} (${key})` });
      button.dataset.action = unpin ? "unpin" : action;
      button.disabled = states !== null && !states.includes(tweet.state) && !unpin;
      actions.append(button);
    }
    item.querySelector(".tweet__body").append(facts, actions);
    return item;
  }

  tabsOf(tweet) {
    const tabs = tweet.state in this.lists ? [tweet.state] : [];
    if (tweet.pinned === true) tabs.push("pinned");
    return tabs;
  }

  // The post as the server says it is now at mark `mod`; unless `force` (a snapshot), only a post
  // this page does not have, or a newer mark than the post's, changes anything.
  place(tweet, mod, force = false) {
    let record = this.posts.get(tweet.post_id);
    if (record && !force && mod <= record.mod) return;
    if (!record) this.posts.set(tweet.post_id, (record = { nodes: new Map() }));
    Object.assign(record, { tweet, mod });
    this.sync(record);
  }

  // Each tab the post belongs to gets a fresh <li> (the state, reason and buttons may have changed).
  sync(record) {
    const wanted = this.tabsOf(record.tweet);
    for (const [tab, item] of record.nodes) {
      if (!wanted.includes(tab)) this.drop(record, tab, item);
    }
    for (const tab of wanted) {
      const old = record.nodes.get(tab);
      const fresh = this.render(record.tweet);
      record.nodes.set(tab, fresh);
      if (old) {
        const selected = old === this.selected;
        old.remove();
        this.insert(tab, fresh);
        if (selected) this.select(fresh);
      } else {
        this.insert(tab, fresh);
      }
    }
    if (record.nodes.size === 0) this.posts.delete(record.tweet.post_id);
    this.counts();
  }

  insert(tab, item) {
    const list = this.lists[tab];
    const seq = Number(item.dataset.seq);
    const before = ASCENDING.has(tab) ? (other) => Number(other.dataset.seq) > seq : (other) => Number(other.dataset.seq) < seq;
    let next = list.firstElementChild;
    while (next && !before(next)) next = next.nextElementSibling;
    list.insertBefore(item, next);
    while (list.children.length > MAX_POSTS[tab]) {
      const last = list.lastElementChild;
      const record = this.posts.get(Number(last.dataset.postId));
      if (record) this.drop(record, tab, last);
      else last.remove();
      if (record?.nodes.size === 0) this.posts.delete(record.tweet.post_id);
    }
  }

  drop(record, tab, item) {
    if (item === this.selected) this.select(item.nextElementSibling || item.previousElementSibling);
    item.remove();
    record.nodes.delete(tab);
  }

  snapshot(posts, mod) {
    const selected = this.selected ? Number(this.selected.dataset.postId) : null;
    this.select(null);
    for (const list of Object.values(this.lists)) list.replaceChildren();
    this.posts.clear();
    for (const post of posts) this.place(post, mod, true);
    this.counts();
    const again = this.posts.get(selected)?.nodes.get(this.tab);
    this.select(again || this.lists[this.tab].firstElementChild);
  }

  counts() {
    for (const [tab, list] of Object.entries(this.lists)) {
      const count = this.root.querySelector(`[data-count="${tab}"]`);
      if (count) count.textContent = String(list.children.length);
    }
    const empty = this.lists[this.tab].children.length === 0;
    this.empty.hidden = !empty;
    if (empty) this.empty.textContent = this.root.querySelector(`[data-tab="${this.tab}"]`)?.dataset.emptyText ?? "";
  }

  reasonCounts(counts) {
    if (!this.countsTable || !Array.isArray(counts)) return;
    const rows = counts.map((c) => {
      const row = el("tr");
      row.append(el("td", "", c.reason || c.state), el("td", "", String(c.hour)), el("td", "", String(c.day)));
      return row;
    });
    if (rows.length === 0) {
      const row = el("tr");
      const cell = el("td", "reason-counts__none", "Nothing blocked or pending in the last day.");
      cell.colSpan = 3;
      row.append(cell);
      rows.push(row);
    }
    this.countsTable.replaceChildren(...rows);
  }

  showTab(tab) {
    if (!this.lists[tab]) return;
    this.tab = tab;
    for (const [name, list] of Object.entries(this.lists)) list.hidden = name !== tab;
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
      if (!this.selected) return;
      const record = this.posts.get(Number(this.selected.dataset.postId));
      const action = KEY_ACTIONS[event.key] === "pin" && record?.tweet.pinned ? "unpin" : KEY_ACTIONS[event.key];
      this.decide(action, this.selected);
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

  // --- Decisions: the staff API; its answer moves the post unless a newer frame already did ---
  async decide(action, item) {
    const postId = Number(item.dataset.postId);
    const asked = this.posts.get(postId);
    const askedMod = asked?.mod;
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
      const record = this.posts.get(result.post_id);
      if (record && record === asked && record.mod === askedMod && record.tweet.state !== result.state) {
        record.tweet = { ...record.tweet, state: result.state };
        this.sync(record);
      }
      said.push(outcome(action, result, item.dataset.author ?? "The author"));
    }
    if (body.warning) said.push(body.warning);
    if (said.some(Boolean)) this.say(said.filter(Boolean).join(" "), body.warning ? "error" : "info");
  }

  // --- The moderation socket ---
  connect() {
    if (!["not-found", "forbidden"].includes(this.state)) this.setState("connecting");
    const socket = new WebSocket(this.wsUrl);
    this.socket = socket;
    socket.addEventListener("message", (event) => this.onMessage(socket, event.data));
    socket.addEventListener("close", (event) => this.onClose(socket, event.code));
  }

  onMessage(socket, data) {
    if (socket !== this.socket) return;
    let message;
    try { message = JSON.parse(data); } catch { return; }
    const mod = Number.isSafeInteger(message.mod) ? message.mod : 0;
    if (message.type === "snapshot") {
      this.snapshot(validPosts(message.posts), mod);
      this.reasonCounts(message.counts);
      this.attempt = 0;
      this.setState("live");
    } else if (message.type === "posts") {
      for (const post of validPosts(message.posts)) this.place(post, mod);
    } else if (message.type === "counts") {
      this.reasonCounts(message.counts);
    }
  }

  onClose(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    const refused = { 4404: "not-found", 4403: "forbidden" }[code];
    this.setState(refused || "reconnecting");
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.attempt++);
    setTimeout(() => this.connect(), refused ? REFUSED_RETRY_MS : RETRY_MIN_MS + Math.random() * ceiling);
  }

  setState(state) {
    this.state = state;
    this.status.dataset.state = state;
    this.status.querySelector("[data-status-text]").textContent = STATUS_TEXT[state];
  }
}

const root = document.querySelector("[data-moderate]");
if (root) new ModerationPage(root).connect();
