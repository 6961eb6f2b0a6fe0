"""`manage.py stream`: run the stream worker as its own process."""

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streamer.build import SOURCE_NAMES, SourceConfigError, build_worker
from streamer.lock import LockLost, run_exclusively
from tweetsite.gc_tuning import freeze_startup_heap


class Command(BaseCommand):
    help = (
        "Follow the networks the active topics follow (X's filtered stream, Bluesky's Jetstream, "
        "Mastodon's hashtag streams), and store and publish their posts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source",
            action="append",
            choices=SOURCE_NAMES,
            help=(
                "repeatable; replay, replay:bluesky and replay:mastodon replay a network's bundled "
                "sample. Default: each network live where it is configured (X_BEARER_TOKEN, "
                "BLUESKY_JETSTREAM_URL, an active Mastodon instance in the admin); where it is not, "
                "its replay with DEBUG on, and without DEBUG no X (an error), Bluesky's public "
                "Jetstream and no Mastodon. BLUESKY_ENABLED=0 leaves Bluesky out"
            ),
        )
        parser.add_argument("--replay-file", help="replay (X): NDJSON in the stream's payload shape")
        parser.add_argument("--rate", type=float, help="each replay: posts per second")

    def handle(self, *args, source=None, replay_file=None, rate=None, **options) -> None:
        if not settings.REDIS_HOST:
            raise CommandError(
                "REDIS_URL is not set, so the channel layer is in-memory and tweets from this process "
                "could not reach the web process. Set REDIS_URL (or REDIS_SENTINELS), or use `make run`, "
                "which runs the worker inside the web process."
            )
        if rate is not None and rate <= 0:
            raise CommandError("--rate must be a positive number of tweets per second")
        try:
            # Mastodon instances are admin rows: the worker follows them as they come and go.
            worker = build_worker(names=source or None, replay_file=replay_file, rate=rate)
        except SourceConfigError as error:
            raise CommandError(str(error)) from error
        freeze_startup_heap()
        try:
            asyncio.run(_until_signalled(run_exclusively(settings.REDIS_HOST, worker.run)))
        except LockLost as error:
            raise CommandError(str(error)) from error
        self.stdout.write("stream worker stopped")


async def _until_signalled(main) -> None:
    """Run `main`; SIGTERM or SIGINT cancels it, so the worker flushes what it holds and exits."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
