"""Background work an app runs beside its requests (the gateway's sweep, the roadmap's
change delivery): started with the app, stopped with it, and stopped for sure.

A cancellation can be swallowed by what the task happens to be awaiting (an anyio cancel
scope inside an HTTP call that mistakes it for its own, say), after which the task just
carries on and the app's shutdown waits forever. So the stop cancels again until the task
has ended; but not at once, since a cancel landing in the middle of the first one's
clean-up (a database rollback on a busy machine) cuts that clean-up short.

Whatever the task ended with, the stop itself ends cleanly: a failure of background work
is logged, never raised into the app's shutdown, which still has its database to close.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

# How long a cancelled task has to finish its clean-up before it is cancelled again.
RECANCEL_SECONDS = 2.0


async def stop(task: asyncio.Task) -> None:
    """Cancels `task` and waits until it has ended, cancelling again while it goes on."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "background work %s ended with an error while stopping",
            task.get_name(),
            exc_info=task.exception(),
        )


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task]:
    """Runs `work` as a task for the duration of the block, then stops it."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        await stop(task)
