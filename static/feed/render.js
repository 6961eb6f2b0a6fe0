// How one post looks, on every page: the topic page, the wall and the moderation page.
// Untrusted data reaches the DOM through textContent and attributes only; the one exception is a
// post's `html` field, which the server renders and escapes.

function el(tag, className, text, props = {}) {
  const node = Object.assign(document.createElement(tag), props);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function hue(key) {
  let hash = 0;
  for (const ch of String(key)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}

function initial(name) {
  const clean = String(name).replace(/^[@\s]+/, "");
  if (!clean) return "?";
  const first = "Segmenter" in Intl ? [...new Intl.Segmenter().segment(clean)][0].segment : Array.from(clean)[0];
  return first.toLocaleUpperCase();
}

function relativeTime(ms, now = Date.now()) {
  const s = Math.floor((now - ms) / 1000);
  if (s < 5) return "now";
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  if (s < 7 * 86400) return `${Math.floor(s / 86400)}d`;
  const year = new Date(ms).getFullYear() === new Date(now).getFullYear() ? undefined : "numeric";
  return new Date(ms).toLocaleDateString(undefined, { month: "short", day: "numeric", year });
}

function refreshTimes(root) {
  const now = Date.now();
  for (const time of root.querySelectorAll("time[datetime]")) time.textContent = relativeTime(Date.parse(time.dateTime), now);
}

const str = (value) => (typeof value === "string" ? value : "");

// --- One tweet -------------------------------------------------------------------------------
function avatar(author, large) {
  const name = str(author.name) || str(author.username) || "?";
  const fallback = () => {
    const circle = el("span", "avatar avatar--initial", initial(name));
    circle.setAttribute("aria-hidden", "true");
    circle.style.setProperty("--avatar-hue", hue(author.id || name));
    return circle;
  };
  const url = str(author.avatar_url);
  if (!url.startsWith("https://")) return fallback();
  const size = large ? 72 : 48;
  const img = el("img", "avatar", undefined, { alt: "", loading: "lazy", decoding: "async", width: size, height: size });
  img.referrerPolicy = "no-referrer";
  // X serves larger variants of "_normal" (48 px) avatars; on error try the original, then the initial.
  const sharper = url.replace(/_normal(\.\w+)$/, large ? "_200x200$1" : "_bigger$1");
  img.addEventListener("error", () => (img.src === sharper && sharper !== url ? (img.src = url) : img.replaceWith(fallback())));
  img.src = sharper;
  return img;
}

// An image address a page may load: the networks' https hosts (the CSP names them), or this site.
const imageUrl = (value) => {
  const url = str(value);
  return url.startsWith("https://") || (url.startsWith("/") && !url.startsWith("//")) ? url : "";
};

// A post's images, videos and GIFs (feed/media.py's shape): lazy, sized from their width and height
// before they load (nothing jumps on a projector), with their alt text. A video or GIF shows its
// preview with a play mark and links to the post; an image that fails gives way to its alt text.
function renderMedia(tweet) {
  const items = (Array.isArray(tweet.media) ? tweet.media : []).filter((m) => m && imageUrl(m.url)).slice(0, 4);
  if (!items.length) return null;
  const grid = el("div", "tweet__media");
  grid.dataset.count = String(items.length);
  for (const media of items) {
    const moving = media.type === "video" || media.type === "gif";
    const alt = str(media.alt);
    const img = el("img", "tweet__image", undefined, { alt, loading: "lazy", decoding: "async" });
    if (Number.isSafeInteger(media.width) && Number.isSafeInteger(media.height)) {
      Object.assign(img, { width: media.width, height: media.height });
    }
    img.referrerPolicy = "no-referrer";
    const url = str(tweet.url);
    const frame = moving && url.startsWith("https://")
      ? el("a", "tweet__medium", undefined, { href: url, target: "_blank", rel: "noopener noreferrer" })
      : el("div", "tweet__medium");
    frame.dataset.type = str(media.type);
    img.addEventListener("error", () => {
      const missing = el("span", "tweet__image-missing", alt ? `Image unavailable: ${alt}` : "Image unavailable");
      img.replaceWith(missing);
      frame.classList.add("is-broken");
    }, { once: true });
    img.src = imageUrl(media.url);
    frame.append(img);
    if (moving) frame.append(el("span", "tweet__play", media.type === "gif" ? "GIF" : "▶", { title: "Play on the network" }));
    grid.append(frame);
  }
  return grid;
}

// The post a post quotes (feed/quotes.py's card): its author and text, set as text, and its first
// image, linking to it on its network; one whose content is unknown is just a link.
function renderQuote(tweet) {
  const quote = tweet.quote && typeof tweet.quote === "object" ? tweet.quote : null;
  if (!quote) return null;
  const url = str(quote.url);
  const card = url.startsWith("https://")
    ? el("a", "tweet__quote", undefined, { href: url, target: "_blank", rel: "noopener noreferrer" })
    : el("div", "tweet__quote");
  const author = quote.author && typeof quote.author === "object" ? quote.author : {};
  const text = str(quote.text);
  if (!text && !str(author.username)) {
    card.append(el("span", "tweet__quote-unknown", "Quoted post"));
    return card;
  }
  const who = el("header", "tweet__quote-author");
  who.append(el("bdi", "tweet__name", str(author.name) || str(author.username)));
  if (str(author.username)) who.append(el("span", "tweet__handle", `@${author.username}`, { dir: "ltr" }));
  card.append(who, el("p", "tweet__quote-text", text, { dir: "auto" }));
  const media = renderMedia({ media: Array.isArray(quote.media) ? quote.media.slice(0, 1) : [], url: "" });
  if (media) card.append(media);
  return card;
}

// Above a post: who reposted it (a repost is shown as the original), and whom a reply answers.
function renderContext(tweet) {
  const lines = [];
  const by = tweet.reposted_by && typeof tweet.reposted_by === "object" ? tweet.reposted_by : null;
  if (by) lines.push(contextLine("tweet__reposted", "↻ Reposted by ", str(by.name) || str(by.username), str(by.url)));
  const to = tweet.reply_to && typeof tweet.reply_to === "object" ? tweet.reply_to : null;
  if (to) {
    const whom = str(to.username) ? `@${to.username}` : "a post";
    lines.push(contextLine("tweet__reply-to", "Replying to ", whom, str(to.url)));
  }
  if (!lines.length) return null;
  const context = el("p", "tweet__context");
  context.append(...lines);
  return context;
}

function contextLine(className, label, name, url) {
  const line = el("span", className, label);
  const target = url.startsWith("https://")
    ? el("a", "", name, { href: url, target: "_blank", rel: "noopener noreferrer" })
    : el("bdi", "", name);
  line.append(target);
  return line;
}

// The networks a post can come from (Tweet.Source), as its badge names them.
const NETWORKS = { x: "X", bluesky: "Bluesky", mastodon: "Mastodon" };

function renderTweet(tweet, large) {
  const author = tweet.author && typeof tweet.author === "object" ? tweet.author : {};
  const item = el("li", "tweet");
  Object.assign(item.dataset, { seq: String(tweet.seq), id: tweet.id });
  const meta = el("header", "tweet__meta");
  const network = NETWORKS[str(tweet.source) || "x"];
  if (network) {
    const badge = el("span", "tweet__network", network, { title: `Posted on ${network}` });
    badge.dataset.network = str(tweet.source) || "x";
    meta.append(badge);
  }
  meta.append(el("bdi", "tweet__name", str(author.name) || str(author.username) || "Unknown"));
  if (str(author.username)) meta.append(el("span", "tweet__handle", `@${author.username}`, { dir: "ltr" }));
  const created = Date.parse(tweet.created_at);
  if (!Number.isNaN(created)) {
    const date = new Date(created);
    const time = el("time", "", relativeTime(created), { dateTime: date.toISOString(), title: date.toLocaleString() });
    const url = str(tweet.url);
    const stamp = url.startsWith("https://")
      ? el("a", "tweet__time", undefined, { href: url, target: "_blank", rel: "noopener noreferrer" })
      : el("span", "tweet__time");
    stamp.append(time);
    meta.append(stamp);
  }
  const context = renderContext(tweet);
  if (tweet.reposted_by) item.dataset.repost = "1"; // the wall may leave reposts out (wall.js)
  const text = el("p", "tweet__text", undefined, { dir: "auto" });
  const lang = str(tweet.lang);
  if (/^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(lang) && lang !== "und" && !/^q[a-t]/.test(lang)) text.lang = lang;
  text.innerHTML = str(tweet.html); // the one innerHTML: server-rendered and escaped
  // A custom emoji whose image does not load (its host unreachable, or not in the CSP) reads as its
  // :shortcode:, not as a broken image.
  for (const emoji of text.querySelectorAll("img.emoji")) {
    emoji.addEventListener("error", () => emoji.replaceWith(emoji.alt), { once: true });
  }
  const body = el("div", "tweet__body");
  if (context) body.append(context);
  body.append(meta, text);
  const media = renderMedia(tweet);
  if (media) body.append(media);
  const quote = renderQuote(tweet);
  if (quote) body.append(quote);
  const card = el("article", "tweet__card");
  card.append(avatar(author, large), body);
  item.append(card);
  return item;
}

export { el, refreshTimes, renderTweet, str };
