"""The drill database's rows, made through the ORM as the admin would make them (run by
`manage.py shell` in drill/stack.py): the staff user, one topic per network, the Mastodon instance.
"""

import os

from drill.stack import (
    BLUESKY_SLUG,
    MASTODON_SLUG,
    MASTODON_TAG,
    MASTODON_TOKEN,
    STAFF_PASSWORD,
    STAFF_USER,
    TOPIC_SLUG,
)


def seed() -> None:
    from django.contrib.auth import get_user_model

    from feed.models import Topic
    from streamer.models import MastodonInstance

    get_user_model().objects.create_superuser(STAFF_USER, "drill@example.com", STAFF_PASSWORD)
    # X matches its rule on its server; Bluesky's and Mastodon's are matched by the worker.
    Topic.objects.create(name="Drill", slug=TOPIC_SLUG, query="drill", networks=["x"])
    Topic.objects.create(name="Drill on Bluesky", slug=BLUESKY_SLUG, query="drill", networks=["bluesky"])
    Topic.objects.create(
        name="Drill on Mastodon", slug=MASTODON_SLUG, query=f"#{MASTODON_TAG}", networks=["mastodon"]
    )
    MastodonInstance.objects.create(base_url=os.environ["DRILL_MASTODON_URL"], access_token=MASTODON_TOKEN)
