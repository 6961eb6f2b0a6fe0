"""Topics that admins track, the tweets the worker stores for them, and each tweet's place on each topic.

The database is the truth: the channel layer delivers at most once, so clients resume from a
topic's own increasing sequence number (`seq` on the wire): `TopicPost.pk`, the place a post takes
on a topic when it becomes visible there.
"""

import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from feed.normalize import X_ID_PATTERN


def default_networks() -> list[str]:
    return ["x"]


class Topic(models.Model):
    class RuleState(models.TextChoices):
        PENDING = "pending", "pending"  # saved; the worker has not reported X's answer yet
        ACTIVE = "active", "active"  # the rule is on X's stream
        FAILED = "failed", "failed"  # X refused the rule; rule_error says why
        OFF = "off", "off"  # the topic is inactive, so it has no rule
        PAUSED = "paused", "paused"  # over its budget: the rule is off X until paused_until

    name = models.CharField(max_length=100)
    # Slugs name Channels groups ("topic.<slug>"), which must be ASCII and under 100 characters.
    slug = models.SlugField(max_length=80, unique=True)
    query = models.TextField(help_text="X filtered-stream rule, e.g. python OR django -is:retweet")
    # The networks the topic follows (Tweet.Source values); the worker runs a source for each
    # network some active topic follows and that is configured.
    networks = models.JSONField(default=default_networks, help_text="the networks the topic follows")
    is_active = models.BooleanField(default=True)
    # Written by the worker after each rules sync (feed.services.topic_rules_record), shown in the admin.
    rule_state = models.CharField(max_length=16, choices=RuleState.choices, default=RuleState.PENDING)
    rule_error = models.TextField(
        blank=True, help_text="why the rule is not on X: X's reason for refusing it, or the budget reached"
    )
    rule_checked_at = models.DateTimeField(null=True, blank=True)
    # Written by the worker as its sources' states change (feed.services.topics_network_status_record):
    # one row per source following the topic's networks, [{"source", "state", "detail"}], so an
    # organiser sees that a Mastodon instance is polling, not streaming, or that a network has no source.
    network_status = models.JSONField(default=list, blank=True)
    # The cost guard (feed/budget.py): X bills each post delivered. Null: no budget.
    budget_per_hour = models.PositiveIntegerField(
        null=True, blank=True, help_text="posts per UTC hour; at this many the rule leaves X for the hour"
    )
    budget_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="posts per UTC day; at this many the rule leaves X until midnight"
    )
    paused_until = models.DateTimeField(null=True, blank=True)  # set by the worker with rule_state "paused"

    class Moderation(models.TextChoices):
        OPEN = "open", "open: posts show at once; moderators can hide them later"
        APPROVE = "approve", "approve: nothing shows until a moderator approves it"

    moderation = models.CharField(max_length=16, choices=Moderation.choices, default=Moderation.OPEN)
    trusted_only = models.BooleanField(
        default=False, help_text="show only posts by trusted accounts (a troll-safe wall); others are blocked"
    )
    # Filters (feed/filters.py): a post a filter rejects is still stored, with the filter's name.
    exclude_reposts = models.BooleanField(default=False, help_text="reject reposts; quotes are not reposts")
    exclude_replies = models.BooleanField(default=False, help_text="reject replies, an author's threads too")
    languages = models.JSONField(
        default=list,
        blank=True,
        help_text="language codes allowed, e.g. en, de; empty: any. Posts X finds no language in pass",
    )
    min_followers = models.PositiveIntegerField(
        null=True, blank=True, help_text="reject authors with fewer followers; unknown counts pass"
    )
    min_account_age_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="reject accounts younger than this when they posted; unknown pass"
    )
    profanity_filter = models.BooleanField(
        default=False, help_text="reject posts with profanity in their language or English (glin-profanity)"
    )
    profanity_extra_words = models.TextField(
        blank=True, help_text="more words for the profanity filter, one word or phrase per line"
    )
    exclude_hashbombs = models.BooleanField(
        default=False, help_text="reject posts made only of hashtags, mentions, cashtags and links"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # Global for now (ModelBackend has no per-object permissions): whoever has it moderates every
        # topic through /api/topics/<slug>/queue/ and /decisions/. Superusers have it implicitly.
        permissions = [("moderate_topic", "Can moderate the topic's posts")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("topic-page", kwargs={"slug": self.slug})

    @property
    def group_name(self) -> str:
        return f"topic.{self.slug}"


class TopicSpend(models.Model):
    """Posts stored for a topic in one budget window: a counter, added to by each ingest batch.

    A counter rather than a count of Tweet rows: the worker checks budgets every 2 s, and counting a
    busy topic's day of posts that often would read millions of rows; this reads two rows per topic.
    """

    class Period(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="spend")
    period = models.CharField(max_length=8, choices=Period.choices)
    starts_at = models.DateTimeField()  # the window's start (feed.budget.budget_window)
    posts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "period", "starts_at"], name="topic_spend_window")
        ]
        indexes = [models.Index(fields=["starts_at"], name="topic_spend_starts")]  # pruning old windows

    def __str__(self) -> str:
        return f"{self.topic_id} {self.period} {self.starts_at:%Y-%m-%d %H:%M}: {self.posts}"


