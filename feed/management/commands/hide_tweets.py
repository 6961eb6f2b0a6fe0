"""`manage.py hide_tweets X_ID [X_ID ...] [--show]`: the admin's hide action, from a shell or a script."""

from django.core.management.base import BaseCommand, CommandError

from feed.models import ModerationDecision, Tweet
from feed.moderation import tweets_set_hidden
from feed.publishing import publish_batches_sync


class Command(BaseCommand):
    help = "Hide tweets (by X id) from every page, or show them again with --show."

    def add_arguments(self, parser) -> None:
        parser.add_argument("x_ids", nargs="+", metavar="X_ID")
        parser.add_argument("--show", action="store_true", help="show hidden tweets again")

    def handle(self, *args, x_ids: list[str], show: bool, **options) -> None:
        tweets = list(Tweet.objects.filter(source=Tweet.Source.X, network_id__in=x_ids))
        if unknown := set(x_ids) - {t.network_id for t in tweets}:
            raise CommandError(f"no stored tweet has X id {', '.join(sorted(unknown))}")
        batches = tweets_set_hidden(tweets=tweets, hidden=not show, via=ModerationDecision.Via.COMMAND)
        verb = "shown" if show else "hidden"
        try:
            publish_batches_sync(batches)
        except Exception as error:
            # The decision is stored: open pages still get it from the database within seconds.
            self.stderr.write(f"{len(tweets)} tweet(s) {verb}; pages learn of it by polling ({error!r})")
            return
        self.stdout.write(f"{len(tweets)} tweet(s) {verb} on every open page")
