"""Admin: topics (with rule validation), tweet moderation, block rules, and the moderation audit."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from feed.budget import WARN_AT, budget_warning, topic_spend, topics_with_spend
from feed.forms import FILTER_FIELDS, TopicAdminForm
from feed.models import BlockRule, ModerationDecision, Topic, TopicPost, Tweet, WallSettings
from feed.moderation import block_rule_apply, tweets_set_hidden
from feed.publishing import publish_batches_sync
from feed.selectors import topic_reason_counts
from feed.services import topics_activate, topics_deactivate
from feed.wall import topic_wall_settings, validate_logo, wall_batch


class WallSettingsForm(forms.ModelForm):
    class Meta:
        model = WallSettings
        exclude = ["topic"]

    def clean_logo(self):
        logo = self.cleaned_data.get("logo")
        if logo and hasattr(logo, "content_type"):  # a new upload, not the stored file
            validate_logo(logo)
        return logo


class WallSettingsInline(admin.StackedInline):
    """The wall's look, per topic; a saved change reaches open walls live (feed/wall.py)."""

    model = WallSettings
    form = WallSettingsForm
    can_delete = False
    max_num = 1
    verbose_name_plural = "wall"


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = TopicAdminForm
    inlines = [WallSettingsInline]
    list_display = [
        "name",
        "slug",
        "query",
        "is_active",
        "moderation",
        "rule_status",
        "networks_status",
        "spend",
        "updated_at",
    ]
    list_filter = ["is_active", "rule_state"]
    search_fields = ["name", "slug", "query"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["activate", "deactivate"]

    @admin.action(description="Activate selected topics", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Topic]) -> None:
        problems = topics_activate(
            topics=list(queryset),
            max_rules=settings.X_MAX_RULES,
            max_rule_length=settings.X_MAX_RULE_LENGTH,
        )
        for problem in problems:
            self.message_user(request, f"Not activated: {problem}", messages.ERROR)
        self.message_user(request, "Active topics reach the worker within seconds.")

    @admin.action(description="Deactivate selected topics", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Topic]) -> None:
        batches = topics_deactivate(topics=list(queryset))
        _announce(request, self, batches)
        self.message_user(request, f"{len(batches)} topic(s) deactivated; their open pages were closed.")

    @admin.display(description="rule on X", ordering="rule_state")
    def rule_status(self, topic: Topic) -> str:
        if not topic.is_active:
            return Topic.RuleState.OFF  # the worker drops the rule within seconds
        return f"{topic.rule_state}: {topic.rule_error}" if topic.rule_error else topic.rule_state

    @admin.display(description="networks")
    def networks_status(self, topic: Topic) -> str:
        """What the worker last said of each source following the topic's networks: a Mastodon
        instance streaming or polling, a network no source follows, a source reconnecting."""
        if not topic.is_active:
            return Topic.RuleState.OFF
        rows = [row for row in topic.network_status if isinstance(row, dict)]
        if not rows:
            return "waiting for the worker"
        return format_html_join(
            mark_safe("<br>"),
            '<span class="network-status network-status--{}" title="{}">{}: {}</span>',
            (
                (
                    str(row.get("state", "")).replace(" ", "-"),
                    row.get("detail", ""),
                    row.get("source", ""),
                    row.get("state", ""),
                )
                for row in rows
            ),
        )

    @admin.display(description="spend (hour · day)")
    def spend(self, topic: Topic) -> str:
        spend = topic_spend(topic=topic)
        text = (
            f"{_used(spend.hour, spend.budget_per_hour)} · {_used(spend.day, spend.budget_per_day)} "
            f"(${spend.cost_usd:,.2f} today)"
        )
        if spend.share >= 1:
            return format_html('<strong class="budget budget--spent">{}</strong> {}', "paused", text)
        if spend.share >= WARN_AT:
            share = f"{spend.share:.0%}"
            return format_html('<strong class="budget budget--warn">{}</strong> {}', share, text)
        return text

    @admin.display(description="blocked and pending (hour · day)")
    def reason_counts(self, topic: Topic) -> str:
        counts = topic_reason_counts(topic=topic, now=timezone.now())
        if not counts:
            return "none in the last day"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((c.reason or c.state, c.hour, c.day) for c in counts),
        )
        head = "<tr><th>reason</th><th>last hour</th><th>last day</th></tr>"
        return format_html('<table class="reason-counts">' + head + "{}</table>", rows)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Topic]:
        return topics_with_spend(topics=super().get_queryset(request))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        topic = self.get_object(request, object_id)
        if request.method == "GET" and topic is not None:
            if warning := budget_warning(topic_spend(topic=topic)):
                self.message_user(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        # X's answer is the worker's to record (feed.services.topic_rules_record), never the admin's.
        rule = ["rule_state", "rule_error", "rule_checked_at", "paused_until", "networks_status"]
        # Open pages and the worker's rule tag follow the slug: it is fixed once the topic exists.
        return ["slug", *rule, "spend", "reason_counts"] if obj is not None else rule

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None else self.prepopulated_fields

    def get_fieldsets(self, request, obj=None):
        moderation = ["moderation", "trusted_only", *(["reason_counts"] if obj is not None else [])]
        main = [name for name in self.get_fields(request, obj) if name not in [*FILTER_FIELDS, *moderation]]
        moderated = ("Moderation", {"fields": moderation})
        filters = (
            "Filters",
            {
                "fields": FILTER_FIELDS,
                "description": "A post a filter rejects is stored all the same, with the filter's name.",
            },
        )
        return [(None, {"fields": main}), moderated, filters]

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            _announce(request, self, topics_deactivate(topics=[obj]))

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        if any(f.has_changed() for f in formsets if f.model is WallSettings):
            _announce(request, self, [wall_batch(topic_wall_settings(topic=form.instance))])

    def delete_model(self, request, obj) -> None:
        _announce(request, self, topics_deactivate(topics=[obj]))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        _announce(request, self, topics_deactivate(topics=list(queryset)))
        super().delete_queryset(request, queryset)


class TopicPostInline(admin.TabularInline):
    """The tweet's place and state on each of its topics, read-only: decisions go through actions."""

    model = TopicPost
    fields = ["topic", "state", "reason", "seq", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="seq")
    def seq(self, post: TopicPost) -> int:
        return post.pk


@admin.register(Tweet)
class TweetAdmin(admin.ModelAdmin):
    list_display = ["network_id", "source", "author_username", "short_text", "created_at", "states"]
    list_filter = ["source", "placements__state", "topics", "lang"]
    search_fields = ["text", "author_username", "author_name", "network_id"]
    readonly_fields = [f.name for f in Tweet._meta.fields]
    inlines = [TopicPostInline]
    actions = ["hide", "unhide"]
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tweet]:
        return super().get_queryset(request).prefetch_related("placements__topic")

    @admin.display(description="text")
    def short_text(self, tweet: Tweet) -> str:
        return tweet.text[:100]

    @admin.display(description="state per topic")
    def states(self, tweet: Tweet) -> str:
        return ", ".join(f"{post.topic.slug}: {post.state}" for post in tweet.placements.all())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tweets come from the stream only

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # moderation hides, so open pages are told; ingest would not store it again

    @admin.action(description="Hide selected tweets from every topic", permissions=["change"])
    def hide(self, request: HttpRequest, queryset: QuerySet[Tweet]) -> None:
        self._set_hidden(request, queryset, hidden=True)

    @admin.action(description="Show selected tweets again on every topic", permissions=["change"])
    def unhide(self, request: HttpRequest, queryset: QuerySet[Tweet]) -> None:
        self._set_hidden(request, queryset, hidden=False)

    def _set_hidden(self, request: HttpRequest, queryset: QuerySet[Tweet], *, hidden: bool) -> None:
        decided = tweets_set_hidden(tweets=list(queryset), hidden=hidden, **_by(request))
        if _announce(request, self, decided):
            verb = "hidden" if hidden else "shown"
            self.message_user(request, f"{queryset.count()} tweet(s) {verb} on every open page.")


