"""Builds the worker's sources from settings and command-line choices."""

from pathlib import Path

from django.conf import settings

from streamer.sources import Source
from streamer.sources.bluesky import BlueskySource
from streamer.sources.mastodon import mastodon_sources
from streamer.sources.replay import SAMPLE_FILE, ReplaySource
from streamer.sources.x import XSource


class SourceConfigError(ValueError):
    """The chosen source cannot run with this configuration."""


def build_source(
    *, name: str | None = None, replay_file: Path | None = None, rate: float | None = None
) -> Source:
    """The named source, or X when X_BEARER_TOKEN is set.

    Without a token, replay is the default only in development (DEBUG): in production a replayed
    sample would look live to every viewer, so it must be chosen by name.
    """
    if name is None and not settings.X_BEARER_TOKEN and not settings.DEBUG:
        raise SourceConfigError(
            "X_BEARER_TOKEN is not set, so there is no live stream to follow. Set it (see README: "
            "getting a token), or choose `--source replay` to replay the sample stream on purpose, "
            "or `--source bluesky` to follow Bluesky alone."
        )
    name = name or ("x" if settings.X_BEARER_TOKEN else "replay")
    if name == "x":
        if not settings.X_BEARER_TOKEN:
            raise SourceConfigError("the x source needs X_BEARER_TOKEN (see README: getting a token)")
        return XSource(
            bearer_token=settings.X_BEARER_TOKEN,
            base_url=settings.X_API_BASE_URL,
            stall_timeout_s=settings.X_STREAM_STALL_TIMEOUT_S,
        )
    if name == "replay":
        path = Path(replay_file) if replay_file else SAMPLE_FILE
        if not path.is_file():
            raise SourceConfigError(f"replay file not found: {path}")
        return ReplaySource(path=path, rate=rate or settings.STREAM_REPLAY_RATE)
    if name == "bluesky":
        return build_bluesky()
    raise SourceConfigError(f"unknown source {name!r}; choose x, replay, bluesky or mastodon")


def build_sources(
    *,
    names: list[str] | None = None,
    replay_file: Path | None = None,
    rate: float | None = None,
    mastodon: bool = True,
) -> list[Source]:
    """The worker's sources, one per network: the named ones, or by default X (or replay, as
    `build_source`), Bluesky when BLUESKY_ENABLED (it connects only while a topic follows it), and
    one per active Mastodon instance in the admin. `mastodon` reads those rows from the database,
    so only synchronous callers (`manage.py stream`) ask for them."""
    if names is not None:  # chosen by name ([] when the only one named comes and goes: Mastodon)
        names = list(dict.fromkeys(names))
        if {"x", "replay"} <= set(names):
            raise SourceConfigError("x and replay both stand for X: choose one of them")
        named = [name for name in names if name != "mastodon"]
        sources = [build_source(name=name, replay_file=replay_file, rate=rate) for name in named]
        if "mastodon" in names:
            if not (instances := mastodon_sources()):
                raise SourceConfigError("no active Mastodon instance: add one in the admin first")
            sources += instances
        return sources
    sources = [build_source(replay_file=replay_file, rate=rate)]
    if settings.BLUESKY_ENABLED:
        sources.append(build_bluesky())
    if mastodon:
        sources += mastodon_sources()
    return sources


def build_bluesky() -> BlueskySource:
    if not settings.BLUESKY_ENABLED:
        raise SourceConfigError("the bluesky source is switched off (BLUESKY_ENABLED=0)")
    return BlueskySource(
        jetstream_url=settings.BLUESKY_JETSTREAM_URL, appview_url=settings.BLUESKY_APPVIEW_URL
    )
