"""The suite's own guard: tasks a test leaves are stopped before its loop closes, a task
that swallows a cancel included; one that never stops fails the test, by name."""

import asyncio
import contextlib

import pytest

from tests.support import stray_tasks


async def test_a_task_that_swallows_its_first_cancel_is_stopped_all_the_same():
    async def stubborn() -> None:
        # Swallowed, as an anyio cancel scope taking it for its own would.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)

    await stray_tasks.stop_stray_tasks()

    assert task.cancelled()


async def test_a_task_that_never_stops_fails_the_test_that_left_it(monkeypatch):
    monkeypatch.setattr(stray_tasks, "BOUND_SECONDS", 0.5)
    monkeypatch.setattr(stray_tasks.background, "RECANCEL_SECONDS", 0.1)
    release = asyncio.Event()

    async def unstoppable() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(unstoppable(), name="unstoppable")
    await asyncio.sleep(0)

    with pytest.raises(AssertionError, match="unstoppable: unstoppable"):
        await stray_tasks.stop_stray_tasks()

    release.set()
    task.cancel()
    await asyncio.wait({task})
