"""Tasks a test leaves running when it ends, stopped before its event loop closes.

pytest-asyncio closes a test's loop by cancelling what is left once and waiting for all of
it. A task that swallows that cancel (an anyio cancel scope inside an in-process HTTP call
taking it for its own, as kit.background describes) then runs on, and the suite hangs in
the loop's teardown with nothing to show which test left it. Here every task left is
stopped as the app's shutdown stops its background work (cancelled again until it ends),
within a bound; one still running after it fails the test that left it, by name.
"""

import asyncio
import logging

from kit import background

logger = logging.getLogger("tests.stray_tasks")
BOUND_SECONDS = 30.0


def _describe(task: asyncio.Task) -> str:
    coroutine = task.get_coro()
    frames = []
    while coroutine is not None and len(frames) < 12:
        frame = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "ag_frame", None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})")
        coroutine = getattr(coroutine, "cr_await", None) or getattr(coroutine, "ag_await", None)
    return f"{task.get_name()}: " + " <- ".join(frames)


async def stop_stray_tasks() -> None:
    here = asyncio.current_task()
    stray = [task for task in asyncio.all_tasks() if task is not here and not task.done()]
    if not stray:
        return
    try:
        async with asyncio.timeout(BOUND_SECONDS):
            await asyncio.gather(*(background.stop(task) for task in stray))
    except TimeoutError:
        running = [_describe(task) for task in stray if not task.done()]
        raise AssertionError(
            "the test left tasks that would not stop:\n" + "\n".join(running)
        ) from None
