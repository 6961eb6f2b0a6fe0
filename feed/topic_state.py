"""What one web process holds for one topic: its viewers, history, recovery and moderation state.

The hub (feed/hub.py) keeps one TopicState per topic it serves; everything keyed by a topic lives
here, so a feature adds fields, not dicts.
"""

import asyncio
import json
import logging
from typing import Any

from feed.selectors import HISTORY_LIMIT
from feed.viewer import ViewerSocket

logger = logging.getLogger("feed.hub")  # its lines belong with the hub's

# Seqs of tweets this process saw hidden, kept so a live batch held back during a catch-up cannot
# bring one back: far more than a moderator hides between two catch-ups.
MAX_HIDDEN_REMEMBERED = 2_000


class TopicState:
    def __init__(self, slug: str) -> None:
        self.slug = slug
        # Viewers.
        self.sockets: set[ViewerSocket] = set()
        self.subscribed: asyncio.Future | None = None
        # History: the newest tweets seen live (always kept), the tweets last loaded from the
        # database with the moderation mark they reflect, and the frame built from both. A load
        # that a moderation decision races is discarded (the generation moved on) and done again.
        self.recent: dict[int, str] = {}
        self.stored: list[tuple[int, str]] | None = None
        self.stored_mark = 0
        self.stored_pinned: list[tuple[int, str]] = []  # pinned posts, newest pin first (from the database)
        self.history: tuple[str, int, int] | None = None  # (frame, newest seq, moderation mark)
        self.history_load: asyncio.Future | None = None
        self.generation = 0
        # Recovery: the newest seq delivered, and live batches held while a catch-up fills a gap.
        self.seen_seq: int | None = None
        self.held: list[dict[str, Any]] | None = None
        self.catching_up: asyncio.Task | None = None
        # Moderation: every socket has had each decision up to `mark` (None until the first
        # history load); `wanted_mark` is the newest one heard of (a nudge, a poll, a connect).
        self.mark: int | None = None
        self.wanted_mark = 0
        self.moderating: asyncio.Task | None = None
        self.hidden: dict[int, None] = {}  # seqs hidden here, oldest first

    # --- History ------------------------------------------------------------------------------
    def remember(self, pairs: list[tuple[int, str]]) -> None:
        """Keep live tweets for the history frame (a tweet delivered twice is kept once)."""
        self.recent.update(pairs)
        if len(self.recent) > 2 * HISTORY_LIMIT:  # trimmed now and then, not on every batch
            newest = sorted(self.recent, reverse=True)[:HISTORY_LIMIT]
            self.recent = {seq: self.recent[seq] for seq in newest}
        self.history = None

    def invalidate(self) -> None:
        """Forget what was loaded, so the next viewer's history comes from the database."""
        self.stored = None
        self.history = None
        self.generation += 1

    def history_frame(self) -> tuple[str, int, int]:
        """(frame, newest seq, moderation mark) from the stored and recent tweets; cached."""
        if self.history is None:
            merged = dict(self.stored or ())
            merged.update(self.recent)
            newest = sorted(merged.items(), key=lambda pair: -pair[0])[:HISTORY_LIMIT]
            mark = max(self.stored_mark, self.mark or 0)
            tweets = ",".join(item for _, item in newest)
            pinned = ",".join(item for _, item in self.stored_pinned)
            frame = (
                '{"type":"history","mod":'
                + str(mark)
                + ',"pinned":['
                + pinned
                + '],"tweets":['
                + tweets
                + "]}"
            )
            self.history = (frame, newest[0][0] if newest else 0, mark)
        return self.history

    # --- Moderation ---------------------------------------------------------------------------
    def hide(self, seqs: list[int]) -> None:
        for seq in seqs:
            self.recent.pop(seq, None)
            self.hidden[seq] = None
        while len(self.hidden) > MAX_HIDDEN_REMEMBERED:
            del self.hidden[next(iter(self.hidden))]

    def apply_decisions(self, rows: list[tuple[int, str, int, str, str | None]]) -> tuple[int, list[str]]:
        """Apply decisions (mark, action, seq, network id, item for "show", "pin" and "edit"), oldest
        first: each tweet's latest hide or show counts, and its latest pin or unpin; an edit replaces
        what is kept of it. Returns the new mark and the frames that tell every socket, in the order
        hide, show, edit, pin, unpin."""
        seen = {
            seq: (action, x_id, item) for _, action, seq, x_id, item in rows if action in ("hide", "show")
        }
        pins = {
            seq: (action, x_id, item) for _, action, seq, x_id, item in rows if action in ("pin", "unpin")
        }
        edits = {seq: item for _, action, seq, _, item in rows if action == "edit"}
        mark = rows[-1][0]
        hidden = sorted(seq for seq, (action, _, _) in seen.items() if action == "hide")
        shown = sorted(seq for seq, (action, _, _) in seen.items() if action == "show")
        edited = sorted(seq for seq in edits if seq not in hidden and seq not in self.hidden and edits[seq])
        pinned = [seq for seq, (action, _, _) in pins.items() if action == "pin" and seq not in hidden]
        unpinned = sorted(seq for seq, (action, _, _) in pins.items() if action == "unpin")
        self.hide(hidden)
        self.show(shown)
        for seq in edited:
            if seq in self.recent:
                self.recent[seq] = edits[seq]
        self.invalidate()
        self.mark = mark
        counts = len(hidden), len(shown), len(edited), len(pinned), len(unpinned)
        logger.info(
            "hub: %s: moderation up to %d: %d hidden, %d shown, %d edited, %d pinned, %d unpinned",
            self.slug,
            mark,
            *counts,
        )
        frames = []
        if hidden:
            ids = json.dumps([seen[seq][1] for seq in hidden])
            frames.append(f'{{"type":"hide","mod":{mark},"ids":{ids},"seqs":{json.dumps(hidden)}}}')
        if shown:
            tweets = ",".join(seen[seq][2] for seq in shown)
            frames.append(f'{{"type":"show","mod":{mark},"tweets":[{tweets}]}}')
        if edited:
            tweets = ",".join(edits[seq] for seq in edited)
            frames.append(f'{{"type":"edit","mod":{mark},"tweets":[{tweets}]}}')
        if pinned:
            tweets = ",".join(
                pins[seq][2] for seq in pinned
            )  # in the order pinned: the page puts each on top
            frames.append(f'{{"type":"pin","mod":{mark},"tweets":[{tweets}]}}')
        if unpinned:
            ids = json.dumps([pins[seq][1] for seq in unpinned])
            frames.append(f'{{"type":"unpin","mod":{mark},"ids":{ids},"seqs":{json.dumps(unpinned)}}}')
        return mark, frames

    def show(self, seqs: list[int]) -> None:
        for seq in seqs:
            self.hidden.pop(seq, None)

    def visible(self, seqs: list[int], items: list[str]) -> tuple[list[int], list[str]]:
        """The tweets of a batch that no decision here has hidden (almost always all of them)."""
        if not self.hidden or not any(seq in self.hidden for seq in seqs):
            return seqs, items
        kept = [(s, i) for s, i in zip(seqs, items, strict=True) if s not in self.hidden]
        return [s for s, _ in kept], [i for _, i in kept]
