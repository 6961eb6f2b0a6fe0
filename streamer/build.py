"""Builds the worker and its sources from settings and command-line choices.

Which source follows each network:

- Named (`manage.py stream --source …`): exactly those. `x`, `bluesky` and `mastodon` are the live
  networks; `replay`, `replay:bluesky` and `replay:mastodon` their bundled samples. A network named
  both live and replayed is refused.
- By default, a network that is configured is followed live: X when X_BEARER_TOKEN is set, Bluesky
  when BLUESKY_JETSTREAM_URL is set, Mastodon for each active instance in the admin. One that is
  not is replayed in development (DEBUG), so `make run` shows a mixed wall with nothing set up and
  no network reachable. In production a replay would look live to every viewer, so it is never
  chosen silently: X without a token is refused, Bluesky follows the public Jetstream, Mastodon
  follows the admin's instances (none, until one is added). BLUESKY_ENABLED=0 leaves Bluesky out.

Mastodon's sources come and go with the admin's rows, so the worker reads them again as it runs
(`changing_sources`); in development the Mastodon replay stands in while there is no instance.
"""

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from streamer.cursors import DatabaseCursor
from streamer.sources import Source
from streamer.sources.bluesky import PUBLIC_JETSTREAM_URL, BlueskySource
from streamer.sources.mastodon import mastodon_sources
from streamer.sources.replay import SAMPLE_FILE, ReplaySource
from streamer.sources.replay_bluesky import BlueskyReplaySource
from streamer.sources.replay_mastodon import MastodonReplaySource
from streamer.sources.x import XSource
from streamer.worker import StreamWorker

# What `--source` takes: each network's live source and its replay, by network.
LIVE = {"x": "x", "bluesky": "bluesky", "mastodon": "mastodon"}
REPLAYS = {"replay": "x", "replay:bluesky": "bluesky", "replay:mastodon": "mastodon"}
SOURCE_NAMES = [*LIVE, *REPLAYS]
NETWORK_NAMES = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon"}


class SourceConfigError(ValueError):
    """The chosen source cannot run with this configuration."""


def build_worker(
    *, names: list[str] | None = None, replay_file: Path | None = None, rate: float | None = None
) -> StreamWorker:
    """The worker with its sources: the named ones, or the defaults (module docstring)."""
    sources = build_sources(names=names, replay_file=replay_file, rate=rate, mastodon=False)
    return StreamWorker(sources, changing_sources=mastodon_follower(names=names, rate=rate))


def build_sources(
    *,
    names: list[str] | None = None,
    replay_file: Path | None = None,
    rate: float | None = None,
    mastodon: bool = True,
) -> list[Source]:
    """The sources, one per network: the named ones, or the defaults. `mastodon` adds the Mastodon
    sources of this moment, read from the database, so only synchronous callers ask for them; the
    worker reads them itself as they change (`mastodon_follower`)."""
    if names is not None:
        names = list(dict.fromkeys(names))
        for network, label in NETWORK_NAMES.items():
            both = [name for name in names if LIVE.get(name) == network or REPLAYS.get(name) == network]
            if len(both) > 1:
                raise SourceConfigError(f"{' and '.join(both)} both stand for {label}: choose one of them")
        fixed = [name for name in names if name != "mastodon"]  # instances come and go: not fixed
    else:
        fixed = [default_x()] + ([default_bluesky()] if settings.BLUESKY_ENABLED else [])
    sources = [build_source(name=name, replay_file=replay_file, rate=rate) for name in fixed]
    if mastodon and (follower := mastodon_follower(names=names, rate=rate)) is not None:
        sources += follower()
    return sources


def default_x() -> str:
    """X when X_BEARER_TOKEN is set; without it the replay in development, and an error otherwise."""
    if settings.X_BEARER_TOKEN:
        return "x"
    if settings.DEBUG:
        return "replay"
    raise SourceConfigError(
        "X_BEARER_TOKEN is not set, so there is no live stream to follow. Set it (see README: "
        "Setting up each network), or choose `--source replay` to replay the sample stream on purpose, "
        "or `--source bluesky` to follow Bluesky alone."
    )


def default_bluesky() -> str:
    """Bluesky live when BLUESKY_JETSTREAM_URL is set, or in production (the public Jetstream);
    its replay in development without it."""
    return "bluesky" if settings.BLUESKY_JETSTREAM_URL or not settings.DEBUG else "replay:bluesky"


def build_source(*, name: str, replay_file: Path | None = None, rate: float | None = None) -> Source:
    """One source by name (`SOURCE_NAMES`, but Mastodon's instances: `mastodon_sources`)."""
    rate = rate or settings.STREAM_REPLAY_RATE
    if name == "x":
        if not settings.X_BEARER_TOKEN:
            raise SourceConfigError("the x source needs X_BEARER_TOKEN (see README: Setting up each network)")
        return XSource(
            bearer_token=settings.X_BEARER_TOKEN,
            base_url=settings.X_API_BASE_URL,
            stall_timeout_s=settings.X_STREAM_STALL_TIMEOUT_S,
        )
    if name == "replay":
        path = Path(replay_file) if replay_file else SAMPLE_FILE
        if not path.is_file():
            raise SourceConfigError(f"replay file not found: {path}")
        return ReplaySource(path=path, rate=rate)
    if name == "bluesky":
        if not settings.BLUESKY_ENABLED:
            raise SourceConfigError("the bluesky source is switched off (BLUESKY_ENABLED=0)")
        return BlueskySource(
            jetstream_url=settings.BLUESKY_JETSTREAM_URL or PUBLIC_JETSTREAM_URL,
            appview_url=settings.BLUESKY_APPVIEW_URL,
            cursor_store=DatabaseCursor("bluesky"),
        )
    if name == "replay:bluesky":
        return BlueskyReplaySource(rate=rate)
    if name == "replay:mastodon":
        return MastodonReplaySource(rate=rate)
    raise SourceConfigError(f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}")


def mastodon_follower(
    *, names: list[str] | None = None, rate: float | None = None
) -> Callable[[], list[Source]] | None:
    """What the worker calls every few seconds for its Mastodon sources (synchronous: it reads the
    admin's rows): one per active instance; by default in development, the Mastodon replay while
    there is none. None when Mastodon is not followed (sources named without `mastodon`)."""
    if names is not None:
        return mastodon_sources if "mastodon" in names else None
    if not settings.DEBUG:
        return mastodon_sources
    replay = MastodonReplaySource(rate=rate or settings.STREAM_REPLAY_RATE)

    def instances_or_replay() -> list[Source]:
        return mastodon_sources() or [replay]

    return instances_or_replay
