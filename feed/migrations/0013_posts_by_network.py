"""Posts from any network: Tweet.x_id becomes network_id (unique with the new `source`), and a
`permalink` for networks whose ids do not give the post's URL. Stored posts are X's."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feed", "0012_topicpost_created_index"),
    ]

    operations = [
        migrations.RenameField(model_name="tweet", old_name="x_id", new_name="network_id"),
        migrations.AlterField(model_name="tweet", name="network_id", field=models.CharField(max_length=300)),
        migrations.AddField(
            model_name="tweet",
            name="source",
            field=models.CharField(
                choices=[("x", "X"), ("bluesky", "Bluesky"), ("mastodon", "Mastodon")], default="x", max_length=16
            ),
        ),
        migrations.AddField(
            model_name="tweet", name="permalink", field=models.URLField(blank=True, max_length=500)
        ),
        migrations.AddConstraint(
            model_name="tweet",
            constraint=models.UniqueConstraint(fields=("source", "network_id"), name="tweet_once_per_network"),
        ),
    ]