class Tweet(models.Model):
    """A post from any network, stored once: by its network and its id there."""

    class Source(models.TextChoices):
        X = "x", "X"
        BLUESKY = "bluesky", "Bluesky"
        MASTODON = "mastodon", "Mastodon"

    source = models.CharField(max_length=16, choices=Source.choices, default=Source.X)
    # The post's id on its network, as a string: X's numeric id (beyond 2**53, and not in arrival
    # order), a Bluesky at:// URI, a Mastodon status's ActivityPub URI (the same on every instance).
    network_id = models.CharField(max_length=300)
    # The post on its network, where it cannot be derived from the id (a Mastodon status's url).
    permalink = models.URLField(max_length=500, blank=True)
    topics = models.ManyToManyField(Topic, related_name="tweets", through="TopicPost")
    author_id = models.CharField(max_length=300)  # X ids, Bluesky DIDs (a did:web can be long)
    author_username = models.CharField(max_length=300)  # a Bluesky handle is a domain name
    author_name = models.CharField(max_length=200)
    author_avatar_url = models.URLField(max_length=500, blank=True)
    text = models.TextField()
    lang = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    entities = models.JSONField(default=dict, blank=True)
    # Images, videos and GIFs in one shape for every network (feed/media.py).
    media = models.JSONField(default=list, blank=True)
    # The post it quotes, as a card (feed/references.py); null when it quotes none.
    quote = models.JSONField(null=True, blank=True)
    # Whom it answers, and for a repost shown as its original, who reposted it (feed/references.py).
    reply_to = models.JSONField(null=True, blank=True)
    reposted_by = models.JSONField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "network_id"], name="tweet_once_per_network")
        ]

    def __str__(self) -> str:
        return f"@{self.author_username}: {self.text[:60]}"

    @property
    def url(self) -> str:
        if self.permalink:
            return self.permalink
        if self.source == self.Source.BLUESKY and (parts := _at_uri_parts(self.network_id)):
            return f"https://bsky.app/profile/{parts[0]}/post/{parts[1]}"
        # x.com redirects /i/web/status/<id> to the tweet when the author's handle is unknown.
        return f"https://x.com/{self.author_username or 'i/web'}/status/{self.network_id}"


def _at_uri_parts(uri: str) -> tuple[str, str] | None:
    """(DID, record key) of a Bluesky post's at://<did>/app.bsky.feed.post/<rkey> URI."""
    match = re.fullmatch(r"at://([^/]+)/app\.bsky\.feed\.post/([^/]+)", uri)
    return (match.group(1), match.group(2)) if match else None