@admin.register(BlockRule)
class BlockRuleAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "value",
        "author_username",
        "topic",
        "is_active",
        "note",
        "created_by",
        "created_at",
    ]
    list_filter = ["kind", "topic", "is_active"]
    search_fields = ["value", "author_username", "note"]
    fields = ["kind", "value", "author_username", "topic", "note", "is_active"]
    list_select_related = ["topic", "created_by"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        # After the save, so the worker's next batch already checks new posts against the rule.
        batches = block_rule_apply(rule=obj, moderator=request.user)
        if _announce(request, self, batches) and batches:
            self.message_user(request, "Stored posts the rule matches were hidden on every open page.")


AUDIT_POSTS_SHOWN = 100  # posts listed on one decision's page; a bulk hide can name thousands


@admin.register(ModerationDecision)
class ModerationDecisionAdmin(admin.ModelAdmin):
    """The audit: every decision, for reading only. Nobody, superusers included, adds, edits or deletes
    one, so the record of who hid what is the record of what happened."""

    list_display = ["created_at", "action", "who", "via", "reason", "post_count", "topic_names"]
    list_filter = [
        "events__topic",
        ("moderator", admin.RelatedOnlyFieldListFilter),  # only accounts that decided something
        "action",
        "via",
    ]
    date_hierarchy = "created_at"
    search_fields = ["=tweets__network_id", "tweets__author_username", "moderator_name"]
    fields = ["created_at", "action", "who", "via", "rule", "reason", "posts", "topic_names"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModerationDecision]:
        counted = super().get_queryset(request).annotate(post_count=Count("tweets", distinct=True))
        return counted.prefetch_related("events__topic")

    @admin.display(description="who", ordering="moderator_name")
    def who(self, decision: ModerationDecision) -> str:
        return decision.moderator_name or f"({decision.get_via_display()})"

    @admin.display(description="posts", ordering="post_count")
    def post_count(self, decision: ModerationDecision) -> int:
        return decision.post_count

    @admin.display(description="topics")
    def topic_names(self, decision: ModerationDecision) -> str:
        return ", ".join(sorted({event.topic.name for event in decision.events.all()}))

    @admin.display(description="posts")
    def posts(self, decision: ModerationDecision) -> str:
        tweets = decision.tweets.order_by("pk")[:AUDIT_POSTS_SHOWN]
        rows = (
            (reverse("admin:feed_tweet_change", args=[t.pk]), t.network_id, t.author_username, t.text[:100])
            for t in tweets
        )
        listed = format_html_join("", "<li><a href='{}'>{}</a> @{}: {}</li>", rows)
        more = decision.post_count - AUDIT_POSTS_SHOWN
        return format_html("<ul>{}</ul>{}", listed, f"and {more} more" if more > 0 else "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _used(posts: int, budget: int | None) -> str:
    return f"{posts:,}/{budget:,}" if budget is not None else f"{posts:,}"


def _by(request: HttpRequest) -> dict:
    """Who decides, for tweets_set_hidden: the logged-in moderator, through the admin."""
    return {"moderator": request.user, "via": ModerationDecision.Via.ADMIN}


def _announce(request: HttpRequest, model_admin: admin.ModelAdmin, batches) -> bool:
    """Tell open pages; the database already has the change, so a failure is only a warning."""
    try:
        publish_batches_sync(batches)
    except Exception as error:
        model_admin.message_user(request, f"Saved, but open pages were not told: {error}", messages.WARNING)
        return False
    return True
