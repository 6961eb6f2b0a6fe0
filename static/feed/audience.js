// The audience's way in (templates/feed/_audience.html, feed/templatetags/audience.py): the live
// posts-per-minute counter of the topic page and the wall, and the home page's sparklines.
// A classic script, loaded with `defer` after feed.js, which tells it what it receives:
//   "tweetsite:frame"   on document: every frame of the topic's socket, as parsed
//   "tweetsite:topics"  on the home section: the topics of each /api/topics/ poll
// Nothing inline: CSP-safe. Nothing here opens a socket or polls: the counter costs the server one
// small request per reconnect, the sparklines nothing beyond the home page's own poll.
"use strict";

(() => {
  const WINDOW_MS = 60000; // "per minute": the posts of the last 60 s
  const TICK_MS = 1000; // the count falls as posts age out, a second at a time
  // A history this long after the last seed is a reconnect: posts that came meanwhile arrived while
  // the page was away, at times only the server knows, so it asks the server for a fresh seed.
  const RESEED_AFTER_MS = 5000;
  const numberFormat = new Intl.NumberFormat();

  // --- Posts per minute -------------------------------------------------------------------------
  // The server's seed (data-rate-seq, data-rate-seconds: the topic's visible posts of the last minute
  // by second, up to seq `seq`) plus every post above that seq that this page receives, counted at
  // the moment it arrives. A post is counted once: by seq, which the seed covers up to `seq` and this
  // page's record above it. An approved post arrives in a "show" frame with a new seq at the top.
  class RateCounter {
    constructor(node) {
      this.node = node;
      this.value = node.querySelector("[data-rate-value]");
      this.unit = node.querySelector("[data-rate-unit]");
      this.url = node.dataset.rateUrl;
      this.arrived = new Map(); // seq -> performance.now() at arrival, for posts above the seed's seq
      this.floor = 0; // seqs at or below this aged out of the record: never counted again
      this.reseeding = false;
      const seconds = String(node.dataset.rateSeconds || "").split(",").map(Number);
      this.seed(Number(node.dataset.rateSeq) || 0, seconds);
      document.addEventListener("tweetsite:frame", (event) => this.onFrame(event.detail));
      setInterval(() => this.render(), TICK_MS);
    }

    seed(seq, seconds) {
      this.seedSeq = seq;
      this.seedAt = performance.now();
      this.seconds = seconds.map((n) => (Number.isSafeInteger(n) && n > 0 ? n : 0));
      for (const known of [...this.arrived.keys()]) if (known <= seq) this.arrived.delete(known);
      this.render();
    }

    onFrame(message) {
      if (!message || !["history", "tweets", "show"].includes(message.type)) return;
      const now = performance.now();
      for (const tweet of Array.isArray(message.tweets) ? message.tweets : []) {
        const seq = tweet?.seq;
        if (!Number.isSafeInteger(seq) || seq <= this.seedSeq || seq <= this.floor || this.arrived.has(seq)) continue;
        this.arrived.set(seq, now);
      }
      if (message.type === "history" && now - this.seedAt > RESEED_AFTER_MS) this.reseed();
      this.render();
    }

    async reseed() {
      if (this.reseeding || !this.url) return;
      this.reseeding = true;
      try {
        const response = await fetch(this.url, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const body = await response.json();
          if (Number.isSafeInteger(body.seq) && Array.isArray(body.seconds)) this.seed(body.seq, body.seconds);
        }
      } catch {
        // offline or restarting: the count goes on from what this page receives
      } finally {
        this.reseeding = false;
      }
    }

    count(now) {
      let n = 0;
      // Bucket i holds posts that arrived i to i+1 seconds before the seed: counted as at i + 0.5 s.
      this.seconds.forEach((posts, i) => {
        if (now - (this.seedAt - (i + 0.5) * 1000) < WINDOW_MS) n += posts;
      });
      for (const [seq, at] of this.arrived) {
        if (now - at < WINDOW_MS) n += 1;
        else {
          this.arrived.delete(seq);
          this.floor = Math.max(this.floor, seq);
        }
      }
      return n;
    }

    render() {
      const n = this.count(performance.now());
      this.node.dataset.rate = String(n);
      this.value.textContent = numberFormat.format(n);
      if (this.unit) this.unit.textContent = n === 1 ? "post/min" : "posts/min";
    }
  }

  // --- Sparklines ----------------------------------------------------------------------------------
  // The geometry of feed/audience.py `sparkline_points`: the same box, pad and scaling.
  const WIDTH = 120;
  const HEIGHT = 32;
  const PAD = 2;

  function sparklinePoints(counts) {
    const peak = Math.max(1, ...counts);
    const step = (WIDTH - 2 * PAD) / Math.max(counts.length - 1, 1);
    const span = HEIGHT - 2 * PAD;
    return counts.map((n, i) => `${(PAD + i * step).toFixed(1)},${(HEIGHT - PAD - (n / peak) * span).toFixed(1)}`).join(" ");
  }

  function drawSparkline(svg, counts) {
    const points = sparklinePoints(counts);
    svg.querySelector("[data-sparkline-line]")?.setAttribute("points", points);
    svg.querySelector("[data-sparkline-area]")?.setAttribute("points", `${PAD},${HEIGHT - PAD} ${points} ${WIDTH - PAD},${HEIGHT - PAD}`);
    const total = counts.reduce((a, b) => a + b, 0);
    const last = counts.length ? counts[counts.length - 1] : 0;
    svg.setAttribute("aria-label", `${total} post${total === 1 ? "" : "s"} in the last hour; ${last} this minute`);
  }

  function initSparklines(home) {
    home.addEventListener("tweetsite:topics", (event) => {
      for (const topic of Array.isArray(event.detail) ? event.detail : []) {
        const counts = Array.isArray(topic?.per_minute) ? topic.per_minute.map((n) => (Number.isSafeInteger(n) && n > 0 ? n : 0)) : null;
        if (!counts || typeof topic.slug !== "string") continue;
        const card = [...home.querySelectorAll("[data-slug]")].find((node) => node.dataset.slug === topic.slug);
        const svg = card?.querySelector("[data-sparkline]");
        if (svg) drawSparkline(svg, counts);
      }
    });
  }

  for (const node of document.querySelectorAll("[data-rate]")) new RateCounter(node);
  const home = document.querySelector("[data-topics-api]");
  if (home) initSparklines(home);
})();
