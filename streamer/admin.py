from django.contrib import admin

from streamer.models import WorkerStatus


@admin.register(WorkerStatus)
class WorkerStatusAdmin(admin.ModelAdmin):
    list_display = [
        "state",
        "alive",
        "source",
        "last_tweet_at",
        "reconnect_count",
        "last_error",
        "heartbeat_at",
    ]
    readonly_fields = [field.name for field in WorkerStatus._meta.fields]

    @admin.display(boolean=True, description="alive")
    def alive(self, status: WorkerStatus) -> bool:
        return status.is_alive

    def has_add_permission(self, request) -> bool:
        return False  # written by the running worker only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
