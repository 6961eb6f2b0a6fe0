"""Garbage-collector settings for the long-running processes (web and worker).

Fan-out and ingest allocate a little per frame and per tweet, so the cyclic GC ran often and walked
every long-lived object (Django, the URL conf, thousands of sockets) each time: py-spy put ~13% of
the web process's loop there, and the worker showed 75 ms full collections that held up tweets.
Freezing what start-up built takes it out of every collection; the young generation is collected
less often.
"""

import gc


def freeze_startup_heap() -> None:
    """Call once start-up is done (settings, apps and URLs loaded)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