class TopicPost(models.Model):
    """One tweet on one topic: its place there and its moderation state there.

    The id is the post's `seq` on the topic, what pages order by and resume from. A post takes its
    place when it becomes visible: at ingest in an open topic, or when approved (or released from a
    block) if viewers never had it, so an approved post lands at the top of the wall. That move is a
    new row (a new id), made under the topic's row lock like every insert, so within a topic seqs
    commit in increasing order and a reader who has seen seq N never misses a lower one later.
    Hiding and showing a post viewers already had keep its place (`shown`).
    """

    class State(models.TextChoices):
        VISIBLE = "visible"
        PENDING = "pending"  # approve mode: waiting for a moderator
        HIDDEN = "hidden"  # a moderator (or a rule applied later) took it off the topic
        BLOCKED = "blocked"  # kept off at ingest by a block rule or a filter; `reason` says which

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="posts")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="placements")
    state = models.CharField(max_length=8, choices=State.choices)
    # Whether viewers may have had the post at this seq: then a later show puts it back in its
    # place; otherwise it is new to them and moves to the top.
    shown = models.BooleanField(default=False)
    # Why it is blocked or hidden by a rule: the rule's reason in words, or the filter's name.
    reason = models.CharField(max_length=300, blank=True)
    rule = models.ForeignKey("BlockRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set while a moderator has the post pinned: on top of the topic's pages, newest pin first. Only
    # a visible post is pinned; hiding one unpins it.
    pinned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["topic", "tweet"], name="topic_post_once")]
        indexes = [
            models.Index(fields=["topic", "state", "-id"], name="topic_post_state_newest"),
            # The moderation page's counts by reason read one topic's last day (topic_reason_counts).
            models.Index(fields=["topic", "created_at"], name="topic_post_created"),
        ]

    def __str__(self) -> str:
        return f"{self.tweet_id} on {self.topic_id}: {self.state} at {self.pk}"

    @property
    def seq(self) -> int:
        return self.pk


