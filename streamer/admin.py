from django import forms
from django.contrib import admin

from streamer.models import MastodonInstance, QuarantinedPost, WorkerStatus


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the running worker only: operators read them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # view only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WorkerStatus)
class WorkerStatusAdmin(ReadOnlyAdmin):
    list_display = [
        "state",
        "alive",
        "source",
        "last_tweet_at",
        "reconnect_count",
        "shedding",
        "quarantined",
        "shed",
        "last_error",
        "heartbeat_at",
    ]
    readonly_fields = [field.name for field in WorkerStatus._meta.fields]

    @admin.display(boolean=True, description="alive")
    def alive(self, status: WorkerStatus) -> bool:
        return status.is_alive


@admin.register(QuarantinedPost)
class QuarantinedPostAdmin(ReadOnlyAdmin):
    list_display = ["x_id", "received_at", "error"]
    search_fields = ["x_id"]
    readonly_fields = [field.name for field in QuarantinedPost._meta.fields]


class MastodonInstanceForm(forms.ModelForm):
    """The token is a password field: never shown back; left blank, the stored one is kept."""

    base_url = forms.URLField(assume_scheme="https", help_text="e.g. https://mastodon.social")
    access_token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="a user token with read:statuses, needed to stream; left blank, the stored one is kept",
    )
    clear_access_token = forms.BooleanField(required=False, help_text="remove the stored token: poll only")

    class Meta:
        model = MastodonInstance
        fields = ["base_url", "access_token", "clear_access_token", "is_active"]

    def clean_access_token(self) -> str:
        token = self.cleaned_data.get("access_token") or ""
        return token or (self.instance.access_token if self.instance.pk else "")

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("clear_access_token"):
            cleaned["access_token"] = ""
        return cleaned


@admin.register(MastodonInstance)
class MastodonInstanceAdmin(admin.ModelAdmin):
    form = MastodonInstanceForm
    list_display = ["base_url", "is_active", "token", "mode", "state", "state_at"]
    list_filter = ["is_active", "mode"]
    readonly_fields = ["token", "mode", "state", "state_at"]
    fieldsets = [
        (None, {"fields": ["base_url", "is_active", "access_token", "clear_access_token", "token"]}),
        ("What the worker says", {"fields": ["mode", "state", "state_at"]}),
    ]

    @admin.display(description="token")
    def token(self, instance: MastodonInstance) -> str:
        return masked(instance.access_token)


def masked(token: str) -> str:
    """Enough to tell two tokens apart, never enough to use one."""
    if not token:
        return "none (polling)"
    return f"set, ends …{token[-4:]}" if len(token) >= 16 else "set"
