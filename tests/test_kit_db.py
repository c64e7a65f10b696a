"""kit.db's engines under cancellation: a transaction cancelled mid-way leaves nothing
behind that would hold the event loop's shutdown (asyncio.run, uvicorn's exit)."""

import asyncio
import random

import pytest
from sqlalchemy import text

from kit.db import create_engine


async def test_transactions_cancelled_mid_way_leave_no_task_behind(commitments_db_url):
    """aiosqlite 0.22.1 with SQLAlchemy's graceful terminate left a task per cancelled
    transaction that one cancel could not end, holding its connection and SQLite's write
    lock (kit.db._terminate_at_once)."""
    engine = create_engine(commitments_db_url)
    chance = random.Random(7)
    here = asyncio.current_task()

    async def writing() -> None:
        while True:
            async with engine.begin() as connection:
                await connection.execute(text("SELECT count(*) FROM commitments"))
                await connection.execute(text("UPDATE deals SET name = name WHERE 1 = 0"))

    for attempt in range(150):
        task = asyncio.create_task(writing())
        await asyncio.sleep(chance.random() * 0.01)
        task.cancel()
        await asyncio.wait({task}, timeout=5)
        left = [t for t in asyncio.all_tasks() if t is not here and not t.done()]
        if left:
            await asyncio.wait(left, timeout=3)  # PostgreSQL's graceful close is bounded
        lingering = [t.get_coro().__qualname__ for t in left if not t.done()]
        if lingering:
            # Not disposed: its close would wait on the same stopped thread, forever.
            pytest.fail(f"cancel {attempt} left tasks that do not end: {lingering}")
    await engine.dispose()
    # The stopped connections' threads tell this loop they are done: let them, before the
    # loop closes.
    await asyncio.sleep(0.2)