class ModerationDecision(models.Model):
    """One moderation decision, kept for the audit: who made it, what, when, how, and on which posts.

    A decision is what a moderator did once (hide these five posts); the ModerationEvents it caused,
    one per topic and post whose state changed, are what pages apply. The record outlives the
    moderator's account (`moderator_name`) and the posts' topics (`tweets`), and nobody edits it.
    """

    class Action(models.TextChoices):
        # Blocking an author is recorded as a hide naming the author's
        # BlockRule (`rule`, `reason`); trusting one hides nothing, and its rule is the record. A
        # decision about an author has no posts of its own, which is why it is not one of its events.
        HIDE = "hide"
        SHOW = "show"
        APPROVE = "approve"
        PIN = "pin"
        UNPIN = "unpin"

    class Via(models.TextChoices):
        ADMIN = "admin"
        COMMAND = "command", "shell command"  # manage.py hide_tweets
        API = "api", "API"  # the staff JSON API, /api/topics/<slug>/decisions/
        SYSTEM = "system"  # code acting on its own; no moderator
        RULE = "rule", "block rule"  # a BlockRule hid posts: at ingest, or when the rule was saved

    action = models.CharField(max_length=32, choices=Action.choices)
    # Null for the system and shell commands, and once the account is deleted (moderator_name stays).
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_decisions",
    )
    moderator_name = models.CharField(max_length=150, blank=True)  # the username at decision time
    via = models.CharField(max_length=32, choices=Via.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # Which posts, independent of topics: deleting a topic deletes its events, not this.
    tweets = models.ManyToManyField(Tweet, related_name="moderation_decisions")
    # For via "rule": the rule that decided, and why in words, kept if the rule is deleted later.
    rule = models.ForeignKey(
        "BlockRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.moderator_name or self.via} at {self.created_at:%Y-%m-%d %H:%M}"


class ModerationEvent(models.Model):
    """A change every screen must obey about one tweet on one topic, stored before any screen is told:
    a moderator's decision, or the network's edit of a post on screen.

    The channel layer delivers at most once, so a hide is data, delivered like a tweet: its id is the
    moderation mark (`mod` on the wire), increasing within a topic, and every web process and page
    resumes from the last mark it applied (feed/hub.py, static/feed/feed.js).
    """

    class Action(models.TextChoices):
        HIDE = "hide"
        SHOW = "show"
        PIN = "pin"
        UNPIN = "unpin"
        # Not a moderator's decision: the network edited the post (or its late author came), and
        # screens showing it replace it, in the same order as the decisions (no `decision`).
        EDIT = "edit"

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="moderation_events")
    tweet = models.ForeignKey(Tweet, on_delete=models.CASCADE, related_name="moderation_events")
    action = models.CharField(max_length=8, choices=Action.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # The decision that caused it; null for events stored before decisions were (migration 0005).
    # PROTECT: marks are what pages resume from, so none may vanish with an audit row.
    decision = models.ForeignKey(
        ModerationDecision, null=True, on_delete=models.PROTECT, related_name="events"
    )

    class Meta:
        indexes = [models.Index(fields=["topic", "id"], name="moderation_topic_mark")]

    def __str__(self) -> str:
        return f"{self.action} {self.tweet_id} on {self.topic_id}"


class BlockRule(models.Model):
    """A word or author that hides posts, or an account trusted not to need approval (feed/blocking.py).

    No topic means every topic; a topic's rule acts on that topic's posts only (TopicPost.state).
    """

    class Kind(models.TextChoices):
        WORD = "word", "word or phrase"  # matched on word boundaries, case-folded
        AUTHOR = "author", "blocked author"  # value is the X account id
        TRUSTED = "trusted", "trusted author"  # value is the X account id

    topic = models.ForeignKey(
        Topic, null=True, blank=True, on_delete=models.CASCADE, related_name="block_rules"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=200, help_text="the word or phrase, or the X account id")
    author_username = models.CharField(max_length=64, blank=True, help_text="shown with an author rule")
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # With the rule count, what tells every process its compiled rules are stale (feed/blocking.py).
    updated_at = models.DateTimeField(auto_now=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]  # the first matching rule by id decides

    def clean(self) -> None:
        # X ids, as the stream gives them: a handle here would silently match nobody.
        if self.kind != self.Kind.WORD and not X_ID_PATTERN.fullmatch(self.value.strip()):
            raise ValidationError(
                {"value": "An author rule needs the account's X id (digits), not a handle."}
            )
        if self.kind == self.Kind.WORD and not self.value.split():
            raise ValidationError({"value": "A word rule needs a word."})

    def __str__(self) -> str:
        where = self.topic.name if self.topic_id else "all topics"
        shown = f"@{self.author_username}" if self.author_username else self.value
        return f"{self.get_kind_display()} {shown} ({where})"


BRAND_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def validate_brand_colour(value: str) -> None:
    if value and not BRAND_COLOUR.fullmatch(value):
        raise ValidationError("A colour as #rrggbb, e.g. #3b5bdb.")


class WallSettings(models.Model):
    """How a topic's wall looks on a big screen: theme, layout, spotlight, what it shows.

    One row per topic, made on first change (a topic without one has the defaults). A saved change
    reaches open walls as a "wall" frame, and any wall that missed it reads it within 30 s from the
    topic's status (feed/wall.py); `updated_at` is the version both carry.
    """

    class Theme(models.TextChoices):
        DARK = "dark"
        LIGHT = "light"
        BRAND = "brand", "brand colour"

    topic = models.OneToOneField(Topic, on_delete=models.CASCADE, primary_key=True, related_name="wall")
    theme = models.CharField(max_length=8, choices=Theme.choices, default=Theme.DARK)
    brand_colour = models.CharField(
        max_length=7, blank=True, validators=[validate_brand_colour], help_text="#rrggbb, for the brand theme"
    )
    logo = models.FileField(
        upload_to="wall-logos/",
        blank=True,
        help_text="PNG, JPEG or WebP, at most 1 MB; shown in the wall's header",
    )
    columns = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(4)], help_text="1 to 4"
    )
    font_scale = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("0.60")), MaxValueValidator(Decimal("2.00"))],
        help_text="0.6 to 2: the text's size against the default",
    )
    spotlight = models.BooleanField(
        default=False, help_text="one post at a time, large, rotating through the newest; new ones first"
    )
    spotlight_interval_s = models.PositiveSmallIntegerField(
        "spotlight interval (s)", default=8, validators=[MinValueValidator(3), MaxValueValidator(120)]
    )
    spotlight_count = models.PositiveSmallIntegerField(
        "spotlight rotates through",
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(50)],
        help_text="the newest this many posts",
    )
    show_media = models.BooleanField(default=True)
    show_quotes = models.BooleanField(default=True)
    show_reposts = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "wall settings"

    def __str__(self) -> str:
        return f"wall of {self.topic}"
