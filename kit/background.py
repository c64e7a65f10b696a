"""Background work an app runs beside its requests (the gateway's sweep, the roadmap's
change delivery): started with the app, stopped with it, and stopped for sure.

A cancellation can be swallowed by what the task happens to be awaiting (an anyio cancel
scope inside an HTTP call that mistakes it for its own, say), after which the task just
carries on and the app's shutdown waits forever. So the stop cancels again until the task
has ended.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

RECANCEL_SECONDS = 0.5


async def stop(task: asyncio.Task) -> None:
    """Cancels `task` and waits until it has ended, cancelling again while it goes on."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task]:
    """Runs `work` as a task for the duration of the block, then stops it."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        await stop(task)
