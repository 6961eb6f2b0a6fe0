from django.contrib import admin

from streamer.models import QuarantinedPost, WorkerStatus


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
