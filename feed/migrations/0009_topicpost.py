"""Per-topic moderation: Tweet.topics gets a through model, TopicPost, holding each post's state and
seq on each topic; Tweet.hidden (global) becomes that state on every topic of the tweet.

A tweet's first topic keeps the tweet's id as its seq, so pages open during the upgrade resume where
they were; a tweet's further topics get new seqs above every old one (they show up again there once).
"""

import django.db.models.deletion
from django.core.management.color import no_style
from django.db import migrations, models


def links_to_posts(apps, schema_editor):
    Tweet = apps.get_model("feed", "Tweet")
    TopicPost = apps.get_model("feed", "TopicPost")
    Link = Tweet.topics.through
    hidden = set(Tweet.objects.filter(hidden=True).values_list("pk", flat=True))
    newest = Tweet.objects.aggregate(models.Max("pk"))["pk__max"] or 0
    rows, seen = [], set()
    for tweet_id, topic_id in Link.objects.order_by("tweet_id", "topic_id").values_list("tweet_id", "topic_id"):
        if tweet_id in seen:
            newest += 1
            seq = newest
        else:
            seen.add(tweet_id)
            seq = tweet_id
        state = "hidden" if tweet_id in hidden else "visible"
        rows.append(TopicPost(pk=seq, topic_id=topic_id, tweet_id=tweet_id, state=state, shown=True))
        if len(rows) >= 5000:
            TopicPost.objects.bulk_create(rows)
            rows = []
    TopicPost.objects.bulk_create(rows)
    # Explicit ids leave PostgreSQL's sequence behind; SQLite's AUTOINCREMENT follows by itself.
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [TopicPost]):
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("feed", "0008_topic_budget"),
    ]

    operations = [
        migrations.AddField(
            model_name="topic",
            name="moderation",
            field=models.CharField(
                choices=[
                    ("open", "open: posts show at once; moderators can hide them later"),
                    ("approve", "approve: nothing shows until a moderator approves it"),
                ],
                default="open",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="topic",
            name="trusted_only",
            field=models.BooleanField(
                default=False,
                help_text="show only posts by trusted accounts (a troll-safe wall); others are blocked",
            ),
        ),
        migrations.AlterField(
            model_name="moderationdecision",
            name="action",
            field=models.CharField(
                choices=[("hide", "Hide"), ("show", "Show"), ("approve", "Approve")], max_length=32
            ),
        ),
        migrations.CreateModel(
            name="TopicPost",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("visible", "Visible"),
                            ("pending", "Pending"),
                            ("hidden", "Hidden"),
                            ("blocked", "Blocked"),
                        ],
                        max_length=8,
                    ),
                ),
                ("shown", models.BooleanField(default=False)),
                ("reason", models.CharField(blank=True, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "rule",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="feed.blockrule",
                    ),
                ),
                (
                    "topic",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="posts", to="feed.topic"
                    ),
                ),
                (
                    "tweet",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="placements", to="feed.tweet"
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["topic", "state", "-id"], name="topic_post_state_newest")],
                "constraints": [models.UniqueConstraint(fields=("topic", "tweet"), name="topic_post_once")],
            },
        ),
        migrations.RunPython(links_to_posts, migrations.RunPython.noop, elidable=False),
        migrations.RemoveIndex(model_name="tweet", name="tweet_visible_newest"),
        migrations.RemoveField(model_name="tweet", name="hidden"),
        migrations.RemoveField(model_name="tweet", name="topics"),
        migrations.AddField(
            model_name="tweet",
            name="topics",
            field=models.ManyToManyField(related_name="tweets", through="feed.TopicPost", to="feed.topic"),
        ),
    ]
