"""One worker at a time: X allows a single stream connection per app.

A second worker started by mistake waits on a Redis lock instead of opening a second connection (X
would answer 429 and both would back off). The holder renews the lock; if it dies, the lock expires
and a waiting worker takes over within LOCK_TTL_S.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import LockError, RedisError

logger = logging.getLogger(__name__)

LOCK_KEY = "tweetsite:stream-worker"
# A dead worker's lock lapses after this; the holder renews every third of it, so one slow renewal
# (a busy Redis, a GC pause) never loses it.
LOCK_TTL_S = 15.0
WAIT_POLL_S = 1.0
REDIS_TIMEOUT_S = 2.0


class LockLost(RuntimeError):
    """Another worker holds the lock now; this one must stop streaming."""


async def run_exclusively(
    redis_host: dict, main: Callable[[], Awaitable[None]], *, ttl_s: float = LOCK_TTL_S
) -> None:
    """Wait for the worker lock, then run `main()` while renewing it; stop if it is taken over.

    While Redis is unreachable the holder keeps running (it still stores tweets) and renews again
    once Redis is back; if another worker took the lock meanwhile, LockLost is raised.
    """
    redis, sentinels = _clients(redis_host)
    lock = redis.lock(LOCK_KEY, timeout=ttl_s, sleep=WAIT_POLL_S, blocking=False)
    try:
        await _acquire(lock)
        logger.info("worker lock %s acquired", LOCK_KEY)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_renew_forever(lock, ttl_s / 3))
            tasks.create_task(main())
    except* LockLost as group:
        raise group.exceptions[0] from None
    finally:
        try:
            await lock.release()
        except (LockError, RedisError):
            pass  # not ours any more, or Redis is away: it lapses by itself
        for client in (redis, *sentinels):
            await client.aclose()


def _clients(redis_host: dict) -> tuple[Redis, list[Redis]]:
    """A client for settings.REDIS_HOST (a URL, or the master that Sentinels name), and the
    Sentinel clients to close with it. Every call gives up after REDIS_TIMEOUT_S: a renewal must
    not hang past the lock's TTL on a silent, partitioned Redis."""
    timeouts = {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}
    if "master_name" in redis_host:
        sentinel = Sentinel(redis_host["sentinels"], sentinel_kwargs=timeouts)
        return sentinel.master_for(redis_host["master_name"], **timeouts), list(sentinel.sentinels)
    return Redis.from_url(redis_host["address"], **timeouts), []


async def _acquire(lock) -> None:
    announced = False
    while True:
        try:
            if await lock.acquire():
                return
        except RedisError as error:
            logger.warning("worker lock: Redis unavailable (%s); retrying", error)
        if not announced:
            logger.warning("another stream worker holds %s; waiting for it to stop", LOCK_KEY)
            announced = True
        await asyncio.sleep(WAIT_POLL_S)


async def _renew_forever(lock, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await lock.reacquire()
        except LockError:
            if not await _retake(lock):
                raise LockLost("another stream worker took the lock while Redis was away") from None
        except RedisError as error:
            logger.warning("worker lock: cannot renew, Redis unavailable (%s); streaming on", error)


async def _retake(lock) -> bool:
    try:
        return await lock.acquire()
    except (LockError, RedisError):
        return False
