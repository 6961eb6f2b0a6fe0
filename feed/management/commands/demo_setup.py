"""`manage.py demo_setup`: the topics and admin login that `make run` starts with (DEBUG only)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from feed.models import Topic

DEMO_TOPICS = [
    ("Python", "python", 'python OR #python OR asyncio OR "async web"'),
    ("Django", "django", "django OR #djangocon OR channels"),
    ("PyCon", "pycon", "pycon OR #pycon OR #europython"),
]


class Command(BaseCommand):
    help = "Create demo topics and an admin/admin superuser for local development."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_setup creates a known password; it runs only with DJANGO_DEBUG=1")
        if not Topic.objects.exists():
            for name, slug, query in DEMO_TOPICS:
                Topic.objects.create(name=name, slug=slug, query=query)
            self.stdout.write(f"created {len(DEMO_TOPICS)} demo topics")
        users = get_user_model().objects
        if not users.filter(username="admin").exists():
            users.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("created superuser admin (password admin)")
