"""The topic form validates rules before X ever sees them."""

import logging

from django import forms
from django.conf import settings

from feed.models import Topic
from feed.rule_check import RuleCheckUnavailable, rules_check
from feed.services import topic_rule_holder
from streamer.rules import RuleError, validate_rule

logger = logging.getLogger(__name__)


class TopicAdminForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = [
            "name",
            "slug",
            "query",
            "is_active",
            "moderation",
            "trusted_only",
            "budget_per_hour",
            "budget_per_day",
        ]
        widgets = {"query": forms.Textarea(attrs={"rows": 3, "cols": 80})}

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
