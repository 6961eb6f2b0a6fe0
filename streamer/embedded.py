"""The worker inside the web process, for `make run` without Redis (in-memory channel layer).

The worker must share the web process's event loop, because the in-memory layer lives in it. It
starts on the first ASGI event: the lifespan startup under uvicorn, the first request under Daphne
(which has no lifespan events; `make run` sends that first request itself).
"""

import asyncio
import logging

from streamer.build import SourceConfigError, build_worker

logger = logging.getLogger(__name__)


class EmbeddedWorkerMiddleware:
    def __init__(self, app) -> None:
        self.app = app
        self._task: asyncio.Future | None = None

    async def __call__(self, scope, receive, send):
        if self._task is None:
            self._task = self._start()
        if scope["type"] == "lifespan":
            return await _lifespan(receive, send)
        return await self.app(scope, receive, send)

    def _start(self) -> asyncio.Future:
        try:
            # As `manage.py stream` without --source: the configured networks, the others replayed in
            # development. Mastodon instances are database rows, read by the worker off the event
            # loop (database_sync_to_async) as they come and go.
            worker = build_worker()
        except SourceConfigError as error:
            # The site still serves what is stored; the worker is left off, once, with the reason.
            logger.error("embedded worker not started: %s", error)
            return asyncio.get_running_loop().create_future()
        task = asyncio.create_task(worker.run(), name="embedded-stream-worker")
        task.add_done_callback(_log_end)
        logger.info("embedded worker started with %s", " and ".join(s.name for s in worker.sources))
        return task


async def _lifespan(receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _log_end(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("embedded worker stopped: %r", task.exception())
