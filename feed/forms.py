"""The topic form validates rules before X ever sees them."""

import logging
import re

from django import forms
from django.conf import settings
from django.urls import reverse

from feed.embedding import EmbedOriginsField
from feed.models import Topic, Tweet
from feed.rule_check import RuleCheckUnavailable, rules_check
from feed.rules import RuleError, validate_rule
from feed.services import topic_rule_holder

logger = logging.getLogger(__name__)

# A BCP-47 primary language subtag as X gives `lang`: two letters (ISO 639-1) or three (639-2/3).
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
FILTER_FIELDS = [
    "exclude_reposts",
    "exclude_replies",
    "languages",
    "min_followers",
    "min_account_age_days",
    "profanity_filter",
    "profanity_extra_words",
    "exclude_hashbombs",
]


class LanguagesField(forms.CharField):
    """Language codes typed as "en, de pt", stored as a list of lower-case codes."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        codes = [code.lower() for code in re.split(r"[\s,;]+", super().to_python(value)) if code]
        wrong = [code for code in codes if not LANGUAGE_CODE.fullmatch(code)]
        if wrong:
            raise forms.ValidationError(
                "Not a language code: %(wrong)s. Use two- or three-letter codes as X gives them, "
                "e.g. en, de, pt.",
                params={"wrong": ", ".join(wrong)},
                code="language",
            )
        return list(dict.fromkeys(codes))


class TopicAdminForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = [
            "name",
            "slug",
            "query",
            "networks",
            "is_active",
            "moderation",
            "trusted_only",
            "budget_per_hour",
            "budget_per_day",
            "embed_origins",
            *FILTER_FIELDS,
        ]
        widgets = {
            "query": forms.Textarea(attrs={"rows": 3, "cols": 80}),
            "profanity_extra_words": forms.Textarea(attrs={"rows": 4, "cols": 40}),
        }
        help_texts = {
            # The model's help text predates Bluesky and Mastodon; the form's says what every
            # network does with the rule (and needs no migration).
            "query": (
                "X's filtered-stream rule language, matched the same on every network: keywords, "
                '"phrases", #hashtags, @mentions, from:, OR, -negation, (groups), and with at least '
                "one of those lang:xx, is:reply, is:retweet (reposts and boosts) and has:media, "
                "e.g. python OR django -is:retweet. Mastodon follows the rule's #hashtags."
            ),
        }

    networks = forms.MultipleChoiceField(
        choices=Tweet.Source.choices,
        initial=["x"],
        widget=forms.CheckboxSelectMultiple,
        help_text="where the topic's posts come from; the rule is matched on each network",
        error_messages={"required": "Choose at least one network."},
    )
    embed_origins = EmbedOriginsField(
        required=False,
        label="Sites that may embed the wall",
        help_text=(
            "https origins, one a line (e.g. https://conference.example), that may show the wall in an "
            "iframe at /topics/&lt;slug&gt;/embed/; every other site, and every other page, is refused."
        ),
    )
    languages = LanguagesField(
        required=False,
        help_text=Topic._meta.get_field("languages").help_text,
        widget=forms.TextInput(attrs={"placeholder": "en, de"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # the slug is fixed once the topic exists, and so is its embed URL
            embed = self.fields["embed_origins"]
            embed.help_text += f" This topic's: {reverse('topic-embed', args=[self.instance.slug])}"

    def clean_query(self) -> str:
        query = self.cleaned_data["query"].strip()
        try:
            validate_rule(query, max_length=settings.X_MAX_RULE_LENGTH)
        except RuleError as error:
            raise forms.ValidationError(str(error)) from error
        try:
            problem = rules_check(queries=[query]).get(query)
        except RuleCheckUnavailable as error:
            raise forms.ValidationError(f"Could not check the rule with X: {error}") from error
        if problem:
            raise forms.ValidationError(f"X refused this rule: {problem}")
        return query

    def clean(self):
        cleaned = super().clean()
        becoming_active = cleaned.get("is_active") and not (self.instance.pk and self.instance.is_active)
        if becoming_active:
            active = Topic.objects.filter(is_active=True).exclude(pk=self.instance.pk).count()
            if active >= settings.X_MAX_RULES:
                raise forms.ValidationError(
                    f"{active} topics are already active, and your X access allows "
                    f"{settings.X_MAX_RULES} rules (X_MAX_RULES). Deactivate one first."
                )
        if cleaned.get("is_active") and (becoming_active or "query" in self.changed_data):
            self._refuse_a_copy(cleaned)
        self._mark_rule_state(cleaned)
        return cleaned

    def _refuse_a_copy(self, cleaned: dict) -> None:
        # Caught here with the other topic's name; the worker would only see X's DuplicateRule.
        query = cleaned.get("query")
        holder = query and topic_rule_holder(query=query, excluding=self.instance.pk)
        if holder:
            self.add_error("query", f"{holder.name} already has this rule, and X refuses a second copy.")

    def _mark_rule_state(self, cleaned: dict) -> None:
        # What the admin shows until the worker reports X's answer for the new rule (within seconds).
        if not cleaned.get("is_active"):
            self.instance.rule_state, self.instance.rule_error = Topic.RuleState.OFF, ""
        elif not self.instance.pk or {"query", "is_active"} & set(self.changed_data):
            self.instance.rule_state, self.instance.rule_error = Topic.RuleState.PENDING, ""
