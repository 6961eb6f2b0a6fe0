"""`manage.py demo_setup`: the topics and admin login that `make run` starts with (DEBUG only)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from feed.models import Topic

# Every network: `make run` replays each one's sample where it is not configured, so the demo wall
# mixes them. Each query has a #hashtag, which Mastodon needs (hashtag streams are all it offers).
DEMO_NETWORKS = ["x", "bluesky", "mastodon"]
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
                Topic.objects.create(name=name, slug=slug, query=query, networks=DEMO_NETWORKS)
            self.stdout.write(f"created {len(DEMO_TOPICS)} demo topics")
        else:
            self._follow_every_network()
        users = get_user_model().objects
        if not users.filter(username="admin").exists():
            users.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("created superuser admin (password admin)")

    def _follow_every_network(self) -> None:
        """A database made before the demo followed every network: its demo topics, as created then
        (X only, the demo query), follow them all now. A topic an admin changed is left alone."""
        queries = {slug: query for _, slug, query in DEMO_TOPICS}
        for topic in Topic.objects.filter(slug__in=queries):
            if topic.networks == ["x"] and topic.query == queries[topic.slug]:
                topic.networks = DEMO_NETWORKS
                topic.save(update_fields=["networks"])
                self.stdout.write(f"demo topic {topic.slug} now follows {', '.join(DEMO_NETWORKS)}")
